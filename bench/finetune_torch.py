#!/usr/bin/python3
"""PyTorch's side of bench/finetune_bench.sh: LoRA steps on a Llama 3.x-shaped model with a
float32 base (random weights of the given shape: the speed does not depend on the values),
adapters of rank R on the chosen projections, sequence length S, AdamW, as a user of
PEFT/torchtune/TRL would run it on a CPU. Prints one JSON line: tokens/s over the timed steps
and peak RSS. Not a test.

OBJECTIVE (default sft) is the step's loss, each as herd computes it:
  sft      one sequence of S tokens, cross-entropy on every next token (torchtune's LoRA recipe).
  dpo      one preference pair: chosen and rejected, S tokens each, as a batch of two; the
           sigmoid DPO loss (beta 0.1) over each completion's log-prob sum (its last 3/4 of the
           positions) against the reference's sums, computed once before the timed steps with
           the adapters at their start (TRL's precompute_ref_log_probs, as herd dpo does).
  distill  one sequence of S tokens; the teacher's top-32 logits and log-sum-exp per position
           computed once before the timed steps (herd distill's teacher cache); the loss
           torchtune's KD recipe mixes, 0.5 CE + 0.5 forward KL over the 32 listed ids and the
           tail, at temperature 1.

TARGETS "full" trains every weight instead (full fine-tuning: embedding, norms, every
linear layer; no adapters), as torchtune's full recipes pass all of model.parameters().

Usage: finetune_torch.py D_MODEL N_LAYERS N_HEADS N_KV_HEADS D_FF VOCAB SEQ RANK TARGETS STEPS THREADS [OBJECTIVE]
"""
import json
import math
import resource
import sys
import time

import torch

D, L, H, KV, F, V, S, R = (int(a) for a in sys.argv[1:9])
targets, steps, threads = sys.argv[9].split(","), int(sys.argv[10]), int(sys.argv[11])
objective = sys.argv[12] if len(sys.argv) > 12 else "sft"
autocast = len(sys.argv) > 13 and sys.argv[13] == "bf16"  # torch.autocast("cpu", bfloat16) around the forward
if objective not in ("sft", "dpo", "distill"):
    sys.exit(f"finetune_torch.py: unknown objective {objective!r} (sft, dpo or distill)")
B = 2 if objective == "dpo" else 1  # sequences per step
full = targets == ["full"]
torch.set_num_threads(threads)
torch.manual_seed(0)
hd = D // H


class Lin(torch.nn.Module):
    def __init__(self, n, k, lora):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(n, k) * 0.02, requires_grad=full)
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
        self.n1 = torch.nn.Parameter(torch.ones(D), requires_grad=full)
        self.n2 = torch.nn.Parameter(torch.ones(D), requires_grad=full)

    def forward(self, x, cos, sin):
        h = rms(x, self.n1)
        q = self.q(h).view(B, S, H, hd).transpose(1, 2)
        k = self.k(h).view(B, S, KV, hd).transpose(1, 2)
        v = self.v(h).view(B, S, KV, hd).transpose(1, 2)

        def rope(t):
            t1, t2 = t[..., : hd // 2], t[..., hd // 2:]
            return torch.cat([t1 * cos - t2 * sin, t1 * sin + t2 * cos], -1)

        q, k = rope(q), rope(k)
        k = k.repeat_interleave(H // KV, 1)
        v = v.repeat_interleave(H // KV, 1)
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True) \
            if hasattr(torch.nn.functional, "scaled_dot_product_attention") else \
            torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(hd) +
                          torch.full((S, S), float("-inf")).triu(1), -1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, S, H * hd))
        h = rms(x, self.n2)
        return x + self.d(torch.nn.functional.silu(self.g(h)) * self.u(h))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Parameter(torch.randn(V, D) * 0.02, requires_grad=full)
        self.layers = torch.nn.ModuleList(Layer() for _ in range(L))
        self.norm = torch.nn.Parameter(torch.ones(D), requires_grad=full)

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
tokens = torch.randint(0, V, (B, S + 1))
inputs, labels = tokens[:, :-1], tokens[:, 1:]
F_ = torch.nn.functional


def logp_sums(logits):  # each sequence's log-prob sum over its completion (last 3/4)
    lp = -F_.cross_entropy(logits.reshape(B * S, V), labels.reshape(-1), reduction="none").view(B, S)
    return lp[:, S // 4:].sum(-1)


if objective == "dpo":
    with torch.no_grad():
        ref = logp_sums(m(inputs))
elif objective == "distill":
    with torch.no_grad():
        t_logits = m(inputs).reshape(S, V)
        t_top, t_ids = t_logits.topk(32, -1)
        t_lse = torch.logsumexp(t_logits, -1, keepdim=True)
        del t_logits
    p_top = (t_top - t_lse).exp()
    p_tail = (1 - p_top.sum(-1)).clamp_min(0)


def step_loss():
    logits = m(inputs)
    if objective == "sft":
        return F_.cross_entropy(logits.reshape(B * S, V), labels.reshape(-1))
    if objective == "dpo":
        pi = logp_sums(logits)
        return -F_.logsigmoid(0.1 * ((pi[0] - ref[0]) - (pi[1] - ref[1])))
    logits = logits.reshape(S, V)
    lq = torch.log_softmax(logits, -1)
    lq_top = lq.gather(-1, t_ids)
    q_tail = (1 - lq_top.exp().sum(-1)).clamp_min(1e-30)
    kd = -(p_top * lq_top).sum(-1) - p_tail * q_tail.log()
    ce = F_.nll_loss(lq, labels.reshape(-1), reduction="none")
    return (0.5 * ce + 0.5 * kd).mean()


times = []
for i in range(steps + 1):  # the first step warms up and is not timed
    t0 = time.time()
    if autocast:  # PyTorch's mixed precision on CPU: matmuls in bf16 (herd's --bf16 counterpart)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = step_loss()
    else:
        loss = step_loss()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad()
    if i:
        times.append(time.time() - t0)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"tokens_per_s": B * S * len(times) / sum(times), "step_s": sum(times) / len(times),
                  "peak_rss_mib": rss, "trained_params": sum(p.numel() for p in params)}))
