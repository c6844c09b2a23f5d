"""llama-imatrix's imatrix.dat, read with numpy; and two files compared.

    /usr/bin/python3 imatrix_np.py A.dat B.dat [--rtol X]

Format (llama.cpp examples/imatrix, save_imatrix): int32 n_entries; per entry int32 name
length, name, int32 ncall, int32 nval, nval float32 (sum of squares / count * ncall); then
int32 chunk count, int32 length and bytes of the dataset name. Entry order is not part of
the format (llama-imatrix writes hash-map order). The comparison: the same names, equal
ncall and nval, and every value within rtol (default 1e-3) of the other's, relative to the
entry's largest value. Prints the largest relative difference. Independent of herd's code.
"""
import struct
import sys

import numpy as np


def read(path):
    raw = open(path, "rb").read()
    at = 0

    def i32():
        nonlocal at
        v = struct.unpack_from("<i", raw, at)[0]
        at += 4
        return v

    entries = {}
    for _ in range(i32()):
        n = i32()
        name = raw[at:at + n].decode()
        at += n
        ncall, nval = i32(), i32()
        entries[name] = (ncall, np.frombuffer(raw, dtype="<f4", count=nval, offset=at).astype(np.float64))
        at += 4 * nval
    chunks = i32() if len(raw) - at >= 4 else None
    dataset = None
    if len(raw) - at >= 4:
        n = i32()
        dataset = raw[at:at + n].decode()
    return entries, chunks, dataset


def main(argv):
    rtol = float(argv[argv.index("--rtol") + 1]) if "--rtol" in argv else 1e-3
    (a, ca, _), (b, cb, _) = read(argv[0]), read(argv[1])
    if sorted(a) != sorted(b):
        sys.exit(f"imatrix_np: the entries differ: {sorted(set(a) ^ set(b))[:4]}")
    worst = 0.0
    for name, (ncall, v) in a.items():
        ncall2, w = b[name]
        if ncall != ncall2 or len(v) != len(w):
            sys.exit(f"imatrix_np: {name}: ncall {ncall} vs {ncall2}, {len(v)} vs {len(w)} values")
        rel = float(np.max(np.abs(v - w)) / max(np.max(np.abs(w)), 1e-30))
        worst = max(worst, rel)
        if rel > rtol:
            sys.exit(f"imatrix_np: {name}: values differ by {rel:.3g} of the largest (rtol {rtol})")
    print(f"imatrix_np: {len(a)} entries, chunks {ca} / {cb}, same ncall; largest relative difference {worst:.3g}")


if __name__ == "__main__":
    main(sys.argv[1:])
