"""Checks a `herd export-lora` output against its base and a GGUF LoRA, independently of herd.

    /usr/bin/python3 lora_merge_check.py BASE.gguf ADAPTER.gguf MERGED.gguf

llama.cpp's GGUF LoRA: general.type "adapter", adapter.type "lora", adapter.lora.alpha;
for each adapted weight W [out, in] the tensors W.lora_a [rank, in] and W.lora_b [out, rank]
(PyTorch order), and the merged weight is W + alpha / rank * B @ A (llama-export-lora).
Here that sum is computed in float64 from the dequantized base; herd's merged tensor is
F16 (F32 stays F32) as llama-export-lora writes it, so each element may differ from the
float64 value by the f16 rounding, half an ulp: 2^-11 relative (2^-25 absolute for
subnormals), plus the float32 rounding of the sum before it (2^-24 relative), so the
bound is 2^-11 * |x| * (1 + 2^-12) + 2^-25, with a factor 2 for safety. Every tensor
without an adapter must be byte-identical to the base's, and the metadata the same
except general.file_type (1, F16).
"""
import sys

import numpy as np

from gguf_np import GGUFFile, GGML_TYPES


def main(base_path, lora_path, merged_path):
    base, lora, merged = GGUFFile(base_path), GGUFFile(lora_path), GGUFFile(merged_path)
    assert lora.metadata["general.type"] == "adapter" and lora.metadata["adapter.type"] == "lora"
    alpha = float(lora.metadata["adapter.lora.alpha"])
    for k, v in base.metadata.items():
        want = 1 if k == "general.file_type" else v
        if merged.metadata.get(k) != want:
            sys.exit(f"lora_merge_check: metadata {k} differs")
    n_merged, worst = 0, 0.0
    for name, ti in base.tensors.items():
        to = merged.tensors[name]
        if name + ".lora_a" not in lora.tensors:
            if to.type != ti.type or base.get(name).tobytes() != merged.get(name).tobytes():
                sys.exit(f"lora_merge_check: {name} has no adapter but changed")
            continue
        a, b = lora.get(name + ".lora_a"), lora.get(name + ".lora_b")
        want = base.get(name) + alpha / a.shape[0] * (b @ a)
        if GGML_TYPES[to.type][0] != ("F32" if GGML_TYPES[ti.type][0] == "F32" else "F16"):
            sys.exit(f"lora_merge_check: {name} is {GGML_TYPES[to.type][0]}")
        got = merged.get(name)
        bound = 2.0 * (2.0 ** -11 * np.abs(want) * (1 + 2.0 ** -12) + 2.0 ** -25)
        err = np.abs(got - want)
        if (err > bound).any():
            i = np.unravel_index(np.argmax(err - bound), err.shape)
            sys.exit(f"lora_merge_check: {name}{list(i)}: merged {got[i]!r}, expected {want[i]!r}")
        worst = max(worst, float((err / bound).max()))
        n_merged += 1
    if n_merged == 0:
        sys.exit("lora_merge_check: no adapted tensor")
    print(f"lora_merge_check: {n_merged} merged tensors within the f16 rounding bound (worst {worst:.2f} of it)")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
