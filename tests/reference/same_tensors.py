"""Whether two GGUF files hold the same tensors: names, ggml types, shapes and bytes.

    /usr/bin/python3 same_tensors.py A.gguf B.gguf [--except NAME,NAME]

Metadata is not compared (the tools that wrote them may order or name keys
differently). Exits 1 naming the first difference. Independent of herd's code.
"""
import sys

import numpy as np

from gguf_np import GGUFFile, GGML_TYPES


def raw(g, name):
    t = g.tensors[name]
    _, be, bb, _ = GGML_TYPES[t.type]
    n = int(np.prod(t.ne)) // be * bb
    start = g.data_start + t.offset
    return g._data[start:start + n]


def main(argv):
    skip = set(argv[argv.index("--except") + 1].split(",")) if "--except" in argv else set()
    a, b = GGUFFile(argv[0]), GGUFFile(argv[1])
    if sorted(a.tensors) != sorted(b.tensors):
        sys.exit(f"same_tensors: the tensor names differ: {sorted(set(a.tensors) ^ set(b.tensors))[:4]}")
    for name in a.tensors:
        if name in skip:
            continue
        ta, tb = a.tensors[name], b.tensors[name]
        if ta.type != tb.type or ta.ne != tb.ne or not np.array_equal(raw(a, name), raw(b, name)):
            sys.exit(f"same_tensors: {name} differs")
    print(f"same_tensors: {len(a.tensors) - len(skip)} tensors identical")


if __name__ == "__main__":
    main(sys.argv[1:])
