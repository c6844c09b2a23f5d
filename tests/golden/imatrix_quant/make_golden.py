"""Writes weighted_rows.bin: llama-quantize --imatrix's bytes for a few rows, for
tensor/quant_test.cpp (WeightedQuantizers.MatchLlamaQuantize).

    /usr/bin/python3 make_golden.py SRC.gguf IMATRIX.dat OUT_DIR_WITH_l_TYPE.gguf TENSOR ROWS

SRC.gguf: an f16 model; l_<TYPE>.gguf: llama-quantize --imatrix IMATRIX.dat SRC.gguf
l_<TYPE>.gguf <TYPE> for TYPE in Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_M Q5_K_M Q6_K (TENSOR must be
in the file type's base type in each). Layout of the output (little-endian): int32 rows,
int32 cols; rows*cols float32 input (the f16 values, exact); cols float32 importance
(the entry's values / ncall, as llama-quantize uses them); then per type in that order
rows * row_bytes bytes.
"""
import struct
import sys

import numpy as np

sys.path.insert(0, "../../reference")
import imatrix_np  # noqa: E402
import same_tensors  # noqa: E402
from gguf_np import GGUFFile  # noqa: E402

src, imx, d, name, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
g = GGUFFile(src)
t = g.tensors[name]
cols = t.ne[0]
x = np.frombuffer(same_tensors.raw(g, name), dtype="<f2")[:rows * cols].astype(np.float32)
ncall, v = imatrix_np.read(imx)[0][name]
imp = (v.astype(np.float32) / np.float32(ncall)).astype("<f4")
out = struct.pack("<ii", rows, cols) + x.astype("<f4").tobytes() + imp.tobytes()
for typ in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_M", "Q5_K_M", "Q6_K"]:
    q = GGUFFile(f"{d}/l_{typ}.gguf")
    raw = same_tensors.raw(q, name)
    out += bytes(raw[:len(raw) // q.tensors[name].ne[1] * rows])
open("weighted_rows.bin", "wb").write(out)
print(f"weighted_rows.bin: {len(out)} bytes")
