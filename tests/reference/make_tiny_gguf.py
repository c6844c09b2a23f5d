#!/usr/bin/python3
"""Tiny random Llama model writer (GGUF, optionally also as a HF directory): a test helper.

This file is for testing the numpy reference (tests/reference/selftest.py). It is NOT herd's model
maker (that is `herd make-model`), and it does not depend on herd's C++ code. It uses only numpy and
the standard library.

Usage:
  /usr/bin/python3 tests/reference/make_tiny_gguf.py OUT.gguf [--hf-out DIR] [--seed N]
      [--dtype f32|f16|bf16] [--tied] [--shards N] [--alignment A]

The model: 2 layers, D=64, H=4, KV=2, hd=16, F=128, V=256, eps=1e-5, rope theta 500000 with llama3
scaling (factor 8, low 1, high 4, original context 8192; for hd=16 the pairs fall into all three
regimes: 0-3 unchanged, 4 blended, 5-7 divided by 8). The GGUF holds the weights in Meta order plus
rope_freqs.weight; the HF directory holds the same values with q_proj/k_proj rows permuted as HF's
converter does, and config.json with rope_scaling. Weights are rounded to --dtype first, so both
files hold exactly the same numbers (GGUF norms and rope_freqs stay F32, as in real files).
"""
import argparse
import json
import math
import os
import struct

import numpy as np

# GGUF metadata value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
        U64: "<Q", I64: "<q", F64: "<d"}
GGML = {"F32": 0, "F16": 1, "BF16": 30}

TINY = dict(L=2, D=64, H=4, KV=2, hd=16, F=128, V=256, eps=1e-5, theta=500000.0,
            factor=8.0, low=1.0, high=4.0, old_ctx=8192)


# ---------------------------------------------------------------------------------------------- GGUF
def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(vtype, v):
    if vtype == STRING:
        return _str(v)
    if vtype == ARRAY:                      # v = (element type, list)
        etype, items = v
        return struct.pack("<IQ", etype, len(items)) + b"".join(_value(etype, x) for x in items)
    return struct.pack(_FMT[vtype], v)


def write_gguf(path, metadata, tensors, alignment=32, version=3):
    """metadata: [(key, vtype, value)]; tensors: [(name, ggml_type_id, ne, raw_bytes)]."""
    out = bytearray(struct.pack("<4sIQQ", b"GGUF", version, len(tensors), len(metadata)))
    for key, vtype, v in metadata:
        out += _str(key) + struct.pack("<I", vtype) + _value(vtype, v)
    offset, blobs = 0, []
    for name, ttype, ne, raw in tensors:
        out += _str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", ttype, offset)
        pad = (-len(raw)) % alignment
        blobs.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    out += b"\0" * ((-len(out)) % alignment)
    with open(path, "wb") as f:
        f.write(bytes(out) + b"".join(blobs))


# ---------------------------------------------------------------------------------------------- dtypes
def to_bf16_bits(x):  # float64 -> uint16 bf16 bits, round to nearest even (via float32)
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def round_to(x, dtype):  # float64 -> float64 holding values exactly representable in dtype
    if dtype == "f32":
        return x.astype(np.float32).astype(np.float64)
    if dtype == "f16":
        return x.astype(np.float16).astype(np.float64)
    return (to_bf16_bits(x).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def raw_bytes(x, dtype):
    if dtype == "f32":
        return x.astype("<f4").tobytes()
    if dtype == "f16":
        return x.astype("<f2").tobytes()
    return to_bf16_bits(x).astype("<u2").tobytes()


# ---------------------------------------------------------------------------------------------- model
def rope_divisors_loop(theta, hd, factor, low, high, old_ctx):
    """Loop form of llama3 scaling (as in Meta's original reference_impl), independent of
    llama_ref.llama3_rope_divisors. Returns the per-pair divisors GGUF stores."""
    out = []
    for i in range(hd // 2):
        freq = theta ** (-2.0 * i / hd)
        wavelen = 2 * math.pi / freq
        if wavelen < old_ctx / high:
            new = freq
        elif wavelen > old_ctx / low:
            new = freq / factor
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            new = (1 - smooth) * freq / factor + smooth * freq
        out.append(freq / new)
    return np.array(out)


def make_weights(seed=0, dtype="f32", tied=False, p=TINY):
    """GGUF-named float64 weights in PyTorch order and Meta (interleaved) q/k row order."""
    rng = np.random.default_rng(seed)
    D, F, V, H, KV, hd = p["D"], p["F"], p["V"], p["H"], p["KV"], p["hd"]
    lin = lambda n, k: rng.standard_normal((n, k)) / math.sqrt(k)        # noqa: E731
    norm = lambda: 1.0 + 0.2 * rng.standard_normal(D)                     # noqa: E731
    w = {"token_embd.weight": rng.standard_normal((V, D))}
    for l in range(p["L"]):
        b = f"blk.{l}."
        w[b + "attn_norm.weight"] = norm()
        w[b + "attn_q.weight"] = 2.0 * lin(H * hd, D)   # larger q: non-trivial attention patterns
        w[b + "attn_k.weight"] = 2.0 * lin(KV * hd, D)
        w[b + "attn_v.weight"] = lin(KV * hd, D)
        w[b + "attn_output.weight"] = lin(D, H * hd)
        w[b + "ffn_norm.weight"] = norm()
        w[b + "ffn_gate.weight"] = lin(F, D)
        w[b + "ffn_up.weight"] = lin(F, D)
        w[b + "ffn_down.weight"] = lin(D, F)
    w["output_norm.weight"] = norm()
    if not tied:
        w["output.weight"] = lin(V, D)
    return {k: round_to(v, dtype) for k, v in w.items()}


def write_tiny_gguf(path, weights, dtype="f32", p=TINY, alignment=None):
    md = [("general.architecture", STRING, "llama"), ("general.name", STRING, "herd-ref-tiny"),
          ("llama.vocab_size", U32, p["V"]), ("llama.context_length", U32, 131072),
          ("llama.embedding_length", U32, p["D"]), ("llama.block_count", U32, p["L"]),
          ("llama.feed_forward_length", U32, p["F"]),
          ("llama.attention.head_count", U32, p["H"]),
          ("llama.attention.head_count_kv", U32, p["KV"]),
          ("llama.attention.layer_norm_rms_epsilon", F32, p["eps"]),
          ("llama.rope.freq_base", F32, p["theta"]),
          ("llama.rope.dimension_count", U32, p["hd"])]
    if alignment is not None:
        md.append(("general.alignment", U32, alignment))
    div = rope_divisors_loop(p["theta"], p["hd"], p["factor"], p["low"], p["high"], p["old_ctx"])
    tensors = [("rope_freqs.weight", GGML["F32"], [p["hd"] // 2], raw_bytes(div, "f32"))]
    for name, x in weights.items():
        t = "f32" if x.ndim == 1 else dtype                    # 1-D tensors stay F32
        tensors.append((name, GGML[t.upper()], list(reversed(x.shape)), raw_bytes(x, t)))
    write_gguf(path, md, tensors, alignment or 32)


# ---------------------------------------------------------------------------------------------- HF
def write_safetensors(path, tensors, dtype):
    """tensors: {name: float64 array}; written in dtype (F32/F16/BF16)."""
    st = {"f32": "F32", "f16": "F16", "bf16": "BF16"}[dtype]
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, x in tensors.items():
        raw = raw_bytes(x, dtype)
        header[name] = {"dtype": st, "shape": list(x.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_tiny_hf(out_dir, weights, dtype="f32", p=TINY, shards=1):
    # Local imports keep this helper's GGUF side independent of the reference code.
    from llama_ref import hf_name, permute_meta_to_hf
    os.makedirs(out_dir, exist_ok=True)
    hf = {}
    for name, x in weights.items():
        if name.endswith("attn_q.weight"):
            x = permute_meta_to_hf(x, p["H"])
        elif name.endswith("attn_k.weight"):
            x = permute_meta_to_hf(x, p["KV"])
        hf[hf_name(name)] = x
    tied = "output.weight" not in weights
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": p["D"], "intermediate_size": p["F"], "num_hidden_layers": p["L"],
              "num_attention_heads": p["H"], "num_key_value_heads": p["KV"], "head_dim": p["hd"],
              "vocab_size": p["V"], "max_position_embeddings": 131072,
              # GGUF stores eps as float32; write the same value so both files are the same model
              "rms_norm_eps": float(np.float32(p["eps"])),
              "rope_theta": p["theta"],
              "rope_scaling": {"factor": p["factor"], "low_freq_factor": p["low"],
                               "high_freq_factor": p["high"],
                               "original_max_position_embeddings": p["old_ctx"],
                               "rope_type": "llama3"},
              "hidden_act": "silu", "tie_word_embeddings": tied,
              "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[dtype]}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    names = list(hf)
    if shards == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), hf, dtype)
        return
    weight_map = {}
    for s in range(shards):
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: hf[n] for n in names[s::shards]}
        write_safetensors(os.path.join(out_dir, fn), part, dtype)
        weight_map.update({n: fn for n in part})
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="output .gguf path")
    ap.add_argument("--hf-out", help="also write the same model as a HF directory here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--tied", action="store_true", help="no output.weight / lm_head.weight")
    ap.add_argument("--shards", type=int, default=1, help="HF: number of safetensors shards")
    ap.add_argument("--alignment", type=int, help="write general.alignment (default: absent = 32)")
    a = ap.parse_args()
    w = make_weights(a.seed, a.dtype, a.tied)
    write_tiny_gguf(a.out, w, a.dtype, alignment=a.alignment)
    if a.hf_out:
        write_tiny_hf(a.hf_out, w, a.dtype, shards=a.shards)


if __name__ == "__main__":
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
