#!/usr/bin/python3
"""compare.py's budget flags for the matmul arithmetic herd used, from herd's own report.

Usage: act_flags.py RUN_JSON   prints the flags (possibly none) on one line.
RUN_JSON is what `herd run --taps-out DIR` writes as DIR/run.json (or `herd run --run-json F`).
check_models.py and test_reference_long.sh both take their flags from here.
"""
import json
import sys


# The rounding herd's matmuls add, which compare.py must budget for, follows from the path each
# weight takes (kernels/ops.h MatmulPath). herd says which: `herd run --taps-out DIR` writes
# DIR/run.json with every weight's dtype and path, read here rather than inferred from a dtype or
# an ISA name in the log (a log-format change once silently dropped the bf16 budget on every
# AVX512_BF16 host).
#  * q8, q8_r8: integer dot products on 8-bit quantized activations (every quantized dtype, every
#    ISA including ref; all on the same 32-element activation blocks): --act-quant q8.
#  * bf16: F16/BF16 weights where the table has the bf16 path (ISA ref, the specification, and
#    avx512bf16): inputs rounded to bf16, and F16 weights too: --act-quant bf16
#    [--weight-round bf16].
#  * f32, f32_r8: float32 arithmetic, the default tolerance.
def act_flags(run_json):
    with open(run_json) as f:
        info = json.load(f)
    m = info["matmul"]
    weights = [m["output"]] + [w for layer in m["layers"] for w in layer.values()]
    paths = {w["path"] for w in weights}
    unknown = paths - {"q8", "q8_r8", "bf16", "f32", "f32_r8"}
    if unknown:
        raise RuntimeError("run.json names matmul paths this script has no budget for: %s" % sorted(unknown))
    q8 = bool(paths & {"q8", "q8_r8"})
    bf16 = [w for w in weights if w["path"] == "bf16"]
    if q8 and bf16:
        raise RuntimeError("a file with weights on both the q8 and the bf16 path: compare.py budgets one")
    if q8:
        return ["--act-quant", "q8"]
    if bf16:
        return ["--act-quant", "bf16"] + (["--weight-round", "bf16"] if any(w["dtype"] == "f16" for w in bf16) else [])
    return []


if __name__ == "__main__":
    print(" ".join(act_flags(sys.argv[1])))
