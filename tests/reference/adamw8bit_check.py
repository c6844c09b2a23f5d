"""AdamW with blockwise 8-bit moments (herd's --optimizer adamw8bit, train/optimizer.h) in
numpy, written from the specification (bitsandbytes' AdamW8bit as its CPU path computes
it: create_dynamic_map, quantize_blockwise with block 256, the f32 AdamW update between
decoding and coding), against herd's steps byte for byte.

Every operation is one IEEE single-precision operation in both (herd's AdamW
kernels (kernels/adamw.h: the scalar reference and the AVX2 form, which herd_adamw_dump
runs both) use no fused multiply-add; numpy rounds each float32 operation), so the values,
codes and block scales must be equal, not close. The check covers: full blocks and a
tensor's shorter last block, a block whose gradient is always 0 (its moments stay 0:
absmax 0), gradients spanning ten decades (the map's small values), a tensor under 4096
elements (f32 moments, compared with plain AdamW), weight decay and a changing lr.
Negative controls: plain f32 AdamW's values and v coded through the signed map must differ.

usage: adamw8bit_check.py HERD_ADAMW_DUMP WORKDIR
"""
import os
import subprocess
import sys

import numpy as np

f32 = np.float32
BLOCK, MIN_8BIT = 256, 4096


def dynamic_map(signed):
    """bitsandbytes functional.create_dynamic_map(signed, max_exponent_bits=7, total_bits=8),
    in float64, rounded to float32 once."""
    data = []
    for i in range(7):
        items = 2 ** i + 1 if signed else 2 ** (i + 1) + 1
        b = np.linspace(0.1, 1.0, items)
        means = (b[:-1] + b[1:]) / 2.0
        data += list(10.0 ** (i - 6) * means)
        if signed:
            data += list(-(10.0 ** (i - 6)) * means)
    data += [0.0, 1.0]
    assert len(data) == 256
    return np.array(sorted(data), dtype=np.float64).astype(f32)


def quantize(x, qmap):
    """Block by block: absmax, then each element to the nearest map value of
    clamp(x * (1 / absmax), -1, 1), the first (lower) index on a tie; zero blocks to the map's 0."""
    codes = np.zeros(x.size, dtype=np.uint8)
    absmax = np.zeros((x.size + BLOCK - 1) // BLOCK, dtype=f32)
    zero = int(np.flatnonzero(qmap == 0)[0])
    for b in range(absmax.size):
        blk = x[b * BLOCK:(b + 1) * BLOCK]
        a = np.max(np.abs(blk))
        absmax[b] = a
        if a == 0:
            codes[b * BLOCK:(b + 1) * BLOCK] = zero
            continue
        s = np.clip(blk * (f32(1) / a), f32(-1), f32(1))
        codes[b * BLOCK:(b + 1) * BLOCK] = np.argmin(np.abs(s[:, None] - qmap[None, :]), axis=1)
    return codes, absmax


def dequantize(codes, absmax, qmap):
    return qmap[codes] * np.repeat(absmax, BLOCK)[:codes.size]


def adamw(p, g, m, v, k, lr, wd):
    """torch 1.13 AdamW's f32 element update, its scalars rounded to f32 as torch does."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    bc1, bc2 = 1 - b1 ** k, 1 - b2 ** k
    p = p * f32(1 - lr * wd)
    m = m * f32(b1) + f32(1 - b1) * g
    v = v * f32(b2) + f32(1 - b2) * g * g
    denom = np.sqrt(v) / f32(np.sqrt(bc2)) + f32(eps)
    p = p + -f32(lr / bc1) * (m / denom)
    return p, m, v


def main():
    dump, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(7)
    sizes = [3 * MIN_8BIT + 100, 1000, MIN_8BIT]
    steps, lr, wd = 5, 1e-2, 0.1
    with open(os.path.join(work, "spec.txt"), "w") as f:
        f.write(f"{steps} {lr!r} {wd!r} " + " ".join(map(str, sizes)) + "\n")
    ps, gs = [], []
    for i, n in enumerate(sizes):
        p = rng.standard_normal(n).astype(f32)
        p.tofile(os.path.join(work, f"p_{i}.f32"))
        ps.append(p)
        gs.append([])
        for k in range(steps):
            # Ten decades of magnitude; block 1 of tensor 0 stays 0 at every step.
            g = (rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 2, n)).astype(f32)
            if i == 0:
                g[BLOCK:2 * BLOCK] = 0
            g.tofile(os.path.join(work, f"g_{i}_{k}.f32"))
            gs[i].append(g)
    subprocess.run([dump, work], check=True)
    smap, umap = dynamic_map(True), dynamic_map(False)
    failures = 0
    for name, mine in (("map_signed", smap), ("map_unsigned", umap)):
        herd = np.fromfile(os.path.join(work, name + ".f32"), dtype=f32)
        if not np.array_equal(herd, mine):
            print(f"  {name}: differs at {np.flatnonzero(herd != mine)[:5]}")
            failures += 1
    state = 0
    for i, n in enumerate(sizes):
        p = ps[i].copy()
        eight = n >= MIN_8BIT
        if eight:
            qm, am = quantize(np.zeros(n, f32), smap)
            qv, av = quantize(np.zeros(n, f32), umap)
        else:
            m, v = np.zeros(n, f32), np.zeros(n, f32)
        for k in range(steps):
            step_lr = lr * (k + 1) / steps
            if eight:
                m, v = dequantize(qm, am, smap), dequantize(qv, av, umap)
            p, m, v = adamw(p, gs[i][k], m, v, k + 1, step_lr, wd)
            if eight:
                qm, am = quantize(m, smap)
                qv, av = quantize(v, umap)
        herd_p = np.fromfile(os.path.join(work, f"out_p_{i}.f32"), dtype=f32)
        want = [(qm, np.uint8), (am, f32), (qv, np.uint8), (av, f32)] if eight else [(m, f32), (v, f32)]
        got = []
        for arr, dt in want:
            got.append(np.fromfile(os.path.join(work, f"out_s_{state}.bin"), dtype=dt))
            state += 1
        bad = [j for j, ((w, _), h) in enumerate(zip(want, got)) if not np.array_equal(w, h)]
        ok = np.array_equal(herd_p, p) and not bad
        print(f"  tensor {i} ({n} elements, {'8-bit' if eight else 'f32'} moments): "
              f"values {'equal' if np.array_equal(herd_p, p) else 'DIFFER'}"
              f"{'' if not bad else f', state {bad} DIFFER'}")
        failures += 0 if ok else 1
        if i == 0:
            assert am[1] == 0 and av[1] == 0, "the zero-gradient block's moments moved"
            # Negative controls: plain f32 AdamW's values, and v coded through the signed
            # map, must both differ from herd's (the comparison sees the coding).
            pf, mf, vf = ps[i].copy(), np.zeros(n, f32), np.zeros(n, f32)
            for k in range(steps):
                pf, mf, vf = adamw(pf, gs[i][k], mf, vf, k + 1, lr * (k + 1) / steps, wd)
            qv_signed, _ = quantize(v, smap)
            if np.array_equal(pf, herd_p) or np.array_equal(qv_signed, got[2]):
                print("  negative control: f32 moments or a signed map for v gave herd's bytes")
                failures += 1

    print("adamw8bit_check:", "FAIL" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
