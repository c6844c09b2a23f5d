#!/usr/bin/python3
"""Self-test of herd's numpy float64 reference (tests/reference/*.py). No herd binary needed.

This file is for testing. It does not depend on herd's C++ code. It uses only numpy and the
standard library.

Usage:  /usr/bin/python3 tests/reference/selftest.py     (exit 0 = all checks passed)

Checks:
 (a) dequantizers: hand-made blocks with hand-computed values for every supported type, random
     blocks against a scalar (loop) transcription of spec 7.2, and the same through a GGUF file
     (custom alignment, every metadata value type including nested arrays);
 (b) the same tiny model as GGUF (Meta order, rope_freqs) and as a HF directory (permuted q/k,
     config.json rope_scaling, single file or sharded; f32 and bf16; untied and tied) gives
     logits that agree to 1e-12, also at positions past 8192 (--pos-offset);
 (c) llama3 rope divisors for hd=128, factor 8 match spec 11 item 3;
 (d) causality: prefill logits at position t equal the logits from tokens[0..t] alone;
 (e) compare.py: a float32-arithmetic run of the same forward pass (numpy float32 matmuls, as herd
     would do) passes, also at positions past 100000 with float32 RoPE angles; with Q8_0-quantized activations it passes only with --act-quant q8; a
     corruption injected in layer 1's FFN is reported as the first divergence at blk.1.ffn_out;
 (f) the CLIs run end to end.
"""
import contextlib
import io
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare                                     # noqa: E402
import gguf_np                                     # noqa: E402
import llama_ref                                   # noqa: E402
import make_tiny_gguf as mk                        # noqa: E402

FAILS = []


def check(cond, what):
    print(("  ok   " if cond else "  FAIL ") + what)
    if not cond:
        FAILS.append(what)


def f16b(x):
    return struct.pack("<e", x)


# ------------------------------------------------------------------------------------------ (a)
# Scalar transcriptions of spec 7.2 (loops, one block at a time), independent of gguf_np's
# vectorised code.
def h(b, o):
    return struct.unpack_from("<e", b, o)[0]


def loop_q8_0(b):
    return [h(b, 0) * struct.unpack_from("<b", b, 2 + j)[0] for j in range(32)]


def loop_q4_0(b):
    d, y = h(b, 0), [0.0] * 32
    for j in range(16):
        y[j], y[j + 16] = ((b[2 + j] & 0xF) - 8) * d, ((b[2 + j] >> 4) - 8) * d
    return y


def loop_q4_1(b):
    d, m, y = h(b, 0), h(b, 2), [0.0] * 32
    for j in range(16):
        y[j], y[j + 16] = (b[4 + j] & 0xF) * d + m, (b[4 + j] >> 4) * d + m
    return y


def loop_q5(b, signed):
    d = h(b, 0)
    m = 0.0 if signed else h(b, 2)
    o = 2 if signed else 4
    qh = struct.unpack_from("<I", b, o)[0]
    qs = b[o + 4:o + 20]
    y = [0.0] * 32
    for j in range(16):
        q0 = (qs[j] & 0xF) | (((qh >> j) & 1) << 4)
        q1 = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)
        y[j], y[j + 16] = ((q0 - 16) * d, (q1 - 16) * d) if signed else (q0 * d + m, q1 * d + m)
    return y


def scale_min_k4(j, s):
    if j < 4:
        return s[j] & 63, s[j + 4] & 63
    return (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)


def loop_q45_k(b, five):
    d, dmin, s = h(b, 0), h(b, 2), b[4:16]
    qh, qs = (b[16:48], b[48:176]) if five else (None, b[16:144])
    y = [0.0] * 256
    for c in range(4):
        sc0, m0 = scale_min_k4(2 * c, s)
        sc1, m1 = scale_min_k4(2 * c + 1, s)
        for l in range(32):
            q = qs[32 * c + l]
            lo, hi = q & 0xF, q >> 4
            if five:
                lo += 16 * ((qh[l] >> (2 * c)) & 1)
                hi += 16 * ((qh[l] >> (2 * c + 1)) & 1)
            y[64 * c + l] = d * sc0 * lo - dmin * m0
            y[64 * c + 32 + l] = d * sc1 * hi - dmin * m1
    return y


def loop_q6_k(b):
    ql, qh = b[0:128], b[128:192]
    sc = struct.unpack_from("<16b", b, 192)
    d = h(b, 208)
    y = [0.0] * 256
    for n in range(2):
        L, Hh, S, base = ql[64 * n:], qh[32 * n:], sc[8 * n:], 128 * n
        for l in range(32):
            i = l // 16
            q1 = ((L[l] & 0xF) | (((Hh[l] >> 0) & 3) << 4)) - 32
            q2 = ((L[l + 32] & 0xF) | (((Hh[l] >> 2) & 3) << 4)) - 32
            q3 = ((L[l] >> 4) | (((Hh[l] >> 4) & 3) << 4)) - 32
            q4 = ((L[l + 32] >> 4) | (((Hh[l] >> 6) & 3) << 4)) - 32
            y[base + l] = d * S[i] * q1
            y[base + l + 32] = d * S[i + 2] * q2
            y[base + l + 64] = d * S[i + 4] * q3
            y[base + l + 96] = d * S[i + 6] * q4
    return y


LOOPS = {"Q8_0": loop_q8_0, "Q4_0": loop_q4_0, "Q4_1": loop_q4_1,
         "Q5_0": lambda b: loop_q5(b, True), "Q5_1": lambda b: loop_q5(b, False),
         "Q4_K": lambda b: loop_q45_k(b, False), "Q5_K": lambda b: loop_q45_k(b, True),
         "Q6_K": loop_q6_k}


def deq(tname, raw, n):
    return gguf_np.dequantize(gguf_np.TYPE_ID[tname], raw, n)


def test_quants():
    print("(a) dequantizers")
    # Hand-made blocks; expected values worked out by hand from spec 7.2.
    # Q8_0: d = 0.5, qs = [-128, -1, 0, 1, 127, 2, ...] -> y = [-64, -0.5, 0, 0.5, 63.5, 1, ...]
    qs = [-128, -1, 0, 1, 127] + [2] * 27
    y = deq("Q8_0", f16b(0.5) + struct.pack("<32b", *qs), 32)
    check(y[:6].tolist() == [-64, -0.5, 0, 0.5, 63.5, 1.0], "Q8_0 hand block")
    # Q4_0: d = 2, qs[0] = 0xF0 -> y[0] = (0-8)*2 = -16, y[16] = (15-8)*2 = 14; qs[1] = 0x98 ->
    # y[1] = 0, y[17] = 2
    raw = f16b(2.0) + bytes([0xF0, 0x98] + [0x88] * 14)
    y = deq("Q4_0", raw, 32)
    check((y[0], y[16], y[1], y[17], y[2]) == (-16, 14, 0, 2, 0), "Q4_0 hand block")
    # Q4_1: d = 0.25, m = -1, qs[0] = 0x4C -> y[0] = 12*0.25-1 = 2, y[16] = 4*0.25-1 = 0
    y = deq("Q4_1", f16b(0.25) + f16b(-1.0) + bytes([0x4C] + [0] * 15), 32)
    check((y[0], y[16], y[1]) == (2, 0, -1), "Q4_1 hand block")
    # Q5_0: d = 1, qh bit 0 and bit 16 set, qs[0] = 0x21 -> y[0] = (1|16)-16 = 1,
    # y[16] = (2|16)-16 = 2; y[1] = 0-16 = -16 (qs[1] = 0, bit 1 clear)
    y = deq("Q5_0", f16b(1.0) + struct.pack("<I", 0x10001) + bytes([0x21] + [0] * 15), 32)
    check((y[0], y[16], y[1]) == (1, 2, -16), "Q5_0 hand block")
    # Q5_1: d = 0.5, m = 3, qh bit 31 set, qs[15] = 0xF7 -> y[15] = 7*0.5+3 = 6.5,
    # y[31] = (15|16)*0.5+3 = 18.5
    y = deq("Q5_1", f16b(0.5) + f16b(3.0) + struct.pack("<I", 1 << 31) + bytes([0] * 15 + [0xF7]), 32)
    check((y[15], y[31], y[0]) == (6.5, 18.5, 3.0), "Q5_1 hand block")
    # Q4_K: d = 1, dmin = 0.5; scales: sc0 = 3, mn0 = 2 (bytes 0, 4); sc5 = (s[9]&15)|(s[1]>>6)<<4
    # = 1 | 1<<4 = 17, mn5 = (s[9]>>4)|(s[5]>>6)<<4 = 2 | 0 = 2 with s[1] = 0x40, s[9] = 0x21.
    # qs[0] = 0x95 -> y[0] = 1*3*5 - 0.5*2 = 14; y[32] uses sc1 = 0 (s[1]&63 = 0), mn1 = 0 -> 0.
    # Chunk c=2 (y[128..191]) uses sub-blocks 4 and 5: y[160] = 17*(qs[64]>>4) - 0.5*2 with
    # qs[64] = 0x30 -> 17*3 - 1 = 50; sub-block 4: sc4 = (s[8]&15)|(s[0]>>6)<<4 = 0 -> y[128]=-0.5*mn4,
    # mn4 = (s[8]>>4)|(s[4]>>6)<<4 = 0 -> 0.
    sc = bytearray(12)
    sc[0], sc[4], sc[1], sc[9] = 3, 2, 0x40, 0x21
    qsk = bytearray(128)
    qsk[0], qsk[64] = 0x95, 0x30
    y = deq("Q4_K", f16b(1.0) + f16b(0.5) + bytes(sc) + bytes(qsk), 256)
    check((y[0], y[32], y[160], y[128], y[1]) == (14, 0, 50, 0, -1), "Q4_K hand block")
    # Q5_K: same scales; qh[0] = 0b100001 -> bit 0 (sub-block 0) and bit 5 (sub-block 5) set:
    # y[0] = 3*(5+16) - 1 = 62, y[160] = 17*(3+16) - 1 = 322
    qh = bytearray(32)
    qh[0] = 0b100001
    y = deq("Q5_K", f16b(1.0) + f16b(0.5) + bytes(sc) + bytes(qh) + bytes(qsk), 256)
    check((y[0], y[160], y[1]) == (62, 322, -1), "Q5_K hand block")
    # Q6_K: d = 0.5; scales[0] = 2, scales[2] = -1, scales[12] = 4;
    # ql[0] = 0x3A, qh[0] = 0b00_00_01_10 -> y[0] = 0.5*2*((0xA | 2<<4) - 32) = 10,
    # y[64] = 0.5*scales[4]*((3 | 0<<4) - 32) with scales[4] = 0 -> 0;
    # y[32] = 0.5*scales[2]*((ql[32]&15 | ((qh[0]>>2)&3)<<4) - 32) = 0.5*-1*((0|1<<4)-32) = 8;
    # second half: y[128+64+16] uses ql[64+16]>>4, qh[32+16]>>4, scales[8+4+1] -> set ql[80] = 0x70,
    # qh[48] = 0x30 (bits 4-5 = 3), scales[13] = -3: 0.5*-3*((7|3<<4)-32) = -1.5*23 = -34.5
    ql, qh6, s6 = bytearray(128), bytearray(64), [0] * 16
    ql[0], qh6[0], ql[80], qh6[48] = 0x3A, 0b00000110, 0x70, 0x30
    s6[0], s6[2], s6[13] = 2, -1, -3
    y = deq("Q6_K", bytes(ql) + bytes(qh6) + struct.pack("<16b", *s6) + f16b(0.5), 256)
    check((y[0], y[64], y[32], y[208]) == (10, 0, 8, -34.5), "Q6_K hand block")
    # F16 / BF16 / F32
    check(deq("F16", f16b(-1.5) + f16b(65504.0), 2).tolist() == [-1.5, 65504.0], "F16 values")
    check(deq("BF16", struct.pack("<2H", 0x3FC0, 0xC100), 2).tolist() == [1.5, -8.0], "BF16 values")
    check(deq("F32", struct.pack("<2f", 0.1, -2.0), 2).tolist() ==
          [float(np.float32(0.1)), -2.0], "F32 values")

    # Random blocks (3 of each; fp16 fields kept finite) against the scalar loops.
    rng = np.random.default_rng(1)
    for tname, fn in LOOPS.items():
        _, be, bb, _ = gguf_np.GGML_TYPES[gguf_np.TYPE_ID[tname]]
        blocks = []
        for _ in range(3):
            blk = bytearray(rng.integers(0, 256, bb, dtype=np.uint8).tobytes())
            for o in ({"Q6_K": [208]}.get(tname) or ([0, 2] if tname in ("Q4_1", "Q5_1", "Q4_K", "Q5_K")
                                                      else [0])):
                blk[o:o + 2] = f16b(float(rng.uniform(-2, 2)))
            blocks.append(bytes(blk))
        want = np.array(sum((fn(b) for b in blocks), []))
        got = deq(tname, b"".join(blocks), 3 * be)
        check(np.array_equal(got, want), f"{tname} random blocks == scalar transcription of spec")

    # Through a GGUF file: custom alignment, all metadata value types, a 2-D quantized tensor.
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, "q.gguf")
        q8_rows = [bytes(f16b(0.25 * (r + 1)) + struct.pack("<32b", *range(-16 + r, 16 + r)))
                   for r in range(3)]                              # 3 rows x 32 (one block each)
        md = [("u8", mk.U8, 200), ("i8", mk.I8, -5), ("u16", mk.U16, 60000), ("i16", mk.I16, -300),
              ("u32", mk.U32, 4000000000), ("i32", mk.I32, -7), ("f32", mk.F32, 0.5),
              ("b", mk.BOOL, True), ("s", mk.STRING, "héllo"), ("u64", mk.U64, 2 ** 40),
              ("i64", mk.I64, -2 ** 40), ("f64", mk.F64, 0.1),
              ("arr", mk.ARRAY, (mk.I32, [1, -2, 3])),
              ("sarr", mk.ARRAY, (mk.STRING, ["a", "", "ccc"])),
              ("nest", mk.ARRAY, (mk.ARRAY, [(mk.U8, [1, 2]), (mk.STRING, ["x"]), (mk.U8, [])])),
              ("general.alignment", mk.U32, 64)]
        tensors = [("v", 0, [5], struct.pack("<5f", *range(5))),
                   ("q", gguf_np.TYPE_ID["Q8_0"], [32, 3], b"".join(q8_rows)),
                   ("h", 1, [2, 2], struct.pack("<4e", 1, 2, 3, 4))]
        mk.write_gguf(p, md, tensors, alignment=64)
        g = gguf_np.GGUFFile(p)
        want = {"u8": 200, "i8": -5, "u16": 60000, "i16": -300, "u32": 4000000000, "i32": -7,
                "f32": 0.5, "b": True, "s": "héllo", "u64": 2 ** 40, "i64": -2 ** 40, "f64": 0.1,
                "arr": [1, -2, 3], "sarr": ["a", "", "ccc"], "nest": [[1, 2], ["x"], []],
                "general.alignment": 64}
        check(g.metadata == want, "GGUF metadata: every value type and nested arrays")
        check(g.data_start % 64 == 0 and g.alignment == 64, "GGUF general.alignment honoured")
        q = g.get("q")
        check(q.shape == (3, 32) and q[2, 0] == 0.75 * -14 and q[0, 31] == 0.25 * 15,
              "GGUF Q8_0 tensor in PyTorch order [3, 32]")
        check(np.array_equal(g.get("q", rows=[2, 0]), q[[2, 0]]), "GGUF rows= selection")
        check(g.get("h").tolist() == [[1, 2], [3, 4]] and g.get("v").tolist() == [0, 1, 2, 3, 4],
              "GGUF F16 2-D and F32 1-D tensors")


# ------------------------------------------------------------------------------------------ (b)
def test_hf_vs_gguf(td):
    print("(b) HF directory vs GGUF of the same model")
    toks = [1, 17, 255, 3, 99, 99, 42, 7]
    for dtype, tied, shards in [("f32", False, 1), ("f32", True, 3), ("bf16", False, 2)]:
        w = mk.make_weights(seed=3, dtype=dtype, tied=tied)
        gp, hp = os.path.join(td, f"m_{dtype}_{tied}.gguf"), os.path.join(td, f"hf_{dtype}_{tied}")
        mk.write_tiny_gguf(gp, w, dtype)
        mk.write_tiny_hf(hp, w, dtype, shards=shards)
        mg, mh = llama_ref.Model(gp), llama_ref.Model(hp)
        check(mg.output_name == mh.output_name == ("token_embd.weight" if tied else "output.weight"),
              f"{dtype} tied={tied}: LM head {mg.output_name}")
        check(np.array_equal(mg.inv_freq, mh.inv_freq),
              f"{dtype} tied={tied}: rope_freqs divisors == config.json rope_scaling")
        check(np.array_equal(mg.get("blk.1.attn_k.weight"), mh.get("blk.1.attn_k.weight")),
              f"{dtype} tied={tied} shards={shards}: un-permuted k_proj == GGUF attn_k")
        for p0 in (0, 100000):
            lg, lh = llama_ref.forward(mg, toks, p0), llama_ref.forward(mh, toks, p0)
            err = float(np.abs(lg - lh).max())
            check(err <= 1e-12, f"{dtype} tied={tied} pos_offset={p0}: max |logits diff| = {err:.1e}")
    # Sanity: the permutation matters (forgetting it changes the logits).
    m = llama_ref.Model(os.path.join(td, "hf_f32_False"))
    ref = llama_ref.forward(m, toks)
    m.get = lambda name, rows=None, _g=m.src.get: _g(llama_ref.hf_name(name), rows)
    check(np.abs(llama_ref.forward(m, toks) - ref).max() > 1e-3,
          "using HF q/k rows without un-permuting gives different logits")
    # A Q8_0 GGUF (spec 7.2 reference quantizer) gives the same logits as an F32 GGUF holding
    # its dequantized values: the quantized path through Model.get/linear (row chunks) is exact.
    w = mk.make_weights(seed=4)
    raws, deqs = {}, {}
    for name, x in w.items():
        if x.ndim == 2:
            b = x.astype(np.float32).reshape(-1, 32)                     # [nblocks, 32]
            d = (np.abs(b).max(1) / 127).astype(np.float16)              # [nblocks]
            q = np.round(b / np.where(d == 0, 1, d.astype(np.float32))[:, None]).astype(np.int8)
            raws[name] = b"".join(d[i].tobytes() + q[i].tobytes() for i in range(len(b)))
            deqs[name] = (d.astype(np.float64)[:, None] * q).reshape(x.shape)
        else:
            deqs[name] = x
    pq, pf = os.path.join(td, "q8.gguf"), os.path.join(td, "q8_deq.gguf")
    mk.write_tiny_gguf(pf, deqs, "f32")
    mk.write_tiny_gguf(pq + ".src", w, "f32")
    g = gguf_np.GGUFFile(pq + ".src")   # rewrite it with the 2-D tensors as Q8_0 blocks
    tensors = [(n, 8 if n in raws else 0, g.tensors[n].ne,
                raws.get(n) or g.get(n).astype("<f4").tobytes()) for n in g.tensors]
    md = [(k, mk.F32 if isinstance(v, float) else (mk.STRING if isinstance(v, str) else mk.U32), v)
          for k, v in g.metadata.items()]
    mk.write_gguf(pq, md, tensors)
    mq, mf = llama_ref.Model(pq), llama_ref.Model(pf)
    mq.LINEAR_CHUNK_ROWS = 100     # exercise chunked dequantization of the LM head
    err = float(np.abs(llama_ref.forward(mq, toks) - llama_ref.forward(mf, toks)).max())
    check(err <= 1e-12, f"Q8_0 GGUF == F32 GGUF of its dequantized weights: {err:.1e}")
    # RoPE is relative: with no prefix, shifting every position by N leaves q.k unchanged, so in
    # exact arithmetic --pos-offset does not change the logits (it tests large-angle precision
    # and position handling in herd, not long-range behaviour).
    mg = llama_ref.Model(os.path.join(td, "m_f32_False.gguf"))
    a = llama_ref.forward(mg, toks, 100000)
    err = float(np.abs(a - llama_ref.forward(mg, toks, 0)).max())
    check(err < 1e-9, f"logits invariant under --pos-offset 100000 (float64): {err:.1e}")
    mg.inv_freq = 500000.0 ** (-np.arange(0, 16, 2) / 16)
    check(np.abs(llama_ref.forward(mg, toks, 100000) - a).max() > 1e-4,
          "rope_freqs divisors change the logits (pairs 4-7, relative distances up to 7)")


# ------------------------------------------------------------------------------------------ (c)
def test_rope_divisors():
    print("(c) llama3 rope divisors, hd=128, theta=500000, factor 8")
    d = llama_ref.llama3_rope_divisors(500000.0, 128, 8.0, 1.0, 4.0, 8192)
    want = [1.2075, 1.5534, 2.0263, 2.6945, 3.6843, 5.2573]
    check(np.all(d[:29] == 1.0), "pairs 0..28 unchanged")
    check(np.all(np.abs(d[29:35] - want) < 5e-5), f"pairs 29..34 = {np.round(d[29:35], 4).tolist()}")
    check(np.all(d[35:] == 8.0), "pairs 35..63 divided by 8")
    loop = mk.rope_divisors_loop(500000.0, 128, 8.0, 1.0, 4.0, 8192)
    check(np.allclose(d, loop, rtol=1e-14, atol=0), "vectorised == loop form")
    d32 = llama_ref.llama3_rope_divisors(500000.0, 64, 32.0, 1.0, 4.0, 8192)
    check(int((d32 == 1).sum()) == 15 and int((d32 == 32).sum()) == 14,
          "hd=64 factor 32: 15 unchanged, 3 blended, 14 divided by 32")


# ------------------------------------------------------------------------------------------ (d)
def test_causality(td):
    print("(d) causality: prefill row t == logits of tokens[0..t] alone")
    m = llama_ref.Model(os.path.join(td, "m_f32_False.gguf"))
    toks = [1, 17, 255, 3, 99, 99, 42, 7]
    for p0 in (0, 9000):
        full = llama_ref.forward(m, toks, p0)                           # [T, V]
        err = max(float(np.abs(llama_ref.forward(m, toks[:t + 1], p0)[t] - full[t]).max())
                  for t in range(len(toks)))
        check(err <= 1e-12, f"pos_offset={p0}: max diff over t = {err:.1e}")


# ------------------------------------------------------------------------------------------ (e)
class F32Model(llama_ref.Model):
    """Matmuls in numpy float32 (float32 accumulation), optionally with Q8_0-quantized inputs."""
    q8 = False

    def linear(self, x, name):
        x32 = x.astype(np.float32)                                      # [T, K]
        if self.q8:
            T, K = x32.shape
            b = x32.reshape(T, K // 32, 32)
            d = (np.abs(b).max(-1, keepdims=True) / 127).astype(np.float16).astype(np.float32)
            q = np.round(b / np.where(d == 0, 1, d))
            x32 = (q * d).reshape(T, K)
        return (x32 @ self.get(name).astype(np.float32).T).astype(np.float64)


def run_compare(args):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = compare.main(args)
    return rc, buf.getvalue()


def test_compare(td):
    print("(e) compare.py on simulated float32 / q8 runs")
    gp = os.path.join(td, "m_f32_False.gguf")
    toks = [1, 17, 255, 3, 99, 99, 42, 7, 5, 6, 7, 8]
    ref_dir = os.path.join(td, "ref")
    llama_ref.main([gp, "--tokens", ",".join(map(str, toks)), "--logits-out",
                    os.path.join(td, "ref.npy"), "--taps-out", ref_dir])

    def sim(dirname, q8=False, corrupt=False):
        m = F32Model(gp)
        m.q8 = q8
        if corrupt:   # a small bug in layer 1's w2 output: 5% of one row's RMS in one element
            orig = m.linear

            def lin(x, name):
                y = orig(x, name)
                if name == "blk.1.ffn_down.weight":
                    y[3, 5] += 0.05 * np.sqrt(np.mean(y[3] ** 2))
                return y
            m.linear = lin
        out = os.path.join(td, dirname)
        os.makedirs(out, exist_ok=True)
        llama_ref.forward(m, toks, 0, lambda name, x: name.endswith(".kq") or
                          np.save(os.path.join(out, name + ".npy"), x.astype(np.float32)))
        return out

    rc, out = run_compare([sim("f32"), ref_dir])
    worst = [l for l in out.splitlines() if l.startswith("PASS")]
    check(rc == 0, f"float32 run passes: {worst[0] if worst else out[-300:]}")
    q8 = sim("q8", q8=True)
    rc, out = run_compare([q8, ref_dir, "--act-quant", "q8"])
    check(rc == 0, "q8-activation run passes with --act-quant q8" + ("" if rc == 0 else out[-800:]))
    rc, out = run_compare([q8, ref_dir])
    check(rc == 1, "q8-activation run fails without --act-quant q8")
    rc, out = run_compare([sim("bad", corrupt=True), ref_dir])
    check(rc == 1 and "first divergence at layer 1, tap ffn_out" in out,
          "corruption in layer 1 FFN reported as first divergence at blk.1.ffn_out")
    # Positions near 100000 with RoPE angles rounded to float32 (as a float32 runtime computes
    # p * f): must pass once compare.py knows the position offset (from ref_meta.json).
    ref_far = os.path.join(td, "ref_far")
    llama_ref.main([gp, "--tokens", ",".join(map(str, toks)), "--pos-offset", "100000",
                    "--logits-out", os.path.join(td, "ref_far.npy"), "--taps-out", ref_far])
    cos, sin = np.cos, np.sin
    try:
        np.cos = lambda a: cos(a.astype(np.float32)).astype(np.float64)
        np.sin = lambda a: sin(a.astype(np.float32)).astype(np.float64)
        m, far = F32Model(gp), os.path.join(td, "f32_far")
        os.makedirs(far)
        llama_ref.forward(m, toks, 100000, lambda name, x: name.endswith(".kq") or
                          np.save(os.path.join(far, name + ".npy"), x.astype(np.float32)))
    finally:
        np.cos, np.sin = cos, sin
    rc, out = run_compare([far, ref_far])
    worst = [l for l in out.splitlines() if l.startswith("PASS")]
    check(rc == 0, "float32 run with float32 RoPE angles at positions 100000+ passes: " +
          (worst[0] if worst else out[-600:]))
    os.remove(os.path.join(td, "f32", "blk.0.out.npy"))
    rc, out = run_compare([os.path.join(td, "f32"), ref_dir])
    check(rc == 1 and "MISSING" in out, "missing tap fails")
    rc, out = run_compare([os.path.join(td, "f32"), ref_dir, "--allow-missing"])
    check(rc == 0, "missing tap allowed with --allow-missing")


# ------------------------------------------------------------------------------------------ (f)
def test_cli(td):
    print("(f) command lines")
    py = sys.executable
    gp, hp = os.path.join(td, "cli.gguf"), os.path.join(td, "cli_hf")
    r = subprocess.run([py, os.path.join(HERE, "make_tiny_gguf.py"), gp, "--hf-out", hp,
                        "--dtype", "bf16", "--tied", "--alignment", "64"], capture_output=True, text=True)
    check(r.returncode == 0, "make_tiny_gguf.py --hf-out --dtype bf16 --tied --alignment 64")
    outs = []
    for model, tag in ((gp, "g"), (hp, "h")):
        lo, tdir = os.path.join(td, f"cli_{tag}.npy"), os.path.join(td, f"cli_taps_{tag}")
        r = subprocess.run([py, os.path.join(HERE, "llama_ref.py"), model, "--tokens", "128,9,1",
                            "--pos-offset", "20000", "--logits-out", lo, "--taps-out", tdir],
                           capture_output=True, text=True)
        check(r.returncode == 0 and np.load(lo).shape == (3, 256) and np.load(lo).dtype == np.float32,
              f"llama_ref.py {tag}: logits [3, 256] float32")
        outs.append(tdir)
    r = subprocess.run([py, os.path.join(HERE, "compare.py"), outs[0], outs[1]],
                       capture_output=True, text=True)
    check(r.returncode == 0, "compare.py HF taps vs GGUF taps: PASS")


def main():
    test_quants()
    test_rope_divisors()
    with tempfile.TemporaryDirectory() as td:
        test_hf_vs_gguf(td)
        test_causality(td)
        test_compare(td)
        test_cli(td)
    print(f"\n{'ALL PASSED' if not FAILS else f'{len(FAILS)} FAILED: {FAILS}'}")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
