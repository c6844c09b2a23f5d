"""llama-perplexity's method in float64, for testing `herd perplexity`.

    /usr/bin/python3 perplexity_ref.py MODEL IDS_FILE N_CTX HERD_JSON [--chunks N]

IDS_FILE: the text's token ids with BOS first (whitespace-separated, as `herd tokenize
--file` prints them). HERD_JSON: `herd perplexity --json` output. The method, from
llama.cpp's examples/perplexity (perplexity()): n_chunk = len(ids) // N_CTX chunks of N_CTX
tokens; each evaluated alone with its first token replaced by BOS; the logits at positions
N_CTX//2 .. N_CTX-2 score the next token; NLL = -log_softmax; PPL = exp(mean NLL). Logits
come from llama_ref.forward (float64, the weights as herd reads them).

Checks: the chunk and scored-token counts exactly; |mean NLL - herd's| <= 2 * 1e-4 * the
largest per-position standard deviation of the logits. Why: a token's NLL moves by at most
2 * max_j |dlogit_j| when the logits move, and herd's f32 logits are within 1e-4 of the
logits' std of the float64 ones (the bound check_models.py uses, covering f32 rounding and
the RoPE formula difference; measured errors are far below it). Negative controls: the same
sums without the BOS replacement, and scoring whole chunks, must miss herd's figure by more
than the tolerance, or the check could not tell those methods apart and exits 1.
"""
import json
import sys

import numpy as np

import llama_ref


def nll_rows(logits, targets):  # logits [n, V], targets [n] -> NLL per row
    mx = logits.max(axis=1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1))
    return lse - logits[np.arange(len(targets)), targets]


def main(argv):
    model_path, ids_path, n_ctx, herd_path = argv[0], argv[1], int(argv[2]), argv[3]
    ids = [int(x) for x in open(ids_path).read().split()]
    herd = json.load(open(herd_path))
    m = llama_ref.Model(model_path)
    n_chunk = len(ids) // n_ctx
    if "--chunks" in argv:
        n_chunk = min(n_chunk, int(argv[argv.index("--chunks") + 1]))
    first = n_ctx // 2
    bos = ids[0]
    nll, nll_nobos, nll_whole, count, count_whole, std_max = 0.0, 0.0, 0.0, 0, 0, 0.0
    for i in range(n_chunk):
        chunk = list(ids[i * n_ctx:(i + 1) * n_ctx])
        raw = list(chunk)
        chunk[0] = bos
        logits = llama_ref.forward(m, chunk)                         # [n_ctx, V]
        std_max = max(std_max, float(logits.std(axis=1).max()))
        v = nll_rows(logits[first:n_ctx - 1], np.asarray(chunk[first + 1:]))
        nll += v.sum()
        count += len(v)
        nll_whole += nll_rows(logits[:n_ctx - 1], np.asarray(chunk[1:])).sum()
        count_whole += n_ctx - 1
        if raw[0] != bos:
            nll_nobos += nll_rows(llama_ref.forward(m, raw)[first:n_ctx - 1], np.asarray(chunk[first + 1:])).sum()
        else:
            nll_nobos += v.sum()
    mean = nll / count
    tol = 2 * 1e-4 * std_max
    got = herd["mean_nll"]
    print(f"perplexity_ref: {n_chunk} chunks, {count} scored tokens; mean NLL ref {mean:.9f} herd {got:.9f} "
          f"(|diff| {abs(mean - got):.2e}, tolerance {tol:.2e}); PPL ref {np.exp(mean):.6g} herd {herd['ppl']:.6g}")
    ok = herd["chunks"] == n_chunk and herd["scored_tokens"] == count and abs(mean - got) <= tol
    for name, other in (("without the BOS replacement", nll_nobos / count), ("scoring whole chunks", nll_whole / count_whole)):
        if abs(other - got) <= tol:
            print(f"perplexity_ref: the method {name} gives {other:.9f}, within the tolerance: this check cannot "
                  f"tell them apart")
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
