#!/usr/bin/python3
"""DeBERTa-v2/v3 sequence classifier (Prompt Guard) in PyTorch float64: the reference for herd's
encoder (src/model/deberta/).

This file is for testing. It shares no code with herd: it follows the published DeBERTa-v2
architecture as transformers' DebertaV2ForSequenceClassification computes it (embeddings ->
LayerNorm; per layer disentangled self-attention with content-to-position and
position-to-content terms over log-bucketed relative positions, dense + LayerNorm with the
residual, GELU feed-forward + LayerNorm with the residual; the pooler on token 0; the
classifier), in float64 with torch's own ops (Debian's python3-torch), reading weights with
safetensors_np.py.

Usage:
  /usr/bin/python3 tests/reference/deberta_ref.py MODEL_DIR HERD.jsonl [--variant V]
      [--expect-fail MARGIN] [--herd-bf16]

  HERD.jsonl  `herd guard --prompt-guard MODEL_DIR --logits ...`: {"ids": [...], "logits": [...]}
              per window. Each window is recomputed here and herd's logits compared.
  --variant   a deliberately wrong architecture for the negative controls: no-p2c (drop the
              position-to-content term), linear-positions (no log buckets), no-rel-norm (skip
              the relative embeddings' LayerNorm). Default: the real one.
  --herd-bf16 herd ran the F32 weights with --prompt-guard-bf16 (the bound below).

Tolerance. herd computes in float32 with float32 accumulation (src/kernels/ops.h), the
reference in float64, from the same weights (stored F32 here, so nothing is rounded going in).
Summing K products p_i in float32 rounds each partial sum s_i by a relative u (2^-24) with a
random sign, so the error has RMS u*sqrt(sum_i s_i^2) ~ u*sqrt(K/2)*||p||_2 when the products
are incoherent (the partial sums grow like sqrt(i)); relative to the result that is
u*sqrt(K)*kappa at most, kappa = ||p||_2 / |sum p| taken over the whole output
(sqrt(sum ||p_n||^2) / ||y||, measured here for every matmul; about 1 when incoherent, larger
where the products cancel). Attention multiplies a relative error in q and k by A_l = 1 + 2 s_l
(s_l: the RMS of the layer's scaled scores, bias included): a score error ds changes the
probabilities by a relative ds. LayerNorm rescales value and error alike and the residual adds
the layers' errors, so the hidden state carries E = sum_l A_l u sqrt(K_l) kappa_l
(K_l = max(hidden, intermediate, T), kappa_l the layer's largest), plus the pooler's and the
classifier's own u sqrt(K) kappa. A logit z_k = sum_i W_ki p_i whose inputs err by a relative E,
independently, errs by about E * ||W_k * p||_2. The test allows 4x that (an RMS estimate, not a
hard bound); the negative controls must exceed it by MARGIN.

BF16 and F16 weights. Where an ISA has a bf16 path herd multiplies them with each linear layer's
input rounded once to bf16 (src/kernels/matmul_bf16.h; F16 weights are rounded to bf16 at load,
src/model/repack_matrix.h), so each product carries one more relative error, up to U_BF16 =
2^-8, independent from product to product: that adds U_BF16 * ||p||_2, i.e. U_BF16 * kappa
relative to the result, to the linear layer's u sqrt(K) kappa. Where the ISA has a bf16 tile
product (AMX) the attention products (Q K^T, c2p, p2c, P V) take both operands rounded to bf16,
two such errors per product; so do F16 weights (the stored value and the input both rounded) and
F32 weights that herd ran with --prompt-guard-bf16 (--herd-bf16 here). The reference reads the
same stored weights (exact in float64) and adds 2 U_BF16 to every layer's term for all of these;
where herd runs a product in f32 the bound is then loose, never wrong.
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_np import HFDir  # noqa: E402

torch.set_default_dtype(torch.float64)
U = 2.0 ** -24
U_BF16 = 2.0 ** -8


def kappa(a, b):
    """sqrt(sum over outputs of ||products||_2^2) / ||a b^T|| (a: [M, K], b: [N, K]); about 1
    for incoherent products, larger where they cancel."""
    num = torch.sqrt(((a * a) @ (b * b).T).sum())
    den = torch.linalg.norm(a @ b.T)
    return float(num / den) if den > 0 else 1.0


def log_bucket(rel, bucket_size, max_position):
    sign = torch.sign(rel)
    mid = bucket_size // 2
    abs_pos = torch.where((rel < mid) & (rel > -mid), torch.full_like(rel, mid - 1), rel.abs())
    log_pos = torch.ceil(torch.log(abs_pos.double() / mid) / math.log((max_position - 1) / mid) * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, rel.double(), log_pos * sign).long()


class Deberta:
    def __init__(self, path, variant, herd_bf16=False):
        self.d = HFDir(path)
        c = self.d.config
        self.c, self.variant = c, variant
        self.H = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.hd = self.H // self.heads
        self.eps = c.get("layer_norm_eps", 1e-7)
        self.max_pos = c.get("max_position_embeddings", 512)
        mrp = c.get("max_relative_positions", -1)
        self.max_rel = mrp if mrp >= 1 else self.max_pos
        self.buckets = c.get("position_buckets", -1)
        pat = c.get("pos_att_type", [])
        if isinstance(pat, str):
            pat = [p for p in pat.split("|") if p]
        self.c2p, self.p2c = "c2p" in pat, "p2c" in pat and variant != "no-p2c"
        self.scale_factor = 1 + ("c2p" in pat) + ("p2c" in pat)  # the scale keeps the model's own
        self.span = self.buckets if self.buckets > 0 else self.max_rel
        self.share = c.get("share_att_key", False)
        stored = self.d.dtype("deberta.encoder.layer.0.attention.self.query_proj.weight")
        self.u_in = 2 * U_BF16 if stored in ("BF16", "F16") or herd_bf16 else 0.0  # see the docstring

    def w(self, name):
        return torch.from_numpy(self.d.get(name))

    def lin(self, x, name, bias=True):
        y = x @ self.w(name + ".weight").T
        return y + self.w(name + ".bias") if bias else y

    def ln(self, x, name):
        mean = x.mean(-1, keepdim=True)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.w(name + ".weight") + self.w(name + ".bias")

    @staticmethod
    def gelu(x):
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

    def forward(self, ids):
        c, T = self.c, len(ids)
        x = torch.from_numpy(self.d.get("deberta.embeddings.word_embeddings.weight", rows=list(ids)))
        if c.get("position_biased_input", True):
            x = x + self.w("deberta.embeddings.position_embeddings.weight")[:T]
        if c.get("type_vocab_size", 0) > 0:
            x = x + self.w("deberta.embeddings.token_type_embeddings.weight")[0]
        if c.get("embedding_size", self.H) != self.H:
            x = self.lin(x, "deberta.embeddings.embed_proj", bias=False)
        x = self.ln(x, "deberta.embeddings.LayerNorm")
        rel_emb = self.w("deberta.encoder.rel_embeddings.weight")[: 2 * self.span]
        if "layer_norm" in c.get("norm_rel_ebd", "none") and self.variant != "no-rel-norm":
            rel_emb = self.ln(rel_emb, "deberta.encoder.LayerNorm")
        q_ids = torch.arange(T)
        rel = q_ids[:, None] - q_ids[None, :]
        if self.buckets > 0 and self.variant != "linear-positions":
            rel = log_bucket(rel, self.buckets, self.max_rel)
        c2p_idx = torch.clamp(rel + self.span, 0, 2 * self.span - 1)       # [T, T]
        p2c_idx = torch.clamp(-rel + self.span, 0, 2 * self.span - 1)      # indexed [key, query]
        scale = math.sqrt(self.hd * self.scale_factor)
        stats = []
        for l in range(c["num_hidden_layers"]):
            p = f"deberta.encoder.layer.{l}."
            kappas = []

            def tracked(a, name, bias=True):
                kappas.append(kappa(a, self.w(name + ".weight")))
                return self.lin(a, name, bias)

            q = tracked(x, p + "attention.self.query_proj")
            k = tracked(x, p + "attention.self.key_proj")
            v = tracked(x, p + "attention.self.value_proj")
            pk = tracked(rel_emb, p + ("attention.self.key_proj" if self.share else "attention.self.pos_key_proj"))
            pq = tracked(rel_emb, p + ("attention.self.query_proj" if self.share else "attention.self.pos_query_proj"))
            ctx = torch.zeros(T, self.H)
            score_sq = 0.0
            for h in range(self.heads):
                sl = slice(h * self.hd, (h + 1) * self.hd)
                qh, kh, vh = q[:, sl], k[:, sl], v[:, sl]
                s = qh @ kh.T
                kappas.append(kappa(qh, kh))
                if self.c2p:
                    c2p = qh @ pk[:, sl].T                                 # [T, 2 span]
                    s = s + torch.gather(c2p, 1, c2p_idx)
                if self.p2c:
                    p2c = kh @ pq[:, sl].T                                 # [T(key), 2 span]
                    s = s + torch.gather(p2c, 1, p2c_idx).T                # key j's term, transposed to [query, key]
                s = s / scale
                score_sq += float((s ** 2).mean())
                prob = torch.softmax(s, -1)
                kappas.append(kappa(prob, vh.T))
                ctx[:, sl] = prob @ vh
            a = tracked(ctx, p + "attention.output.dense")
            h1 = self.ln(a + x, p + "attention.output.LayerNorm")
            f = self.gelu(tracked(h1, p + "intermediate.dense"))
            o = tracked(f, p + "output.dense")
            x = self.ln(o + h1, p + "output.LayerNorm")
            K = max(self.H, c["intermediate_size"], T)
            stats.append((1 + 2 * math.sqrt(score_sq / self.heads), K, max(kappas)))
        first = x[:1]
        pooled_pre = self.lin(first, "pooler.dense")
        r_pool = kappa(first, self.w("pooler.dense.weight"))
        pooled = self.gelu(pooled_pre)
        Wc = self.w("classifier.weight")
        logits = (pooled @ Wc.T + self.w("classifier.bias"))[0]
        E = sum(A * (U * math.sqrt(K) + self.u_in) * r for A, K, r in stats)
        E += (U * math.sqrt(self.H) + self.u_in) * (r_pool + kappa(pooled, Wc))
        mag = torch.sqrt((pooled * pooled) @ (Wc * Wc).T)[0]                 # ||W_k * p||_2
        return logits, E * mag


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("herd_jsonl")
    ap.add_argument("--variant", default="real", choices=["real", "no-p2c", "linear-positions", "no-rel-norm"])
    ap.add_argument("--expect-fail", type=float, default=None, metavar="MARGIN")
    ap.add_argument("--herd-bf16", action="store_true", help="herd ran with --prompt-guard-bf16")
    a = ap.parse_args(argv)
    m = Deberta(a.model, a.variant, a.herd_bf16)
    worst = 0.0
    n = 0
    for line in open(a.herd_jsonl):
        if not line.strip():
            continue
        rec = json.loads(line)
        ref, bound = m.forward(rec["ids"])
        got = torch.tensor(rec["logits"])
        ratio = float(((got - ref).abs() / (4 * bound)).max())
        worst = max(worst, ratio)
        n += 1
        print(f"window {n}: {len(rec['ids'])} tokens, max |herd - ref| = {float((got - ref).abs().max()):.3e}, "
              f"{ratio:.3f} of the tolerance")
    if n == 0:
        print("no windows")
        return 1
    if a.expect_fail is not None:
        ok = worst > a.expect_fail
        print(f"negative control ({a.variant}): worst {worst:.1f}x the tolerance, "
              f"{'fails as it must' if ok else 'DID NOT FAIL by ' + str(a.expect_fail) + 'x'}")
        return 0 if ok else 1
    print(f"{n} windows: worst {worst:.3f} of the tolerance: {'PASS' if worst <= 1 else 'FAIL'}")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
