#!/usr/bin/python3
"""Llama 3.1 forward pass in float64 numpy: herd's independent reference.

This file is for testing. It does not depend on herd's C++ code. It follows Meta's
models/llama3/model.py semantics as written down in /work/shared/spec/llama31.md sections 2-3, and
uses only numpy and the standard library (run it with /usr/bin/python3, which has Debian's numpy).

Usage:
  /usr/bin/python3 tests/reference/llama_ref.py MODEL --tokens 128000,9906,1917 \\
      [--pos-offset N] --logits-out ref.npy [--logits-last N] [--taps-out DIR] [--kv-type f32|f16|q8_0]

  MODEL          a .gguf file (F32/F16/BF16/Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q4_K/Q5_K/Q6_K tensors) or a
                 Hugging Face directory (config.json + model.safetensors or sharded with
                 model.safetensors.index.json; F32/F16/BF16).
  --pos-offset N (alias --positions N) token i gets RoPE position N+i, and the tokens attend only
                 to each other (causally). There is no prefix: this is NOT the same as having seen
                 N earlier tokens. It matches herd's `--pos-offset` debug option, which starts the
                 KV cache at position index N with an empty prefix, and exists to exercise
                 positions past 8192 cheaply. Note: RoPE is relative, so with no prefix the
                 exact logits do not depend on N (q.k only sees position differences < T);
                 what N exercises is position handling and the float32 precision of large
                 angles p*f in herd (compare.py budgets u*(N+T) for it).
  --logits-out   float32 .npy of shape [T, V].
  --logits-last N  only the last N positions' logits, [N, V] (like `herd run --logits-last`):
                 the final norm and LM head run on those rows only (the result_norm and logits
                 taps then have N rows too). With it, and attention computed in query chunks
                 (never the whole [H, T, T] score matrix at once), memory stays bounded for long
                 prompts: T ~ 8300 and one small layer need a few hundred MB.
  --kv-type T    f16: the keys (after RoPE) and values are rounded to IEEE binary16, round to
                 nearest even, before attention uses them, as herd's f16 KV cache stores them
                 (`herd run -ctk f16 -ctv f16`, its default); q8_0: rounded to float32, then
                 quantized to Q8_0 blocks of 32 and dequantized, as herd's q8_0 cache stores
                 them (`-ctk q8_0`; q8_0_roundtrip below); f32 (default): kept in float64.
                 Emulating the cache's rounding keeps compare.py's error small next to its
                 budget for the cache type (only rounding flips remain).
  --taps-out DIR float32 .npy files, shape [T, ...], one per intermediate (names below); these
                 are the names `herd run --taps-out DIR` writes, for tests/reference/compare.py.
                 DIR also gets ref_meta.json (dimensions, tokens), which compare.py reads.

Taps: tok_embd [T,D]; for each layer i: blk.{i}.attn_norm [T,D] (normed input to attention),
blk.{i}.attn_out [T,D] (output of Wo, before the residual add), blk.{i}.ffn_inp [T,D] (residual
after attention), blk.{i}.ffn_out [T,D] (output of w2), blk.{i}.out [T,D] (residual after the FFN);
result_norm [T,D]; logits [T,V]. The attention scores [H,T,T] are not saved: ref_meta.json keeps
their RMS over unmasked entries per layer ("score_rms", for compare.py's tolerance), as well as
each matmul's product-to-result norm ratios ("rho": 1-norm, "kappa": 2-norm; Model.linear).

Weights are dequantized/converted exactly to float64, so the reference sees the same weights as
herd does; only herd's float32 arithmetic (and, optionally, its activation quantization)
separates the two.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_np import GGUFFile          # noqa: E402
from safetensors_np import HFDir      # noqa: E402


# ----------------------------------------------------------------------------------------------
# The forward pass (Meta models/llama3/model.py semantics, float64). Weight names are GGUF's.
# ----------------------------------------------------------------------------------------------

def rmsnorm(x, w, eps):                       # x [T, D], w [D]
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, cos, sin):                        # x [T, n, hd]; cos, sin [T, hd/2]
    """Interleaved pairs (x[2i], x[2i+1]) rotated by angle pos*inv_freq[i] (Meta/GGUF order)."""
    xr, xi = x[..., 0::2], x[..., 1::2]       # [T, n, hd/2] real and imaginary parts
    c, s = cos[:, None, :], sin[:, None, :]   # [T, 1, hd/2]
    out = np.empty_like(x)                    # [T, n, hd]
    out[..., 0::2] = xr * c - xi * s
    out[..., 1::2] = xr * s + xi * c
    return out


def softmax(s):                               # s [..., n]
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


ATTN_CHUNK_ELEMS = 1 << 22     # attention scores [H, queries, keys] computed in chunks of <= this


def attention(q, k, v, tap=lambda x: None):
    """Causal softmax(q k^T / sqrt(hd)) v. q [T, H, hd]; k, v [T, H, hd] (kv heads already
    repeated). Returns [T, H, hd]. Exactly softmax over the whole [H, T, T] score matrix, but
    computed for a chunk of queries at a time (query i only sees keys 0..i, so a chunk ending at
    query i1 needs keys 0..i1-1), so memory stays bounded for long prompts (T ~ 8000+).
    tap(s) receives each chunk's scores [H, queries, keys], masked entries -inf."""
    T, H, hd = q.shape
    qh, kh, vh = q.transpose(1, 0, 2), k.transpose(1, 2, 0), v.transpose(1, 0, 2)  # [H,T,hd] [H,hd,T] [H,T,hd]
    out = np.empty_like(q)                                    # [T, H, hd]
    rows = max(1, ATTN_CHUNK_ELEMS // (H * T))                # queries per chunk
    for i0 in range(0, T, rows):
        i1 = min(i0 + rows, T)                                # queries i0..i1-1, keys 0..i1-1
        mask = np.where(np.arange(i1)[None, :] > np.arange(i0, i1)[:, None], -np.inf, 0.0)  # [i1-i0, i1]
        s = qh[:, i0:i1] @ kh[:, :, :i1] / math.sqrt(hd) + mask        # [H, i1-i0, i1]
        tap(s)
        p = softmax(s)                                        # [H, i1-i0, i1] over keys j
        out[i0:i1] = (p @ vh[:, :i1]).transpose(1, 0, 2)      # [i1-i0, H, hd]
    return out


def q8_0_roundtrip(x):
    """x [..., n] (n % 32 == 0) -> what a Q8_0 block row of x holds, as float64: ggml's reference
    quantizer (quantize_row_q8_0_ref, herd's tensor/quant_legacy.cpp) on x rounded to float32:
    per block of 32, d = max|x| / 127 (float32), q = round(x * (1/d)) (float32 product, rounded
    half away from zero), d stored as float16; the value is fl16(d) * q (exact)."""
    b = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    d = (np.max(np.abs(b), axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    p = (b * inv).astype(np.float64)                          # the float32 product, exactly
    q = np.sign(p) * np.floor(np.abs(p) + 0.5)                # half away from zero (exact in f64)
    return (d.astype(np.float16).astype(np.float64) * q).reshape(np.shape(x))


def forward(m, tokens, pos0=0, tap=lambda name, x: None, last=None, kv_type="f32"):
    """m: Model; tokens: list of T ids at positions pos0..pos0+T-1. Returns logits [T, V], or
    only those of the last `last` positions [last, V] (the final norm and LM head then run on
    those rows only; the result_norm and logits taps get the same rows)."""
    T, H, KV, hd = len(tokens), m.H, m.KV, m.hd
    pos = pos0 + np.arange(T, dtype=np.float64)               # [T]
    ang = pos[:, None] * m.inv_freq[None, :]                  # [T, hd/2]
    cos, sin = np.cos(ang), np.sin(ang)                       # [T, hd/2]

    x = m.get("token_embd.weight", rows=np.asarray(tokens))   # [T, D] plain row lookup
    tap("tok_embd", x)
    for l in range(m.L):
        b = f"blk.{l}."
        h = rmsnorm(x, m.get(b + "attn_norm.weight"), m.eps)  # [T, D]
        tap(b + "attn_norm", h)
        q = m.linear(h, b + "attn_q.weight").reshape(T, H, hd)   # [T, H, hd]
        k = m.linear(h, b + "attn_k.weight").reshape(T, KV, hd)  # [T, KV, hd]
        v = m.linear(h, b + "attn_v.weight").reshape(T, KV, hd)  # [T, KV, hd]
        q, k = rope(q, cos, sin), rope(k, cos, sin)           # v is not rotated
        if kv_type == "f16":                                  # what an f16 KV cache holds
            k = k.astype(np.float16).astype(np.float64)
            v = v.astype(np.float16).astype(np.float64)
        elif kv_type == "q8_0":                               # what a q8_0 KV cache holds
            k, v = q8_0_roundtrip(k), q8_0_roundtrip(v)
        k = np.repeat(k, H // KV, axis=1)                     # [T, H, hd]: head h uses kv h//rep
        v = np.repeat(v, H // KV, axis=1)                     # [T, H, hd]
        # scores [H, T, T] (query i, key j; j > i masked), tapped in query chunks: only their
        # RMS is kept, for compare.py
        o = attention(q, k, v, lambda s: tap(b + "kq", s)).reshape(T, H * hd)   # [T, H*hd]
        a = m.linear(o, b + "attn_output.weight")             # [T, D]
        tap(b + "attn_out", a)
        x = x + a                                             # [T, D]
        tap(b + "ffn_inp", x)
        h = rmsnorm(x, m.get(b + "ffn_norm.weight"), m.eps)   # [T, D]
        g = m.linear(h, b + "ffn_gate.weight")                # [T, F]  w1
        u = m.linear(h, b + "ffn_up.weight")                  # [T, F]  w3
        f = m.linear(g / (1.0 + np.exp(-g)) * u, b + "ffn_down.weight")  # [T, D]  w2(silu(w1)*w3)
        tap(b + "ffn_out", f)
        x = x + f                                             # [T, D]
        tap(b + "out", x)
    if last is not None:
        x = x[T - min(last, T):]                              # [last, D]
    x = rmsnorm(x, m.get("output_norm.weight"), m.eps)        # [T or last, D]
    tap("result_norm", x)
    logits = m.linear(x, m.output_name)                       # [T or last, V]
    tap("logits", logits)
    return logits


# ----------------------------------------------------------------------------------------------
# RoPE frequencies
# ----------------------------------------------------------------------------------------------

def llama3_rope_divisors(theta, n_rot, factor, low_freq_factor, high_freq_factor, old_ctx):
    """Per-pair divisors d_i with f'_i = f_i / d_i (spec 3.2; the values GGUF rope_freqs stores)."""
    f = theta ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)   # [n_rot/2]
    wl = 2 * math.pi / f                                               # wavelengths in tokens
    s = (old_ctx / wl - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blend = 1.0 / ((1 - s) / factor + s)                               # 2048 <= wl <= 8192
    return np.where(wl < old_ctx / high_freq_factor, 1.0,
                    np.where(wl > old_ctx / low_freq_factor, factor, blend))


# ----------------------------------------------------------------------------------------------
# Model loading: weights by GGUF name, as float64 in PyTorch order ([out, in]).
# ----------------------------------------------------------------------------------------------

HF_NAMES = {"token_embd.weight": "model.embed_tokens.weight",
            "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}
HF_LAYER = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj",
            "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
            "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def hf_name(name):
    if name in HF_NAMES:
        return HF_NAMES[name]
    _, l, part, w = name.split(".")                            # blk.N.part.weight
    return f"model.layers.{l}.{HF_LAYER[part]}.{w}"


def unpermute_hf(w, n_heads):
    """HF q/k rows -> Meta order: HF row c*(hd/2)+j of each head holds Meta row 2j+c."""
    rows, cols = w.shape                                       # [n_heads*hd, D]
    hd = rows // n_heads
    return w.reshape(n_heads, 2, hd // 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def permute_meta_to_hf(w, n_heads):
    """Inverse of unpermute_hf (what HF's conversion script does); used by the test helpers."""
    rows, cols = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, hd // 2, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


class Model:
    LINEAR_CHUNK_ROWS = 16384      # output/embedding matrices are dequantized in row chunks
    rho = None                     # set to {} to record sum|a_i b_i| / |sum a_i b_i| per matmul
    kappa = None                   # set to {} to record sqrt(sum (a_i b_i)^2) / |sum a_i b_i| too

    def __init__(self, path):
        if os.path.isdir(path):
            self._init_hf(HFDir(path))
        else:
            self._init_gguf(GGUFFile(path))
        self.output_name = "output.weight" if self.has("output.weight") else "token_embd.weight"
        assert self.H % self.KV == 0 and self.inv_freq.shape == (self.hd // 2,)

    def _init_gguf(self, g):
        md, a = g.metadata, g.metadata["general.architecture"]
        self.src, self.kind = g, "gguf"
        self.D, self.L = md[f"{a}.embedding_length"], md[f"{a}.block_count"]
        self.F, self.H = md[f"{a}.feed_forward_length"], md[f"{a}.attention.head_count"]
        self.KV = md.get(f"{a}.attention.head_count_kv", self.H)
        self.hd = md.get(f"{a}.attention.key_length", self.D // self.H)
        self.eps = md[f"{a}.attention.layer_norm_rms_epsilon"]
        self.V = g.shape("token_embd.weight")[0]
        theta = md.get(f"{a}.rope.freq_base", 10000.0)
        n_rot = md.get(f"{a}.rope.dimension_count", self.hd)
        assert n_rot == self.hd, "partial rotary embeddings are not supported (not Llama)"
        div = g.get("rope_freqs.weight") if "rope_freqs.weight" in g.tensors else 1.0
        self.inv_freq = theta ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot) / div

    def _init_hf(self, d):
        c = d.config
        self.src, self.kind = d, "hf"
        self.D, self.L, self.F = c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"]
        self.H = c["num_attention_heads"]
        self.KV = c.get("num_key_value_heads") or self.H
        self.hd = c.get("head_dim") or self.D // self.H
        self.eps = c["rms_norm_eps"]
        self.V = d.shape("model.embed_tokens.weight")[0]
        theta = c.get("rope_theta", 10000.0)
        rs = c.get("rope_scaling")
        div = 1.0
        if rs:
            rtype = rs.get("rope_type", rs.get("type"))
            if rtype != "llama3":
                raise ValueError(f"rope_scaling type {rtype!r} not supported by the reference")
            div = llama3_rope_divisors(theta, self.hd, rs["factor"], rs["low_freq_factor"],
                                       rs["high_freq_factor"],
                                       rs["original_max_position_embeddings"])
            # GGUF stores these divisors as float32 (rope_freqs.weight); round the same way so that
            # the reference gives identical logits for the same model from HF and from GGUF. The
            # effect (relative 6e-8 in a few frequencies) is far below any comparison tolerance.
            div = div.astype(np.float32).astype(np.float64)
        self.inv_freq = theta ** (-np.arange(0, self.hd, 2, dtype=np.float64) / self.hd) / div

    def has(self, name):
        return name in self.src.tensors if self.kind == "gguf" else self.src.has(hf_name(name))

    def get(self, name, rows=None):
        """float64 weight in PyTorch order, q/k in Meta (interleaved-pair) row order."""
        if self.kind == "gguf":
            return self.src.get(name, rows)
        w = self.src.get(hf_name(name), None if name.endswith(("attn_q.weight", "attn_k.weight"))
                         else rows)
        if name.endswith("attn_q.weight"):
            w = unpermute_hf(w, self.H)
        elif name.endswith("attn_k.weight"):
            w = unpermute_hf(w, self.KV)
        else:
            return w
        return w if rows is None else w[rows]

    def linear(self, x, name):                 # x [T, K] -> x @ W^T [T, N] with W [N, K]
        """Big matrices (output / tied embedding) are dequantized in row chunks. If self.rho is a
        dict, also records rho[name] = ||(|x| @ |W|^T)|| / ||x @ W^T|| (sum|a_i b_i| relative to
        the result), which compare.py uses to size its rounding-error tolerances; if self.kappa is
        a dict, kappa[name] = sqrt(sum (x^2 @ (W^2)^T)) / ||x @ W^T|| (the products' 2-norm relative
        to the result: the gain of independent relative errors in the operands, compare.py's bf16
        term). Norms are over all T x N outputs."""
        n = self.V if name in ("output.weight", "token_embd.weight") else None
        chunks = [None] if n is None else \
            [slice(r, min(r + self.LINEAR_CHUNK_ROWS, n)) for r in range(0, n, self.LINEAR_CHUNK_ROWS)]
        y, ya, sq = [], [], 0.0
        for rows in chunks:
            w = self.get(name, rows)                                  # [N or chunk, K]
            y.append(x @ w.T)                                         # [T, N or chunk]
            if self.rho is not None:
                ya.append(np.abs(x) @ np.abs(w).T)                    # [T, N or chunk]
            if self.kappa is not None:
                sq += float(np.sum((x * x) @ (w * w).T))              # sum of squared products
        y = np.concatenate(y, axis=1)                                 # [T, N]
        if self.kappa is not None:
            self.kappa[name] = math.sqrt(sq) / max(float(np.linalg.norm(y)), 1e-300)
        if self.rho is not None:
            self.rho[name] = float(np.linalg.norm(np.concatenate(ya, axis=1)) /
                                   max(np.linalg.norm(y), 1e-300))
        return y


def quantize_activations_fp8(x, ub):
    """Meta's dynamic FP8 activations (llama31.md 7.1), per row as herd's
    quantize_activation_row_fp8 computes them in float32 (tests' own arithmetic, written from the
    spec): amax = clamp(max|x|, 1e-12, ub), inv = 448 / amax, codes = e4m3(clamp(x * inv, +-448))
    rounded to nearest even, value = codes * (1 / inv). x [T, K] float64 -> float64."""
    from fp8_check import e4m3_table, to_e4m3
    f32 = np.float32
    x32 = x.astype(f32)
    amax = np.clip(np.abs(x32).max(axis=1, keepdims=True), f32(1e-12), f32(ub)).astype(f32)
    inv = (f32(448.0) / amax).astype(f32)
    codes = to_e4m3(np.clip((x32 * inv).astype(f32), f32(-448.0), f32(448.0)))
    vals = e4m3_table()[codes & 0x7F] * np.where(codes & 0x80, -1.0, 1.0)
    return vals * (f32(1.0) / inv).astype(f32).astype(np.float64)


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("model", help=".gguf file or Hugging Face directory")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--pos-offset", "--positions", dest="pos_offset", type=int, default=0,
                    help="token i gets position N+i; attention only among the given tokens "
                         "(no prefix), like herd's --pos-offset debug option")
    ap.add_argument("--logits-out", required=True, help="float32 .npy [T, V]")
    ap.add_argument("--logits-last", type=int, default=None, metavar="N",
                    help="only the last N positions' logits, [N, V] (default: all)")
    ap.add_argument("--taps-out", help="directory for float32 .npy taps + ref_meta.json")
    ap.add_argument("--override-eps", type=float, default=None,
                    help="negative controls only: use this RMSNorm epsilon instead of the file's")
    ap.add_argument("--perturb-weights", type=float, default=0.0,
                    help="negative controls only: scale every layer's matrix weights by (1 + this)")
    ap.add_argument("--fp8-activations", action="store_true",
                    help="an FP8 (fbgemm_fp8) directory: quantize each input row of its F8_E4M3 "
                         "weights to e4m3 first, with a per-row scale capped by the checkpoint's "
                         "activation_scale_ub, as Meta's fp8_mixed inference does (herd run "
                         "--fp8-activations; llama31.md 7.1)")
    ap.add_argument("--kv-type", choices=["f32", "f16", "q8_0"], default="f32",
                    help="f16, q8_0: round keys and values as herd's KV cache of that type stores them")
    args = ap.parse_args(argv)

    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    m = Model(args.model)
    if args.override_eps is not None:
        m.eps = args.override_eps
    if args.perturb_weights:
        def perturbed(name, rows=None, _get=m.get, _scale=1.0 + args.perturb_weights):
            w = _get(name, rows)
            return w * _scale if w.ndim == 2 and name.startswith("blk.") else w
        m.get = perturbed
    if args.fp8_activations:
        if m.kind != "hf":
            ap.error("--fp8-activations needs a Hugging Face FP8 directory")
        with open(os.path.join(args.model, "config.json")) as f:
            qc = json.load(f).get("quantization_config") or {}
        if qc.get("quant_method") != "fbgemm_fp8":
            ap.error("--fp8-activations: config.json's quant_method is not fbgemm_fp8")
        ub = float(qc.get("activation_scale_ub", 1200.0))

        def linear_fp8(x, name, _linear=m.linear):
            hf = hf_name(name)
            if m.src.has(hf) and m.src.dtype(hf) == "F8_E4M3":
                x = quantize_activations_fp8(x, ub)
            return _linear(x, name)
        m.linear = linear_fp8
    assert all(0 <= t < m.V for t in tokens), "token id out of range"
    if args.logits_last is not None and args.logits_last < 1:
        ap.error("--logits-last must be >= 1")
    m.rho, m.kappa, score_sq = ({}, {}, {}) if args.taps_out else (None, None, None)

    def tap(name, x):
        if not args.taps_out:
            return
        if name.endswith(".kq"):   # a chunk of attention scores: accumulate sum and count of s^2
            fin = x[np.isfinite(x)]                                    # unmasked entries
            acc = score_sq.setdefault(name.split(".")[1], [0.0, 0])
            acc[0] += float(np.sum(fin * fin))
            acc[1] += fin.size
        else:
            np.save(os.path.join(args.taps_out, name + ".npy"), x.astype(np.float32))
    if args.taps_out:
        os.makedirs(args.taps_out, exist_ok=True)
    logits = forward(m, tokens, args.pos_offset, tap, last=args.logits_last, kv_type=args.kv_type)  # [T or N, V]
    if args.taps_out:
        score_rms = {l: math.sqrt(ss / n) for l, (ss, n) in score_sq.items()}  # RMS of all chunks
        meta = dict(D=m.D, L=m.L, F=m.F, H=m.H, KV=m.KV, hd=m.hd, V=m.V, eps=m.eps,
                    tokens=tokens, pos_offset=args.pos_offset, model=args.model, kind=m.kind,
                    rho=m.rho, kappa=m.kappa, score_rms=score_rms, logits_last=args.logits_last)
        with open(os.path.join(args.taps_out, "ref_meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
    np.save(args.logits_out, logits.astype(np.float32))
    top = np.argmax(logits, axis=-1)
    print(f"{m.kind}: D={m.D} L={m.L} H={m.H} KV={m.KV} hd={m.hd} F={m.F} V={m.V}; "
          f"T={len(tokens)} pos_offset={args.pos_offset}; argmax per "
          f"{'position' if args.logits_last is None else f'last-{len(top)} position'}: {top.tolist()}")


if __name__ == "__main__":
    main()
