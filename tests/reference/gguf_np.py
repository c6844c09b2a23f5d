"""Minimal GGUF (v2/v3) reader and numpy dequantizers: part of herd's float64 reference.

This file is for testing. It does not depend on herd's C++ code: everything here comes
from the spec (/work/shared/spec/llama31.md sections 7.2 and 8) and the public GGUF
format. It uses only numpy and the standard library. Run it with /usr/bin/python3.

    g = GGUFFile("model.gguf")
    g.metadata["llama.embedding_length"]   # every value type, arrays nested as Python lists
    g.tensors["blk.0.attn_q.weight"]       # TensorInfo(name, ne, type, offset)
    g.get("blk.0.attn_q.weight")           # float64 ndarray in PyTorch order: [out, in]
    g.get("token_embd.weight", rows=[5, 9])  # only the listed rows (outermost index)

Dequantized values are returned as float64. Every value a GGUF block can hold is exact
in float64: fp16 d times a small integer, plus fp16 dmin times a small integer.
"""
import mmap
import struct
from collections import namedtuple

import numpy as np

GGUF_MAGIC = 0x46554747  # b"GGUF" read as a little-endian u32
DEFAULT_ALIGNMENT = 32

# Metadata value types (spec 8.1) -> struct format for the scalar types.
_SCALAR_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
               7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
T_STRING, T_ARRAY = 8, 9

TensorInfo = namedtuple("TensorInfo", "name ne type offset")


# ----------------------------------------------------------------------------------------------
# Dequantizers. Each takes raw bytes viewed as uint8 [nblocks, block_bytes] and returns
# float64 [nblocks, block_elems]. All of them are vectorised over blocks.
# ----------------------------------------------------------------------------------------------

def _f16(b):   # b: uint8 [n, 2] -> float64 [n]
    return np.ascontiguousarray(b).view("<f2")[:, 0].astype(np.float64)


def _u32(b):   # b: uint8 [n, 4] -> int64 [n]
    return np.ascontiguousarray(b).view("<u4")[:, 0].astype(np.int64)


def _nibbles(qs):  # qs: uint8 [n, 16] -> int64 [n, 32]: low nibbles first, then high nibbles
    return np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.int64)


def _bits32(qh):   # qh: int64 [n] -> int64 [n, 32]: bit j of qh at column j
    return (qh[:, None] >> np.arange(32)) & 1


def deq_f32(b):
    return np.ascontiguousarray(b).view("<f4").astype(np.float64)


def deq_f16(b):
    return np.ascontiguousarray(b).view("<f2").astype(np.float64)


def deq_bf16(b):  # bf16 = upper 16 bits of a float32
    u = np.ascontiguousarray(b).view("<u2").astype(np.uint32) << 16
    return u.view(np.float32).astype(np.float64)


def deq_q8_0(b):  # 34 B: d f16 @0, qs int8[32] @2
    d = _f16(b[:, 0:2])                                          # [n]
    qs = b[:, 2:34].view(np.int8).astype(np.float64)             # [n, 32]
    return d[:, None] * qs


def deq_q4_0(b):  # 18 B: d @0, qs u8[16] @2; q - 8
    d = _f16(b[:, 0:2])                                          # [n]
    return d[:, None] * (_nibbles(b[:, 2:18]) - 8)               # [n, 32]


def deq_q4_1(b):  # 20 B: d @0, m @2, qs u8[16] @4; q*d + m
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])                      # [n], [n]
    return d[:, None] * _nibbles(b[:, 4:20]) + m[:, None]        # [n, 32]


def deq_q5_0(b):  # 22 B: d @0, qh u32 @2, qs u8[16] @6; (q | hi<<4) - 16
    d = _f16(b[:, 0:2])                                          # [n]
    q = _nibbles(b[:, 6:22]) | (_bits32(_u32(b[:, 2:6])) << 4)   # [n, 32] in 0..31
    return d[:, None] * (q - 16)


def deq_q5_1(b):  # 24 B: d @0, m @2, qh u32 @4, qs u8[16] @8; q*d + m
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])                      # [n], [n]
    q = _nibbles(b[:, 8:24]) | (_bits32(_u32(b[:, 4:8])) << 4)   # [n, 32] in 0..31
    return d[:, None] * q + m[:, None]


def _k_scales_mins(s):  # s: uint8 [n, 12] -> (sc, mn) int64 [n, 8] each, 6-bit (spec Q4_K)
    s = s.astype(np.int64)
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 0xF) | ((s[:, 0:4] >> 6) << 4)], axis=1)
    mn = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], axis=1)
    return sc, mn


def deq_q4_k(b):  # 144 B: d @0, dmin @2, scales[12] @4, qs[128] @16
    n = b.shape[0]
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])                   # [n], [n]
    sc, mn = _k_scales_mins(b[:, 4:16])                          # [n, 8] sub-block j = 2c + half
    qs = b[:, 16:144].reshape(n, 4, 32).astype(np.int64)         # [n, chunk c, l]
    q = np.stack([qs & 0xF, qs >> 4], axis=2).reshape(n, 8, 32)  # [n, 8, 32]: low then high nibbles
    y = (d[:, None] * sc)[:, :, None] * q - (dmin[:, None] * mn)[:, :, None]
    return y.reshape(n, 256)


def deq_q5_k(b):  # 176 B: d @0, dmin @2, scales[12] @4, qh[32] @16, qs[128] @48
    n = b.shape[0]
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])                   # [n], [n]
    sc, mn = _k_scales_mins(b[:, 4:16])                          # [n, 8]
    qs = b[:, 48:176].reshape(n, 4, 32).astype(np.int64)         # [n, 4, 32]
    q = np.stack([qs & 0xF, qs >> 4], axis=2).reshape(n, 8, 32)  # [n, 8, 32]
    qh = b[:, 16:48].astype(np.int64)                            # [n, 32]
    hi = (qh[:, None, :] >> np.arange(8)[None, :, None]) & 1     # [n, 8, 32]: sub-block j uses bit j
    y = (d[:, None] * sc)[:, :, None] * (q + 16 * hi) - (dmin[:, None] * mn)[:, :, None]
    return y.reshape(n, 256)


def deq_q6_k(b):  # 210 B: ql[128] @0, qh[64] @128, scales int8[16] @192, d @208
    n = b.shape[0]
    ql = b[:, 0:128].reshape(n, 2, 64).astype(np.int32)          # [n, half, 64]
    qh = b[:, 128:192].reshape(n, 2, 32).astype(np.int32)        # [n, half, 32]
    sc = b[:, 192:208].view(np.int8).astype(np.float64)          # [n, 16]: one per 16 outputs
    d = _f16(b[:, 208:210])                                      # [n]
    lo, hi = ql[:, :, 0:32], ql[:, :, 32:64]                     # [n, 2, 32] each
    q = np.stack([(lo & 0xF) | (((qh >> 0) & 3) << 4),           # outputs base + l
                  (hi & 0xF) | (((qh >> 2) & 3) << 4),           # base + 32 + l
                  (lo >> 4) | (((qh >> 4) & 3) << 4),            # base + 64 + l
                  (hi >> 4) | (((qh >> 6) & 3) << 4)], axis=2)   # base + 96 + l -> [n, 2, 4, 32]
    q = q.reshape(n, 16, 16) - 32                                # [n, 16 groups, 16]
    return (d[:, None, None] * sc[:, :, None] * q).reshape(n, 256)


# ggml type id -> (name, elements per block, bytes per block, dequantizer)
GGML_TYPES = {
    0: ("F32", 1, 4, deq_f32),
    1: ("F16", 1, 2, deq_f16),
    2: ("Q4_0", 32, 18, deq_q4_0),
    3: ("Q4_1", 32, 20, deq_q4_1),
    6: ("Q5_0", 32, 22, deq_q5_0),
    7: ("Q5_1", 32, 24, deq_q5_1),
    8: ("Q8_0", 32, 34, deq_q8_0),
    12: ("Q4_K", 256, 144, deq_q4_k),
    13: ("Q5_K", 256, 176, deq_q5_k),
    14: ("Q6_K", 256, 210, deq_q6_k),
    30: ("BF16", 1, 2, deq_bf16),
}
TYPE_ID = {v[0]: k for k, v in GGML_TYPES.items()}


def dequantize(type_id, raw, n_elems):
    """raw: bytes-like holding n_elems values of ggml type type_id -> float64 [n_elems]."""
    name, be, bb, fn = GGML_TYPES[type_id]
    assert n_elems % be == 0, f"{name}: {n_elems} elements is not a whole number of blocks"
    b = np.frombuffer(raw, dtype=np.uint8, count=n_elems // be * bb).reshape(-1, bb)
    return fn(b).reshape(n_elems)


# ----------------------------------------------------------------------------------------------
# File reader
# ----------------------------------------------------------------------------------------------

class GGUFFile:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._pos = 0
        magic, self.version = self._read("<I"), self._read("<I")
        if magic != GGUF_MAGIC:
            raise ValueError(f"{path}: not a GGUF file (magic {magic:#x})")
        if self.version not in (2, 3):
            raise ValueError(f"{path}: unsupported GGUF version {self.version} "
                             "(big-endian files are not supported)")
        n_tensors, n_kv = self._read("<Q"), self._read("<Q")
        self.metadata = {}
        for _ in range(n_kv):
            key = self._string()
            self.metadata[key] = self._value(self._read("<I"))
        self.tensors = {}
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._read("<I")
            ne = [self._read("<Q") for _ in range(n_dims)]
            ttype, offset = self._read("<I"), self._read("<Q")
            self.tensors[name] = TensorInfo(name, ne, ttype, offset)
        self.alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        self.data_start = -(-self._pos // self.alignment) * self.alignment  # align up
        self._data = np.frombuffer(self._mm, dtype=np.uint8)

    # -- primitive readers --------------------------------------------------------------------
    def _read(self, fmt):
        (v,) = struct.unpack_from(fmt, self._mm, self._pos)
        self._pos += struct.calcsize(fmt)
        return v

    def _string(self):
        n = self._read("<Q")
        s = self._mm[self._pos:self._pos + n].decode("utf-8", errors="surrogateescape")
        self._pos += n
        return s

    def _value(self, vtype):
        if vtype == T_STRING:
            return self._string()
        if vtype == T_ARRAY:
            etype, count = self._read("<I"), self._read("<Q")
            if etype in _SCALAR_FMT:  # numeric arrays in one go
                dt = np.dtype(_SCALAR_FMT[etype])
                arr = np.frombuffer(self._mm, dtype=dt, count=count, offset=self._pos)
                self._pos += count * dt.itemsize
                return arr.tolist()
            if etype == T_STRING:  # the vocabulary and merges: ~400K strings, one tight loop
                mm, pos, out = self._mm, self._pos, []
                for _ in range(count):
                    n = int.from_bytes(mm[pos:pos + 8], "little")
                    out.append(mm[pos + 8:pos + 8 + n].decode("utf-8", errors="surrogateescape"))
                    pos += 8 + n
                self._pos = pos
                return out
            return [self._value(etype) for _ in range(count)]  # nested arrays
        if vtype in _SCALAR_FMT:
            return self._read(_SCALAR_FMT[vtype])
        raise ValueError(f"unknown GGUF metadata value type {vtype}")

    # -- tensors ------------------------------------------------------------------------------
    def shape(self, name):
        """PyTorch order (outermost first) = reversed GGUF ne."""
        return tuple(reversed(self.tensors[name].ne))

    def get(self, name, rows=None):
        """Tensor as float64 in PyTorch order. rows: optional index/slice on the outermost dim."""
        info = self.tensors[name]
        if info.type not in GGML_TYPES:
            raise ValueError(f"{name}: ggml type {info.type} not supported by the reference")
        tname, be, bb, fn = GGML_TYPES[info.type]
        shape = self.shape(name)
        ne0 = info.ne[0]
        assert ne0 % be == 0, f"{name}: ne[0]={ne0} not a multiple of {tname} block size {be}"
        row_bytes = ne0 // be * bb
        n_rows = int(np.prod(info.ne[1:], dtype=np.int64))
        start = self.data_start + info.offset
        raw = self._data[start:start + n_rows * row_bytes].reshape(n_rows, row_bytes)
        if rows is not None:
            assert len(shape) == 2, "rows= is only for 2-D tensors"
            raw = raw[rows]
            shape = (raw.shape[0],) + shape[1:]
        out = fn(raw.reshape(-1, bb))                              # [nblocks, be]
        return out.reshape(shape)


if __name__ == "__main__":  # tiny inspection tool: python3 gguf_np.py FILE.gguf
    import sys
    g = GGUFFile(sys.argv[1])
    print(f"GGUF v{g.version}, alignment {g.alignment}, data at {g.data_start}")
    for k, v in g.metadata.items():
        s = repr(v)
        print(f"  {k} = {s[:100]}{'...' if len(s) > 100 else ''}")
    for t in g.tensors.values():
        print(f"  {t.name:40s} {GGML_TYPES.get(t.type, ('type%d' % t.type,))[0]:5s} ne={t.ne}")
