#!/usr/bin/python3
"""PyTorch's side of bench/finetune_bench.sh: LoRA steps on a Llama 3.x-shaped model with a
float32 base (random weights of the given shape: the speed does not depend on the values),
adapters of rank R on the chosen projections, sequence length S, batch 1, AdamW, as a user of
PEFT/torchtune would run it on a CPU. Prints one JSON line: tokens/s over the timed steps and
peak RSS. Not a test.

Usage: finetune_torch.py D_MODEL N_LAYERS N_HEADS N_KV_HEADS D_FF VOCAB SEQ RANK TARGETS STEPS THREADS
"""
import json
import math
import resource
import sys
import time

import torch

D, L, H, KV, F, V, S, R = (int(a) for a in sys.argv[1:9])
targets, steps, threads = sys.argv[9].split(","), int(sys.argv[10]), int(sys.argv[11])
torch.set_num_threads(threads)
torch.manual_seed(0)
hd = D // H


class Lin(torch.nn.Module):
    def __init__(self, n, k, lora):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(n, k) * 0.02, requires_grad=False)
        self.a = torch.nn.Parameter(torch.randn(R, k) / math.sqrt(k)) if lora else None
        self.b = torch.nn.Parameter(torch.zeros(n, R)) if lora else None

    def forward(self, x):
        y = x @ self.w.T
        return y if self.a is None else y + (2.0 * (x @ self.a.T)) @ self.b.T


def rms(x, w):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5) * w


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        t = set(targets)
        self.q, self.k = Lin(H * hd, D, "q" in t), Lin(KV * hd, D, "k" in t)
        self.v, self.o = Lin(KV * hd, D, "v" in t), Lin(D, H * hd, "o" in t)
        self.g, self.u, self.d = Lin(F, D, "gate" in t), Lin(F, D, "up" in t), Lin(D, F, "down" in t)
        self.n1 = torch.nn.Parameter(torch.ones(D), requires_grad=False)
        self.n2 = torch.nn.Parameter(torch.ones(D), requires_grad=False)

    def forward(self, x, cos, sin):
        h = rms(x, self.n1)
        q = self.q(h).view(S, H, hd).transpose(0, 1)
        k = self.k(h).view(S, KV, hd).transpose(0, 1)
        v = self.v(h).view(S, KV, hd).transpose(0, 1)

        def rope(t):
            t1, t2 = t[..., : hd // 2], t[..., hd // 2:]
            return torch.cat([t1 * cos - t2 * sin, t1 * sin + t2 * cos], -1)

        q, k = rope(q), rope(k)
        k = k.repeat_interleave(H // KV, 0)
        v = v.repeat_interleave(H // KV, 0)
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True) \
            if hasattr(torch.nn.functional, "scaled_dot_product_attention") else \
            torch.softmax((q @ k.transpose(1, 2)) / math.sqrt(hd) +
                          torch.full((S, S), float("-inf")).triu(1), -1) @ v
        x = x + self.o(a.transpose(0, 1).reshape(S, H * hd))
        h = rms(x, self.n2)
        return x + self.d(torch.nn.functional.silu(self.g(h)) * self.u(h))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Parameter(torch.randn(V, D) * 0.02, requires_grad=False)
        self.layers = torch.nn.ModuleList(Layer() for _ in range(L))
        self.norm = torch.nn.Parameter(torch.ones(D), requires_grad=False)

    def forward(self, tokens):
        pos = torch.arange(S, dtype=torch.float32)[:, None]
        inv = 500000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
        cos, sin = torch.cos(pos * inv), torch.sin(pos * inv)
        x = self.emb[tokens]
        for layer in self.layers:
            x = torch.utils.checkpoint.checkpoint(layer, x, cos, sin, use_reentrant=False) \
                if hasattr(torch.utils, "checkpoint") else layer(x, cos, sin)
        return rms(x, self.norm) @ self.emb.T   # tied head (3.2-1B)


import torch.utils.checkpoint  # noqa: E402

m = Model()
params = [p for p in m.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
tokens = torch.randint(0, V, (S + 1,))
times = []
for i in range(steps + 1):  # the first step warms up and is not timed
    t0 = time.time()
    logits = m(tokens[:-1])
    loss = torch.nn.functional.cross_entropy(logits, tokens[1:])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad()
    if i:
        times.append(time.time() - t0)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"tokens_per_s": S * len(times) / sum(times), "step_s": sum(times) / len(times),
                  "peak_rss_mib": rss, "trained_params": sum(p.numel() for p in params)}))
