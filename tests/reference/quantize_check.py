"""Checks a `herd quantize` output against its input, independently of herd's C++ code.

    /usr/bin/python3 quantize_check.py IN.gguf OUT.gguf TYPE

What llama.cpp's llama-quantize does (src/llama-quant.cpp), restated here from its
behaviour, not from herd's code:
  * metadata: the input's keys and values in order, minus general.file_type and
    general.quantization_version, which come last (quantization_version = 2 first);
  * tensors: the same names and shapes, ordered by layer then name; norms and 1-D
    tensors copied byte for byte;
  * each matrix's type from the file type's mix (expected_type below);
  * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F16 and BF16: the bytes of ggml's reference
    quantizers, re-implemented in numpy with float32 arithmetic (ggml's order of
    operations), so the bytes must be equal;
  * Q4_K, Q5_K, Q6_K (an iterative scale search, not re-implemented here): the
    dequantized values within a relative RMS error and a per-element bound of their
    super-block's range (byte equality with llama-quantize itself is
    bench/quantize_peer.sh, run where a llama.cpp build exists).
Exits non-zero with a message on the first difference.
"""
import sys

import numpy as np

from gguf_np import GGUFFile, GGML_TYPES, TYPE_ID, dequantize

FTYPES = {  # name -> (llama_ftype id, base ggml type name)
    "F32": (0, "F32"), "F16": (1, "F16"), "BF16": (32, "BF16"), "Q4_0": (2, "Q4_0"), "Q4_1": (3, "Q4_1"),
    "Q8_0": (7, "Q8_0"), "Q5_0": (8, "Q5_0"), "Q5_1": (9, "Q5_1"), "Q4_K_S": (14, "Q4_K"),
    "Q4_K_M": (15, "Q4_K"), "Q5_K_S": (16, "Q5_K"), "Q5_K_M": (17, "Q5_K"), "Q6_K": (18, "Q6_K"),
}
BLOCK = {name: be for (name, be, _, _) in GGML_TYPES.values()}


def more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def expected_type(name, ftype, n_layers, gqa, has_output, ne0):
    base = FTYPES[ftype][1]
    if base in ("F32", "F16", "BF16"):
        return base
    layer = int(name.split(".")[1]) if name.startswith("blk.") else -1
    t = base
    if name == "output.weight" or (not has_output and name == "token_embd.weight"):
        t = "Q8_0" if ne0 % BLOCK[base] else ("Q6_K" if base != "Q8_0" else base)
    elif name.endswith("attn_v.weight"):
        if ftype in ("Q4_K_M", "Q5_K_M") and more_bits(layer, n_layers):
            t = "Q6_K"
        elif ftype == "Q4_K_S" and layer < 4:
            t = "Q5_K"
        if n_layers == 80 and gqa and t == "Q4_K":
            t = "Q5_K"
    elif name.endswith("ffn_down.weight"):
        if ftype in ("Q4_K_M", "Q5_K_M") and more_bits(layer, n_layers):
            t = "Q6_K"
        elif ftype == "Q4_K_S" and layer < n_layers // 8:
            t = "Q5_K"
    fallback = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
    if ne0 % BLOCK[t]:
        t = fallback[t]
        if ne0 % BLOCK[t]:
            t = "F16"
    return t


# --- ggml's reference quantizers, float32 arithmetic -----------------------------------------
f32 = np.float32


def _fp16_bytes(v):  # float32 [n] -> uint8 [n, 2] (round to nearest even)
    return v.astype(np.float16).view(np.uint8).reshape(-1, 2)


def _trunc_i(v):  # C's (int) cast of a float32
    return np.trunc(v.astype(np.float64)).astype(np.int64)


def _roundf(v):  # C's roundf: half away from zero (exact in float64)
    v = v.astype(np.float64)
    return np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5)).astype(np.int64)


def _inv(d):  # id = d ? 1.0f/d : 0.0f
    with np.errstate(divide="ignore"):
        return np.where(d != 0, f32(1) / np.where(d != 0, d, f32(1)), f32(0)).astype(f32)


def _signed_absmax(x):  # the element of largest magnitude, the first of ties
    idx = np.argmax(np.abs(x), axis=1)
    return x[np.arange(x.shape[0]), idx]


def q8_0(x):
    amax = np.abs(x).max(axis=1)
    d = (amax / f32(127)).astype(f32)
    q = _roundf((x * _inv(d)[:, None]).astype(f32))
    return np.concatenate([_fp16_bytes(d), q.astype(np.int8).view(np.uint8)], axis=1)


def _pack_nibbles(lo, hi):
    return (lo | (hi << 4)).astype(np.uint8)


def q4_0(x):
    d = (_signed_absmax(x) / f32(-8)).astype(f32)
    v = ((x * _inv(d)[:, None]).astype(f32) + f32(8.5)).astype(f32)
    q = np.minimum(15, _trunc_i(v))
    return np.concatenate([_fp16_bytes(d), _pack_nibbles(q[:, :16], q[:, 16:])], axis=1)


def q4_1(x):
    mn, mx = x.min(axis=1), x.max(axis=1)
    d = ((mx - mn) / f32(15)).astype(f32)
    v = (((x - mn[:, None]).astype(f32) * _inv(d)[:, None]).astype(f32) + f32(0.5)).astype(f32)
    q = np.minimum(15, _trunc_i(v))
    return np.concatenate([_fp16_bytes(d), _fp16_bytes(mn), _pack_nibbles(q[:, :16], q[:, 16:])], axis=1)


def _qh_bytes(q):  # bit 4 of q[:, j] at bit j of a little-endian u32
    bits = ((q >> 4) & 1).astype(np.uint64)
    qh = (bits << np.arange(32, dtype=np.uint64)).sum(axis=1).astype(np.uint32)
    return qh.view(np.uint8).reshape(-1, 4)


def q5_0(x):
    d = (_signed_absmax(x) / f32(-16)).astype(f32)
    v = ((x * _inv(d)[:, None]).astype(f32) + f32(16.5)).astype(f32)
    q = np.minimum(31, _trunc_i(v))
    return np.concatenate([_fp16_bytes(d), _qh_bytes(q), _pack_nibbles(q[:, :16] & 15, q[:, 16:] & 15)], axis=1)


def q5_1(x):
    mn, mx = x.min(axis=1), x.max(axis=1)
    d = ((mx - mn) / f32(31)).astype(f32)
    q = _trunc_i((((x - mn[:, None]).astype(f32) * _inv(d)[:, None]).astype(f32) + f32(0.5)).astype(f32))
    return np.concatenate([_fp16_bytes(d), _fp16_bytes(mn), _qh_bytes(q), _pack_nibbles(q[:, :16] & 15, q[:, 16:] & 15)],
                          axis=1)


def f16(x):
    return _fp16_bytes(x.reshape(-1)).reshape(x.shape[0], -1)


def bf16(x):
    u = x.reshape(-1).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r.view(np.uint8).reshape(x.shape[0], -1)


def f32_(x):
    return x.reshape(x.shape[0], -1).view(np.uint8)


EXACT = {"F32": f32_, "Q8_0": q8_0, "Q4_0": q4_0, "Q4_1": q4_1, "Q5_0": q5_0, "Q5_1": q5_1, "F16": f16, "BF16": bf16}
# Relative RMS error and worst error per 256-element super-block, as a share of its range.
K_BOUNDS = {"Q4_K": (0.08, 0.20), "Q5_K": (0.04, 0.10), "Q6_K": (0.02, 0.05)}


def raw_bytes(g, info, n_bytes):
    start = g.data_start + info.offset
    return g._data[start:start + n_bytes]


def fail(msg):
    print(f"quantize_check: {msg}", file=sys.stderr)
    sys.exit(1)


def main(src_path, out_path, ftype):
    src, out = GGUFFile(src_path), GGUFFile(out_path)
    ftype = ftype.upper()
    meta_in = {k: v for k, v in src.metadata.items() if k not in ("general.file_type", "general.quantization_version")}
    keys = list(out.metadata)
    if keys[-2:] != ["general.quantization_version", "general.file_type"]:
        fail(f"the last two keys are {keys[-2:]}")
    if out.metadata["general.file_type"] != FTYPES[ftype][0] or out.metadata["general.quantization_version"] != 2:
        fail("general.file_type / general.quantization_version have the wrong values")
    if keys[:-2] != list(meta_in) or any(out.metadata[k] != v for k, v in meta_in.items()):
        fail("the metadata differs from the input's")
    names = list(out.tensors)
    layer = lambda n: int(n.split(".")[1]) if n.startswith("blk.") else -1
    if sorted(src.tensors) != sorted(names) or names != sorted(names, key=lambda n: (layer(n), n)):
        fail("the tensor names or their order differ from llama-quantize's (by layer, then name)")
    n_layers = src.metadata["llama.block_count"]
    gqa = src.metadata["llama.attention.head_count"] != src.metadata.get("llama.attention.head_count_kv")
    has_output = "output.weight" in src.tensors
    counts = {}
    for name in names:
        ti, to = src.tensors[name], out.tensors[name]
        if ti.ne != to.ne:
            fail(f"{name}: shape {to.ne}, input {ti.ne}")
        tin, tout = GGML_TYPES[ti.type][0], GGML_TYPES[to.type][0]
        n = int(np.prod(ti.ne))
        quantized = name.endswith("weight") and len(ti.ne) >= 2 and "_norm.weight" not in name
        want = expected_type(name, ftype, n_layers, gqa, has_output, ti.ne[0]) if quantized else tin
        if tout != want:
            fail(f"{name}: type {tout}, expected {want}")
        counts[tout] = counts.get(tout, 0) + 1
        n_rows = n // ti.ne[0]
        rb_in = ti.ne[0] // GGML_TYPES[ti.type][1] * GGML_TYPES[ti.type][2]
        rb_out = ti.ne[0] // GGML_TYPES[to.type][1] * GGML_TYPES[to.type][2]
        got_all = raw_bytes(out, to, n_rows * rb_out).reshape(n_rows, rb_out)
        src_all = raw_bytes(src, ti, n_rows * rb_in).reshape(n_rows, rb_in)
        if tout == tin:
            if not np.array_equal(got_all, src_all):
                fail(f"{name}: kept as {tin} but its bytes changed")
            continue
        # The embedding and the head (128256 rows): 2048 rows spread over the tensor, the
        # first and last included; every other tensor whole.
        rows = np.unique(np.linspace(0, n_rows - 1, 2048).astype(np.int64)) if n > (1 << 22) else np.arange(n_rows)
        got = got_all[rows].reshape(-1)
        m = len(rows) * ti.ne[0]
        x = dequantize(ti.type, src_all[rows].reshape(-1), m).astype(f32)  # exact: every input value is an f32
        be = GGML_TYPES[to.type][1]
        if tout in EXACT:
            want_bytes = EXACT[tout](x.reshape(-1, be if be > 1 else ti.ne[0])).reshape(-1)
            if not np.array_equal(got, want_bytes):
                bad = int(np.argmax(got != want_bytes))
                fail(f"{name}: {tout} bytes differ from ggml's reference quantizer at byte {bad}")
        else:
            y = dequantize(to.type, got, m).reshape(-1, 256)
            xb = x.astype(np.float64).reshape(-1, 256)
            rng = np.maximum(xb.max(axis=1) - xb.min(axis=1), 1e-30)
            rms, worst = K_BOUNDS[tout]
            rel = np.sqrt(((y - xb) ** 2).sum() / max((xb ** 2).sum(), 1e-30))
            if rel > rms or (np.abs(y - xb).max(axis=1) / rng).max() > worst:
                fail(f"{name}: {tout} error too large (relative RMS {rel:.4f})")
    print(f"quantize_check: {ftype} ok: {len(names)} tensors ({', '.join(f'{k} x{v}' for k, v in sorted(counts.items()))})")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
