#!/usr/bin/python3
"""Compare herd's taps with the float64 reference's, tap by tap in forward order.

This file is for testing. It does not depend on herd's C++ code. It uses only numpy and the
standard library.

Usage:
  /usr/bin/python3 tests/reference/compare.py HERD_DIR REF_DIR [--atol-scale X]
      [--act-quant none|q8|bf16] [--weight-round none|bf16] [--kv-type f32|f16|bf16|q8_0]
      [--allow-missing]

  HERD_DIR  written by `herd run --taps-out HERD_DIR` (float32 .npy, shape [T, ...])
  REF_DIR   written by `llama_ref.py MODEL --taps-out REF_DIR` (same names, plus ref_meta.json)
            Both runs must use the same model, tokens and --pos-offset.

For every tap it prints the max abs error and the max error relative to the tap's scale, and
whether that is within tolerance. Exit 0 if all taps pass. Otherwise exit 1, naming the FIRST
diverging tap (the earliest in forward order whose error exceeds its tolerance): the bug is at
or just before that tap. Logits are also checked for argmax agreement wherever the reference's
top-2 gap exceeds twice the tolerance.

How the tolerance is derived
----------------------------
Scale. Each tap is compared row by row (one row = one token position) relative to the scale of the
reference row: its RMS for hidden states, its standard deviation for logits. err_rel =
max |herd - ref| / scale over the whole tap. Normalising per row keeps positions with huge
activations (Llama's BOS "attention sink" rows) from hiding errors in ordinary rows.

What separates herd from the reference. The reference is fed exactly the weights herd uses
(F16/BF16 and quantized blocks are dequantized exactly into float64), so weight rounding is not
in the error (except the bf16 path's rounding of F16 weights, item 5). What remains is:
 1. float32 arithmetic with float32 accumulation. A dot product of length K has rounding error
    about sqrt(K) * u * sum_i |a_i b_i| (random-walk estimate, u = 2^-24), and at worst
    K * u * sum_i |a_i b_i| (the classical gamma_K bound). Relative to the result's scale this is
    u * sqrt(K) * rho, with rho = sum|a_i b_i| / |sum a_i b_i| measured by the reference for every
    matmul (ref_meta.json "rho", the norm ratio over the whole output; ~sqrt(K)·0.6 for
    incoherent vectors, larger where there is cancellation). K is the longest dot product in a
    layer: max(D, F, H*hd, T) (T: softmax(QK) @ V sums over the keys). Norms, softmax and RoPE
    add only a few u each, negligible next to this.
 2. optionally (--act-quant q8) 8-bit activations for integer dot products (Q8_0 style: per block
    of 32, d = amax/127, q = round(x/d)). Each activation then has error up to d/2 = amax/254,
    i.e. relative error up to 1/254 of its block's largest value. In a dot product these errors
    are independent and add as a random walk, just like the products themselves, so relative to
    the result's scale the error stays about crest/(127*sqrt(12)) per matmul, crest = amax/rms
    of a block (<= 4 here); a layer has 7 such matmuls, adding in quadrature (see Q8_LAYER_REL).
    Worst case: 7*sqrt(K)/254 · rho-like factors (all errors aligned), used only for the
    "beyond bound" label.
 3. RoPE angles p*f_i computed in float32: the angle is off by up to u*p radians (f_0 = 1), i.e.
    a relative error u*p in the rotated q and k. Negligible at small positions, but 6e-3 at
    p = 100000 (the --pos-offset tests), where it dominates the float32 budget.
 4. optionally (--kv-type f16/bf16) a reduced-precision KV cache: relative rounding 2^-11 / 2^-8
    per stored K/V element, entering the attention dots like activation rounding. A q8_0 cache
    (--kv-type q8_0) rounds each element to a multiple of its block's d = amax/127, as Q8_0
    activations (item 2): RMS error d/sqrt(12), i.e. crest/(127*sqrt(12)) relative to the block's
    RMS, for K and for V independently (sqrt(2) of it together, KV_REL["q8_0"]). The reference
    emulates the cache's rounding (llama_ref.py --kv-type), so what remains is the rare element
    whose float32 and float64 values round to different steps; the term budgets for the whole
    rounding, as the f16 one does.
 5. optionally (--act-quant bf16) the bf16 matmul path (src/kernels/kernel_table.h TileDotBf16Fn:
    F16/BF16 weights on CPUs with AVX512_BF16, and HERD_ISA=ref): every matmul input is rounded
    to bf16 (8 significant bits, round to nearest even), and with --weight-round bf16 (F16 files)
    every weight too; the products are exact and summed in float32, which item 1 already covers.
    One rounding is an absolute error uniform in [-ulp/2, ulp/2] with ulp <= 2^-7 |v|, so its
    relative error has RMS at most 2^-7/sqrt(12) = 2^-8/sqrt(3) (BF16_RMS_REL; the hard bound
    is 2^-8). In y_n = sum_i a_i b_i the relative errors of the n_r rounded operands (1 or 2) are
    independent across i, so the error of y_n has RMS BF16_RMS_REL * sqrt(n_r) * ||p_n||_2 with
    p_ni = a_i b_i, and relative to the tap's scale that is BF16_RMS_REL * sqrt(n_r) * kappa,
    kappa = sqrt(sum_n ||p_n||^2) / ||y||, which the reference measures for every matmul
    (ref_meta.json "kappa"; about 1 for incoherent vectors, larger where products cancel or a few
    large products dominate, e.g. activation outlier channels; 1 if not recorded). A layer adds
    its 7 matmuls in quadrature (independent inputs and weights), the LM head is one more; the
    worst case (all errors aligned) is n_r * 2^-8 * rho per matmul, added linearly. Unlike the q8
    term there is no block crest factor: bf16 rounding is relative to each value itself.
Attention amplification. An error of relative size e in q and k changes the scaled scores
s = q.k/sqrt(hd) by about e*|s| each, so about 2*e*|s| together, and softmax turns a score error
ds into a relative change ds of the probabilities. A layer's error is therefore multiplied by
A_l = 1 + 2*s_l, where s_l is the RMS of the layer's unmasked scaled scores, recorded by the
reference (ref_meta.json "score_rms"; typically 2-5). With Q8 activations this is what dominates.
Compounding. Layer l introduces e_l = A_l*(u*sqrt(K)*rho_l + u*(P0+T) (+ Q8_LAYER_REL for q8)
(+ the bf16 term) (+ kv term)), rho_l = the largest rho among the layer's matmuls, P0 = --pos-offset. The error carried by the residual stream is the sum of
the errors of all earlier layers, each passed on through the residual connection with gain about
1: independent errors add in quadrature, E(n) = sqrt(sum_{l<n} e_l^2) (estimate), and at worst
linearly, W(n) = sum_{l<n} w_l with w_l = A_l*(u*K*rho_l (+ 7*sqrt(K)/254 for q8)) (bound).
Tolerance. tol = S * E(n) with S = 4 * --atol-scale. The safety factor 4 covers the max over
all elements of a tap versus an RMS-type estimate (about 4-5 sigma for 10^6 elements), while the
sqrt(K)*u*sum|a_i b_i| estimate itself is already pessimistic for float32 sums (a float32 run of
the tiny self-test model lands at about 1-2% of tol; with Q8 activations at about 40%; on the
bf16 path at about 35%). The
printed "worst error/tolerance ratio" shows the headroom; tighten with --atol-scale < 1. A tap over tol FAILS; one also
over S * W(n) is labelled "beyond the worst-case rounding bound" (not explainable by rounding).
Depth n: tok_embd 1 (only the exact-dequantize + float32 store; e = u), layer l's taps l+1,
result_norm and logits L+1 (the LM head is a matmul of length D with its own rho).
"""
import argparse
import json
import math
import os
import sys

import numpy as np

U = 2.0 ** -24                                   # float32 unit roundoff
Q8_REL = 1.0 / 254                               # Q8_0 activation rounding relative to block amax
# Q8 activation error per layer, relative to the layer's output scale. One element's rounding
# error is uniform in [-d/2, d/2] with d = amax/127, so its RMS is amax/(127*sqrt(12)); relative
# to the activations' RMS that is crest/(127*sqrt(12)), crest = amax/rms of a block of 32. A dot
# product passes this relative error through (errors and products add as random walks alike).
# A layer quantizes the inputs of 7 matmuls (q, k, v, o, gate, up, down) whose errors are
# independent: sqrt(7) in quadrature. Crest factor: Gaussian blocks of 32 average 2.4, but
# w_down's input silu(g)*u is heavier-tailed (3.7 measured over 1e5 blocks); 4 bounds both.
Q8_CREST = 4.0
Q8_MATMULS_PER_LAYER = 7
Q8_LAYER_REL = math.sqrt(Q8_MATMULS_PER_LAYER) * Q8_CREST / (127 * math.sqrt(12))
KV_REL = {"f32": 0.0, "f16": 2.0 ** -11, "bf16": 2.0 ** -8,
          "q8_0": math.sqrt(2) * Q8_CREST / (127 * math.sqrt(12))}
# bf16 rounding of matmul operands (item 5 above): RMS bound of one relative rounding error, and
# its hard bound (bf16's unit roundoff).
BF16_RMS_REL = 2.0 ** -8 / math.sqrt(3)
BF16_REL = 2.0 ** -8
LAYER_MATMULS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def bf16_terms(meta, l, n_rounded):
    """(estimate, bound) of the bf16 rounding error that layer l (l == L: the LM head) adds,
    relative to its output scale, with n_rounded operands rounded per product (1 or 2)."""
    kappa, rho = meta.get("kappa") or {}, meta.get("rho") or {}
    if l < meta["L"]:
        names = [f"blk.{l}.{m}.weight" for m in LAYER_MATMULS]
    else:
        names = ["output.weight" if "output.weight" in rho else "token_embd.weight"]
    est = BF16_RMS_REL * math.sqrt(n_rounded) * math.sqrt(sum(kappa.get(n, 1.0) ** 2 for n in names))
    bnd = BF16_REL * n_rounded * sum(rho.get(n, math.sqrt(max(meta["D"], meta["F"]))) for n in names)
    return est, bnd


def tap_names(L):
    names = ["tok_embd"]
    for i in range(L):
        names += [f"blk.{i}.{t}" for t in ("attn_norm", "attn_out", "ffn_inp", "ffn_out", "out")]
    return names + ["result_norm", "logits"]


def budgets(meta, act_quant, kv_type, weight_round="none"):
    """Per-depth (estimate, bound) cumulative relative errors E(n), W(n) for n = 0..L+1."""
    D, F, L, T = meta["D"], meta["F"], meta["L"], len(meta["tokens"])
    K = max(D, F, meta["H"] * meta["hd"], T)
    rho = meta.get("rho") or {}
    score_rms = meta.get("score_rms") or {}
    rope_rel = U * (meta.get("pos_offset", 0) + T)   # float32 angle p*f rounding (f <= 1)
    default_rho = math.sqrt(K)                   # if the reference did not record rho
    est, bound = [U], [U]                        # n = 1: tok_embd
    for l in range(L + 1):
        if l < L:
            r = max([v for k, v in rho.items() if k.startswith(f"blk.{l}.")] or [default_rho])
            k = K
        else:                                    # LM head: one matmul of length D
            r = rho.get("output.weight", rho.get("token_embd.weight", default_rho))
            k = D
        e = U * math.sqrt(k) * r + (KV_REL[kv_type] + rope_rel) * (l < L)
        w = U * k * r + (KV_REL[kv_type] * math.sqrt(k) + rope_rel) * (l < L)
        if act_quant == "q8":
            e += Q8_LAYER_REL if l < L else Q8_CREST / (127 * math.sqrt(12))  # LM head: one matmul
            w += Q8_REL * math.sqrt(k) * (Q8_MATMULS_PER_LAYER if l < L else 1)
        elif act_quant == "bf16":
            be, bw = bf16_terms(meta, l, 2 if weight_round == "bf16" else 1)
            e, w = e + be, w + bw
        if l < L:                                # softmax amplification of errors in q and k
            amp = 1 + 2 * score_rms.get(str(l), 0.0)
            e, w = e * amp, w * amp
        est.append(math.sqrt(est[-1] ** 2 + e ** 2))
        bound.append(bound[-1] + w)
    return est, bound                            # index n = depth


def depth(name, L):
    if name == "tok_embd":
        return 0
    if name.startswith("blk."):
        return int(name.split(".")[1]) + 1
    return L + 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("herd_dir")
    ap.add_argument("ref_dir")
    ap.add_argument("--atol-scale", type=float, default=1.0, help="multiplies every tolerance")
    ap.add_argument("--act-quant", choices=["none", "q8", "bf16"], default="none",
                    help="herd quantized activations to 8 bits (Q8_0-style) for integer dots, or "
                         "rounded them to bf16 for the bf16 path (F16/BF16 weights)")
    ap.add_argument("--weight-round", choices=["none", "bf16"], default="none",
                    help="herd rounded the weights to bf16 too (F16 weights on the bf16 path)")
    ap.add_argument("--kv-type", choices=["f32", "f16", "bf16", "q8_0"], default="f32",
                    help="storage type of herd's KV cache")
    ap.add_argument("--last-rows", action="store_true",
                    help="herd wrote only the last rows of each tap: compare them with the reference's last rows")
    ap.add_argument("--allow-missing", action="store_true",
                    help="skip taps herd did not write (logits are always required)")
    a = ap.parse_args(argv)

    with open(os.path.join(a.ref_dir, "ref_meta.json")) as f:
        meta = json.load(f)
    L = meta["L"]
    est, bound = budgets(meta, a.act_quant, a.kv_type, a.weight_round)
    S = 4.0 * a.atol_scale
    print(f"model {meta.get('model')} L={L} D={meta['D']} F={meta['F']} T={len(meta['tokens'])} "
          f"act_quant={a.act_quant} weight_round={a.weight_round} kv={a.kv_type} safety={S:g}")
    print(f"{'tap':22s} {'max_abs':>10s} {'max_rel':>10s} {'tol_rel':>10s} {'bound':>10s}  status")
    first_fail, missing, worst = None, [], 0.0
    for name in tap_names(L):
        hp, rp = (os.path.join(d, name + ".npy") for d in (a.herd_dir, a.ref_dir))
        if not os.path.exists(hp):
            missing.append(name)
            print(f"{name:22s} {'':>10s} {'':>10s} {'':>10s} {'':>10s}  MISSING in herd dir")
            continue
        h = np.load(hp).astype(np.float64)
        r = np.load(rp).astype(np.float64)
        if a.last_rows and h.shape != r.shape and h.shape[1:] == r.shape[1:] and h.shape[0] < r.shape[0]:
            r = r[-h.shape[0]:]                  # asked for: herd wrote only the last rows
        # Otherwise every row must be there: comparing only what herd wrote would let a
        # run that dropped positions pass.
        if h.shape != r.shape:
            print(f"{name:22s} shape mismatch: herd {h.shape} vs ref {r.shape}  FAIL")
            first_fail = first_fail or (name, "shape mismatch")
            continue
        if name == "logits":
            scale = r.std(axis=-1, keepdims=True)                       # [T, 1]
        else:
            scale = np.sqrt(np.mean(r * r, axis=-1, keepdims=True))     # [T, 1]
        scale = np.maximum(scale, 1e-30)
        diff = np.abs(h - r)                                            # [T, ...]
        rel = float((diff / scale).max()) if np.all(np.isfinite(h)) else math.inf
        n = depth(name, L)
        tol, bnd = S * est[n], S * bound[n]
        ok = rel <= tol
        status = "ok" if ok else ("FAIL (beyond the worst-case rounding bound)" if rel > bnd
                                  else "FAIL")
        if name == "logits":
            top2 = np.sort(r, axis=-1)[:, -2:]                          # [T, 2]
            clear = (top2[:, 1] - top2[:, 0]) > 2 * tol * scale[:, 0]   # [T]
            agree = np.argmax(h, -1) == np.argmax(r, -1)                # [T]
            bad = np.nonzero(clear & ~agree)[0]
            status += f"; argmax agrees at {int(agree.sum())}/{len(agree)} positions " \
                      f"({int(clear.sum())} with a clear top-2 gap)"
            if len(bad):
                ok = False
                status += f"; ARGMAX MISMATCH at positions {bad.tolist()}"
        worst = max(worst, rel / tol)
        print(f"{name:22s} {float(diff.max()):10.3e} {rel:10.3e} {tol:10.3e} {bnd:10.3e}  {status}")
        if not ok and first_fail is None:
            first_fail = (name, f"rel error {rel:.3e} > tol {tol:.3e}")
    if "logits" in missing or (missing and not a.allow_missing):
        print(f"FAIL: herd did not write {missing}")
        return 1
    if first_fail:
        name, why = first_fail
        where = f"layer {name.split('.')[1]}, tap {name.split('.', 2)[2]}" \
            if name.startswith("blk.") else f"tap {name}"
        print(f"FAIL: first divergence at {where} ({name}): {why}")
        return 1
    print(f"PASS: all taps within tolerance (worst error/tolerance ratio {worst:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
