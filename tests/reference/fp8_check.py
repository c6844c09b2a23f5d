"""Checks an FP8 Hugging Face directory written by herd against its BF16 source, independently of herd.

    /usr/bin/python3 fp8_check.py BF16_DIR FP8_DIR

Meta's "fp8_mixed" (spec llama31.md 7.1), restated here in numpy:
  * which tensors: the FFN weights (mlp.gate_proj/up_proj/down_proj) of layers 1 .. L-2 are
    F8_E4M3 with a "<name>_scale" F32 [out, 1]; everything else is byte-identical to the source;
  * quantize_fp8, per row, in float32: amax = max(max|w|, 1e-12); q = w * (448 / amax),
    clamped to [-448, 448], rounded to the nearest float8_e4m3fn value, ties to the even code;
    the stored scale is amax / 448;
  * config.json: quantization_config fbgemm_fp8, activation_scale_ub 1200, and
    modules_to_not_convert naming every linear module left in BF16 (and lm_head).
Exits 1 naming the first difference.
"""
import json
import os
import sys

import numpy as np

from safetensors_np import HFDir

f32 = np.float32


def e4m3_table():  # the value of every non-NaN code 0x00..0x7E (ascending)
    codes = np.arange(0x7F)
    e, m = codes >> 3, codes & 7
    return np.where(e == 0, m / 8.0 * 2.0 ** -6, (1 + m / 8.0) * 2.0 ** (e - 7.0))


def to_e4m3(y):  # float32 array within [-448, 448] -> uint8 codes (round to nearest, ties to even)
    vals = e4m3_table()
    a = np.abs(y.astype(np.float64))
    hi = np.clip(np.searchsorted(vals, a), 1, len(vals) - 1)
    lo = hi - 1
    dlo, dhi = a - vals[lo], vals[hi] - a
    pick = np.where(dlo < dhi, lo, np.where(dhi < dlo, hi, np.where(lo % 2 == 0, lo, hi)))
    pick = np.where(a >= vals[-1], len(vals) - 1, pick)
    return (pick | np.where(np.signbit(y), 0x80, 0)).astype(np.uint8)


def quantize_fp8(w):  # float32 [out, in] -> (codes, scales)
    amax = np.maximum(np.abs(w).max(axis=1), f32(1e-12)).astype(f32)
    q = np.clip((w * (f32(448) / amax)[:, None]).astype(f32), f32(-448), f32(448))
    return to_e4m3(q), (amax / f32(448)).astype(f32)


def raw(d, name):
    sf = d._where[name]
    b0, b1 = sf.header[name]["data_offsets"]
    return np.asarray(sf._mm[sf.data_start + b0:sf.data_start + b1])


def main(src_dir, fp8_dir):
    src, out = HFDir(src_dir), HFDir(fp8_dir)
    n_layers = src.config["num_hidden_layers"]
    q = out.config.get("quantization_config") or {}
    if q.get("quant_method") != "fbgemm_fp8" or q.get("activation_scale_ub") != 1200.0:
        sys.exit("fp8_check: config.json lacks Meta's quantization_config")
    kept, n_fp8 = [], 0
    for name in src.names():
        ffn = ".mlp." in name and name.endswith("_proj.weight")
        layer = int(name.split(".")[2]) if name.startswith("model.layers.") else -1
        want_fp8 = ffn and 1 <= layer <= n_layers - 2
        got_dtype = out._where[name].header[name]["dtype"]
        if want_fp8 != (got_dtype == "F8_E4M3"):
            sys.exit(f"fp8_check: {name} is {got_dtype}")
        if not want_fp8:
            if not np.array_equal(raw(src, name), raw(out, name)):
                sys.exit(f"fp8_check: {name} should be copied unchanged")
            if name.endswith("_proj.weight"):
                kept.append(name[:-len(".weight")])
            continue
        codes, scales = quantize_fp8(src.get(name).astype(f32))  # bf16 values are exact in float32
        if not np.array_equal(raw(out, name), codes.reshape(-1)):
            bad = int(np.argmax(raw(out, name) != codes.reshape(-1)))
            sys.exit(f"fp8_check: {name}: byte {bad} is {raw(out, name)[bad]:#x}, Meta's quantizer gives {codes.reshape(-1)[bad]:#x}")
        sname = name + "_scale"
        if out.shape(sname) != (codes.shape[0], 1) or not np.array_equal(raw(out, sname).view("<f4"), scales):
            sys.exit(f"fp8_check: {sname} differs from amax / 448")
        n_fp8 += 1
    if sorted(kept + ["lm_head"]) != sorted(q.get("modules_to_not_convert", [])):
        sys.exit("fp8_check: modules_to_not_convert does not list exactly the BF16 linear modules and lm_head")
    if n_fp8 == 0:
        sys.exit("fp8_check: no FP8 tensor")
    print(f"fp8_check: {n_fp8} FP8 tensors are Meta's quantize_fp8 of the source, bit for bit; "
          f"{len(kept)} BF16 modules unchanged")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
