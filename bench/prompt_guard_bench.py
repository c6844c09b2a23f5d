#!/usr/bin/python3
"""PyTorch float32 peer for `herd guard --prompt-guard DIR --bench`: the same DeBERTa-v2 forward
(tests/reference/deberta_ref.py's architecture, vectorized over heads, no statistics) on one
512-token window and on a batch of 8, with torch's own CPU kernels and thread count. Prints ms per
window and windows/s in herd's format. Not a test.

  /usr/bin/python3 bench/prompt_guard_bench.py MODEL_DIR [--threads N] [--seconds S]
"""
import argparse
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from safetensors_np import HFDir  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seconds", type=float, default=3.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    d = HFDir(a.model)
    c = d.config
    W = lambda n: torch.from_numpy(d.get(n)).float()  # noqa: E731
    H, heads, L = c["hidden_size"], c["num_attention_heads"], c["num_hidden_layers"]
    hd, eps, span = H // heads, c.get("layer_norm_eps", 1e-7), c["position_buckets"]
    layers = []
    for l in range(L):
        p = f"deberta.encoder.layer.{l}."
        layers.append({k: W(p + v) for k, v in {
            "qw": "attention.self.query_proj.weight", "qb": "attention.self.query_proj.bias",
            "kw": "attention.self.key_proj.weight", "kb": "attention.self.key_proj.bias",
            "vw": "attention.self.value_proj.weight", "vb": "attention.self.value_proj.bias",
            "ow": "attention.output.dense.weight", "ob": "attention.output.dense.bias",
            "l1w": "attention.output.LayerNorm.weight", "l1b": "attention.output.LayerNorm.bias",
            "iw": "intermediate.dense.weight", "ib": "intermediate.dense.bias",
            "fw": "output.dense.weight", "fb": "output.dense.bias",
            "l2w": "output.LayerNorm.weight", "l2b": "output.LayerNorm.bias"}.items()})
    emb = torch.from_numpy(d.get("deberta.embeddings.word_embeddings.weight", rows=list(range(1000)))).float()
    eln = (W("deberta.embeddings.LayerNorm.weight"), W("deberta.embeddings.LayerNorm.bias"))
    rel = torch.nn.functional.layer_norm(W("deberta.encoder.rel_embeddings.weight"), (H,),
                                         W("deberta.encoder.LayerNorm.weight"), W("deberta.encoder.LayerNorm.bias"), eps)
    T = c.get("max_position_embeddings", 512)
    ids = torch.arange(T) % 1000
    q = torch.arange(T)
    r = q[:, None] - q[None, :]
    mid, mp = span // 2, c.get("max_relative_positions", -1)
    mp = mp if mp >= 1 else T
    absr = torch.where((r < mid) & (r > -mid), torch.full_like(r, mid - 1), r.abs())
    logp = torch.ceil(torch.log(absr / mid) / math.log((mp - 1) / mid) * (mid - 1)) + mid
    bucket = torch.where(absr <= mid, r.float(), logp * torch.sign(r)).long()
    c2p_idx = torch.clamp(bucket + span, 0, 2 * span - 1)
    p2c_idx = torch.clamp(-bucket + span, 0, 2 * span - 1)
    scale = math.sqrt(hd * 3)

    def forward(B):
        x = torch.nn.functional.layer_norm(emb[ids].expand(B, T, H), (H,), *eln, eps)
        for w in layers:
            def split(t):
                return t.view(t.shape[0], -1, heads, hd).transpose(1, 2)
            qh = split(x @ w["qw"].T + w["qb"])
            kh = split(x @ w["kw"].T + w["kb"])
            vh = split(x @ w["vw"].T + w["vb"])
            pk = (rel @ w["kw"].T + w["kb"]).view(-1, heads, hd).transpose(0, 1)
            pq = (rel @ w["qw"].T + w["qb"]).view(-1, heads, hd).transpose(0, 1)
            s = qh @ kh.transpose(-1, -2)
            s = s + torch.gather(qh @ pk.transpose(-1, -2), -1, c2p_idx.expand(B, heads, T, T))
            s = s + torch.gather(kh @ pq.transpose(-1, -2), -1, p2c_idx.expand(B, heads, T, T)).transpose(-1, -2)
            ctx = (torch.softmax(s / scale, -1) @ vh).transpose(1, 2).reshape(B, T, H)
            h1 = torch.nn.functional.layer_norm(ctx @ w["ow"].T + w["ob"] + x, (H,), w["l1w"], w["l1b"], eps)
            f = torch.nn.functional.gelu(h1 @ w["iw"].T + w["ib"])
            x = torch.nn.functional.layer_norm(f @ w["fw"].T + w["fb"] + h1, (H,), w["l2w"], w["l2b"], eps)
        return x[:, 0]

    with torch.no_grad():
        best1 = best8 = 1e30
        total, runs = 0.0, 0
        while total < a.seconds or runs < 2:
            t0 = time.perf_counter(); forward(1); t1 = time.perf_counter(); forward(8); t2 = time.perf_counter()
            best1, best8 = min(best1, t1 - t0), min(best8, t2 - t1)
            total += t2 - t0
            runs += 1
    print(f"torch {torch.__version__} float32: {L} layers, hidden {H}, window {T} tokens, {a.threads} threads, "
          f"best of {runs} runs")
    print(f"  one window:   {best1 * 1e3:.1f} ms")
    print(f"  batch of 8: {8 / best8:.2f} windows/s")


if __name__ == "__main__":
    main()
