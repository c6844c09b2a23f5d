"""llama-imatrix's statistics in float64, for testing `herd imatrix`.

    /usr/bin/python3 imatrix_ref.py MODEL IDS_FILE N_CTX BATCH HERD.dat [--process-output]

IDS_FILE: the text's token ids with BOS first (`herd tokenize --file`). The method, from
llama.cpp's examples/imatrix (compute_imatrix, collect_imatrix, save_imatrix): chunks of N_CTX
tokens, each evaluated alone with its first token replaced by BOS, in forward calls of BATCH
tokens, K and V rounded to f16 as their caches hold them; every call of 16 or more tokens adds, for each matrix blk.N.* (and output.weight with
--process-output), the squares of its input rows per column and counts one call; the file
holds sum / rows * ncall. Inputs come from llama_ref.forward (float64); a causal forward over a
whole chunk gives each row the input it has in any batching.

Checks (with imatrix_np.read): the same entries and ncall, and per column |herd - ref| <=
2 * 1e-4 * mean_t(|x_tj| * rms_t) * ncall + 1e-30, the move of a mean square when every
element moves by at most 1e-4 of its row's RMS (the logits-level bound check_models.py uses;
products of two such errors are far smaller). Negative control: the statistics without the
BOS replacement must fail the same check somewhere, or it could not tell them apart.
"""
import sys

import numpy as np

import imatrix_np
import llama_ref


def collect(m, ids, n_ctx, batch, process_output, bos_replaced):
    sums, bounds, calls = {}, {}, {}
    orig = m.linear
    for i in range(len(ids) // n_ctx):
        chunk = list(ids[i * n_ctx:(i + 1) * n_ctx])
        if bos_replaced:
            chunk[0] = ids[0]
        rows = {}

        def linear(x, name, rows=rows):
            rows[name] = x
            return orig(x, name)

        m.linear = linear
        llama_ref.forward(m, chunk, kv_type="f16")  # herd and llama-imatrix keep K/V in f16
        m.linear = orig
        for name, x in rows.items():
            if not (name.startswith("blk.") or (process_output and name == "output.weight")):
                continue
            rms = np.sqrt((x * x).mean(axis=1, keepdims=True))
            for b in range(0, n_ctx, batch):
                part = slice(b, min(b + batch, n_ctx))
                if part.stop - part.start < 16:
                    continue
                s = sums.setdefault(name, [np.zeros(x.shape[1]), 0])
                s[0] += (x[part] ** 2).sum(axis=0)
                s[1] += part.stop - part.start
                bounds.setdefault(name, np.zeros(x.shape[1]))
                bounds[name] += (np.abs(x[part]) * rms[part]).sum(axis=0)
                calls[name] = calls.get(name, 0) + 1
    return {n: (calls[n], s / r * calls[n], 2e-4 * bounds[n] / r * calls[n] + 1e-30) for n, (s, r) in sums.items()}


def check(herd, ref):
    if sorted(herd) != sorted(ref):
        return f"entries differ: {sorted(set(herd) ^ set(ref))[:4]}", 0.0
    worst = 0.0
    for name, (ncall, v, bound) in ref.items():
        hc, hv = herd[name]
        if hc != ncall or len(hv) != len(v):
            return f"{name}: ncall {hc} vs {ncall}", 0.0
        ratio = float(np.max(np.abs(hv - v) / bound))
        worst = max(worst, ratio)
        if ratio > 1:
            return f"{name}: beyond the bound ({ratio:.3g} of it)", worst
    return None, worst


def main(argv):
    model_path, ids_path, n_ctx, batch, herd_path = argv[0], argv[1], int(argv[2]), int(argv[3]), argv[4]
    process_output = "--process-output" in argv
    ids = [int(x) for x in open(ids_path).read().split()]
    m = llama_ref.Model(model_path)
    herd, chunks, _ = imatrix_np.read(herd_path)
    ref = collect(m, ids, n_ctx, batch, process_output, True)
    problem, worst = check(herd, ref)
    if problem:
        sys.exit(f"imatrix_ref: {problem}")
    control, _ = check(herd, collect(m, ids, n_ctx, batch, process_output, False))
    if control is None:
        sys.exit("imatrix_ref: the statistics without the BOS replacement also pass: this check cannot tell them apart")
    print(f"imatrix_ref: {len(ref)} entries, {chunks} chunks, ncall equal; worst error {worst:.3g} of its bound; "
          f"without the BOS replacement: {control}")


if __name__ == "__main__":
    main(sys.argv[1:])
