#!/usr/bin/python3
"""Compare herd's logits for the last N prompt positions with the float64 reference's.

This file is for testing. It uses only numpy, the standard library and compare.py (whose header
derives the tolerance). Used by test_reference_long.sh, where the prompt is too long to write
every position's logits or to compare every tap.

Usage:
  /usr/bin/python3 tests/reference/compare_logits.py HERD.npy REF_DIR [--expect-fail MARGIN]
      [--act-quant none|q8|bf16] [--weight-round none|bf16]

  HERD.npy  `herd run ... --logits-out HERD.npy --logits-last N`, float32 [N, V]
  REF_DIR   `llama_ref.py ... --logits-last N --taps-out REF_DIR`: logits.npy [N, V] and
            ref_meta.json (dimensions, tokens, pos_offset, rho and score_rms for the tolerance)

The tolerance is compare.py's for the logits tap (depth L+1, float32 arithmetic, f32 KV cache,
safety factor 4, plus its activation/weight rounding terms when --act-quant / --weight-round say
herd used the q8 or bf16 matmul path): tol = 4 * E(L+1), where E includes u*sqrt(K)*rho per layer with K >= T (the
softmax(QK) @ V sums over all T keys) and the float32 RoPE-angle term u*(pos_offset+T). The error
is max |herd - ref| / std(ref row), over the N rows. Argmax must agree wherever the reference's
top-2 gap exceeds 2 * tol * std.

Exit 0 when within tolerance. With --expect-fail MARGIN (a negative control) exit 0 only when the
error exceeds MARGIN x the tolerance, i.e. the comparison fails by a wide margin.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import budgets, depth     # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("herd_npy")
    ap.add_argument("ref_dir")
    ap.add_argument("--expect-fail", type=float, default=None, metavar="MARGIN",
                    help="negative control: succeed only if error > MARGIN x tolerance")
    ap.add_argument("--label", default="")
    ap.add_argument("--act-quant", choices=["none", "q8", "bf16"], default="none")
    ap.add_argument("--weight-round", choices=["none", "bf16"], default="none")
    a = ap.parse_args(argv)

    with open(os.path.join(a.ref_dir, "ref_meta.json")) as f:
        meta = json.load(f)
    h = np.load(a.herd_npy).astype(np.float64)                          # [N, V]
    r = np.load(os.path.join(a.ref_dir, "logits.npy")).astype(np.float64)   # [N, V]
    if h.shape != r.shape:
        print(f"{a.label}: shape mismatch: herd {h.shape} vs ref {r.shape}  FAIL")
        return 1
    L, T = meta["L"], len(meta["tokens"])
    est, bound = budgets(meta, a.act_quant, "f32", a.weight_round)
    tol, bnd = 4.0 * est[depth("logits", L)], 4.0 * bound[depth("logits", L)]
    scale = np.maximum(r.std(axis=-1), 1e-30)                           # [N]
    rel_rows = np.abs(h - r).max(axis=-1) / scale                       # [N]
    rel = float(rel_rows.max()) if np.all(np.isfinite(h)) else float("inf")
    top2 = np.sort(r, axis=-1)[:, -2:]                                  # [N, 2]
    clear = (top2[:, 1] - top2[:, 0]) > 2 * tol * scale                 # [N]
    agree = np.argmax(h, -1) == np.argmax(r, -1)                        # [N]
    bad = np.nonzero(clear & ~agree)[0]
    ok = rel <= tol and len(bad) == 0
    n = h.shape[0]
    print(f"{a.label}: T={T} pos_offset(ref)={meta.get('pos_offset', 0)} last {n} positions "
          f"{T - n}..{T - 1}: max_rel {rel:.3e} (per row {', '.join(f'{x:.2e}' for x in rel_rows)}) "
          f"tol {tol:.3e} bound {bnd:.3e} error/tol {rel / tol:.3g}; argmax agrees at "
          f"{int(agree.sum())}/{n} ({int(clear.sum())} with a clear top-2 gap)"
          + (f"; ARGMAX MISMATCH at rows {bad.tolist()}" if len(bad) else ""))
    if a.expect_fail is None:
        print(f"{a.label}: {'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1
    wide = rel > a.expect_fail * tol
    print(f"{a.label}: negative control {'fails as required' if wide else 'DID NOT FAIL'} "
          f"(error/tol {rel / tol:.3g}, required > {a.expect_fail:g})")
    return 0 if wide else 1


if __name__ == "__main__":
    sys.exit(main())
