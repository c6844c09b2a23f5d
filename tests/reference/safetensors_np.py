"""Minimal Hugging Face checkpoint reader (safetensors + config.json): part of herd's float64 reference.

This file is for testing. It does not depend on herd's C++ code: it follows the public
safetensors format (spec /work/shared/spec/llama31.md section 9.1). It uses only numpy and the
standard library.

    d = HFDir("path/to/Llama-3.1-8B-Instruct")   # model.safetensors, or shards listed in
                                                   # model.safetensors.index.json
    d.config["hidden_size"]
    d.get("model.layers.0.self_attn.q_proj.weight")   # float64, PyTorch order, as stored
    d.get("model.embed_tokens.weight", rows=[1, 2])   # only some rows

Tensors are returned exactly as stored (no q/k un-permutation; llama_ref.py does that).
F32, F16, BF16, F64 and F8_E4M3 values are all exact in float64 (an FP8 weight times its f32 row
scale too: 4 + 24 significant bits).
"""
import glob
import json
import os

import numpy as np


def _bf16_to_f64(u16):  # u16: uint16 array -> float64 array (bf16 = upper half of a float32)
    return (u16.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def _f8_e4m3_to_f64(u8):  # float8_e4m3fn: bias 7, 3 mantissa bits, no infinities, NaN = S.1111.111
    u = u8.astype(np.int64)
    sign = np.where(u & 0x80, -1.0, 1.0)
    e, m = (u >> 3) & 15, u & 7
    mag = np.where(e == 0, m / 8.0 * 2.0 ** -6, (1 + m / 8.0) * 2.0 ** (e - 7))
    return np.where((e == 15) & (m == 7), np.nan, sign * mag)


_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "BF16": "<u2", "F8_E4M3": "u1"}


class SafetensorsFile:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n).decode("utf-8"))
        header.pop("__metadata__", None)
        self.header = header                    # name -> {"dtype", "shape", "data_offsets"}
        self.data_start = 8 + n
        self._mm = np.memmap(path, dtype=np.uint8, mode="r")

    def get(self, name, rows=None):
        h = self.header[name]
        if h["dtype"] not in _DTYPES:
            raise ValueError(f"{name}: dtype {h['dtype']} not supported by the reference")
        b0, b1 = h["data_offsets"]
        raw = self._mm[self.data_start + b0:self.data_start + b1]
        arr = raw.view(_DTYPES[h["dtype"]]).reshape(h["shape"])   # PyTorch order, no reversal
        if rows is not None:
            arr = arr[rows]
        if h["dtype"] == "BF16":
            return _bf16_to_f64(arr)
        if h["dtype"] == "F8_E4M3":
            return _f8_e4m3_to_f64(arr)
        return arr.astype(np.float64)


class HFDir:
    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "config.json")) as f:
            self.config = json.load(f)
        index = os.path.join(path, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                weight_map = json.load(f)["weight_map"]          # name -> shard file name
            files = {fn: SafetensorsFile(os.path.join(path, fn)) for fn in set(weight_map.values())}
            self._where = {name: files[fn] for name, fn in weight_map.items()}
        else:
            shards = sorted(glob.glob(os.path.join(path, "*.safetensors")))
            if not shards:
                raise FileNotFoundError(f"{path}: no model.safetensors or index file")
            self._where = {}
            for fn in shards:
                sf = SafetensorsFile(fn)
                for name in sf.header:
                    self._where[name] = sf

    def names(self):
        return list(self._where)

    def has(self, name):
        return name in self._where

    def shape(self, name):
        return tuple(self._where[name].header[name]["shape"])

    def dtype(self, name):
        """The stored dtype as the header names it ("F8_E4M3", "BF16", ...)."""
        return self._where[name].header[name]["dtype"]

    def get(self, name, rows=None):
        """float64 values; an F8_E4M3 weight (Meta's FP8, llama31.md 7.1) times its row scales
        "<name>_scale" [out, 1]."""
        w = self._where[name].get(name, rows)
        if self._where[name].header[name]["dtype"] == "F8_E4M3":
            s = self.get(name + "_scale").reshape(-1)
            w = w * (s if rows is None else s[rows]).reshape(-1, 1)
        return w
