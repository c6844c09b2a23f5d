"""llama-perplexity's KL-divergence mode in float64, for testing `herd perplexity
--kl-divergence-base FILE [--kl-divergence]`.

    /usr/bin/python3 kld_ref.py BASE_MODEL OTHER_MODEL IDS_FILE N_CTX N_CHUNK BASE_FILE HERD_JSON

BASE_FILE: what `herd perplexity -m BASE_MODEL -f TEXT -c N_CTX --chunks N_CHUNK
--kl-divergence-base BASE_FILE` wrote; HERD_JSON: `herd perplexity -m OTHER_MODEL
--kl-divergence-base BASE_FILE --kl-divergence --json`. IDS_FILE: the text's ids, BOS first
(`herd tokenize --file`). Both runs with f32 paths and an f32 KV cache, so that herd's logits
are within 1e-4 of the logits' standard deviation of the float64 ones (the bound
check_models.py and perplexity_ref.py use).

The file is read here with its own parser (llama.cpp's layout, examples/perplexity: "_logits_",
uint32 n_ctx, int32 n_vocab, int32 n_chunk, the n_chunk * n_ctx token ids, then per chunk the
rows of positions n_ctx/2 .. n_ctx-2, each two float32 (scale, min_log_prob) and n_vocab uint16
padded to even; log p = scale * q + min_log_prob). Checks:
  * the header: n_ctx, n_vocab, n_chunk and the tokens (the text's first n_chunk * n_ctx ids);
    the file's size;
  * every row against the float64 log-softmax of BASE_MODEL (llama_ref.forward, each chunk with
    its first token replaced by BOS): above the row's floor (q > 0) |decoded - exact| <= scale/2
    + 2 tol (half a quantization step; tol = 1e-4 * the logits' std bounds herd's logit error,
    and the log-sum-exp moves by at most as much), at the floor (q == 0) exact <= decoded +
    scale/2 + 2 tol; scale <= 24 / 65535;
  * herd's statistics against the same rows and the float64 logits of OTHER_MODEL:
    mean KLD = mean over positions of sum_{lb > -16} exp(lb) (lb - log_softmax(other)), within
    2 tol (each log-prob moves by at most 2 tol, and the weights sum to at most 1); the mean NLL
    of OTHER within 2 tol; the base's mean NLL from the rows within 1e-6; the same-top fraction
    within the positions whose top two float64 logits of OTHER lie within 2 tol of each other;
  * negative controls: the reverse divergence KL(other || base), and the divergence without
    the e^-16 cut-off when that cut-off matters, must miss herd's figure by more than 2 tol.
"""
import json
import os
import sys

import numpy as np

import llama_ref


def log_softmax(l):
    mx = l.max(axis=-1, keepdims=True)
    return l - mx - np.log(np.exp(l - mx).sum(axis=-1, keepdims=True))


def read_base(path):
    raw = open(path, "rb").read()
    assert raw[:8] == b"_logits_", "magic"
    n_ctx = int(np.frombuffer(raw, np.uint32, 1, 8)[0])
    n_vocab, n_chunk = (int(v) for v in np.frombuffer(raw, np.int32, 2, 12))
    tokens = np.frombuffer(raw, np.int32, n_chunk * n_ctx, 20)
    nv = 2 * ((n_vocab + 1) // 2) + 4
    rows_per_chunk = n_ctx - 1 - n_ctx // 2
    off = 20 + 4 * n_chunk * n_ctx
    assert len(raw) == off + 2 * n_chunk * rows_per_chunk * nv, "file size"
    rows = np.frombuffer(raw, np.uint16, n_chunk * rows_per_chunk * nv, off).reshape(n_chunk, rows_per_chunk, nv)
    scale = rows[:, :, :4].copy().view(np.float32)[:, :, 0].astype(np.float64)
    min_lp = rows[:, :, :4].copy().view(np.float32)[:, :, 1].astype(np.float64)
    q = rows[:, :, 4:4 + n_vocab]
    # Decoded as a reader in float32 computes it (scale * q + min), then widened.
    lb = (rows[:, :, :4].copy().view(np.float32)[:, :, :1] * q.astype(np.float32)
          + rows[:, :, :4].copy().view(np.float32)[:, :, 1:2]).astype(np.float64)
    return n_ctx, n_vocab, n_chunk, tokens, scale, min_lp, q, lb


def main(argv):
    base_model, other_model, ids_path, n_ctx, n_chunk, base_path, herd_path = argv
    n_ctx, n_chunk = int(n_ctx), int(n_chunk)
    ids = [int(x) for x in open(ids_path).read().split()]
    herd = json.load(open(herd_path))
    kl = herd["kl_divergence"]
    f_ctx, f_vocab, f_chunk, tokens, scale, min_lp, q, lb = read_base(base_path)
    ok = True

    def check(cond, what):
        nonlocal ok
        if not cond:
            print("kld_ref: FAIL " + what)
            ok = False

    check(f_ctx == n_ctx and f_chunk == n_chunk, f"header n_ctx {f_ctx} n_chunk {f_chunk}")
    check(list(tokens) == ids[:n_chunk * n_ctx], "the tokens are the text's")
    first = n_ctx // 2
    bos = ids[0]
    mb, mo = llama_ref.Model(base_model), llama_ref.Model(other_model)
    worst_row, std_max = 0.0, 0.0
    kld, kld_rev, kld_nocut, nll, nll_base, same, near_ties, count = [], [], [], 0.0, 0.0, 0, 0, 0
    for c in range(n_chunk):
        chunk = list(ids[c * n_ctx:(c + 1) * n_ctx])
        chunk[0] = bos
        base_logits = llama_ref.forward(mb, chunk)[first:n_ctx - 1]
        other_logits = llama_ref.forward(mo, chunk)[first:n_ctx - 1]
        check(base_logits.shape[1] == f_vocab, f"vocabulary {f_vocab} vs the model's {base_logits.shape[1]}")
        std_max = max(std_max, float(base_logits.std(axis=1).max()), float(other_logits.std(axis=1).max()))
        lp_base = log_softmax(base_logits)
        lq = log_softmax(other_logits)
        tol = 1e-4 * std_max
        for r in range(n_ctx - 1 - first):
            row_lb = lb[c, r]
            above = q[c, r] > 0
            err = np.where(above, np.abs(row_lb - lp_base[r]), np.maximum(lp_base[r] - row_lb, 0.0))
            worst_row = max(worst_row, float((err / (scale[c, r] / 2 + 2 * tol)).max()))
            check(scale[c, r] <= 24 / 65535 * (1 + 1e-6), f"chunk {c} row {r}: scale {scale[c, r]}")
            cut = row_lb > -16
            pb = np.exp(row_lb)
            kld.append(float((pb[cut] * (row_lb[cut] - lq[r][cut])).sum()))
            kld_nocut.append(float((pb * (row_lb - lq[r])).sum()))
            kld_rev.append(float((np.exp(lq[r]) * (lq[r] - row_lb)).sum()))
            target = chunk[first + r + 1]
            nll += -lq[r][target]
            nll_base += -row_lb[target]
            top_q = int(np.argmax(other_logits[r]))
            same += top_q == int(np.argmax(row_lb))
            srt = np.sort(other_logits[r])
            near_ties += (srt[-1] - srt[-2]) <= 2 * tol
            count += 1
    tol = 1e-4 * std_max
    mean_kld = float(np.mean(kld))
    check(worst_row <= 1.0, f"a row's log-prob is {worst_row:.3g} x its bound off the float64 one")
    check(kl["scored_tokens"] == count, f"scored tokens {kl['scored_tokens']} vs {count}")
    check(abs(kl["mean_kld"] - mean_kld) <= 2 * tol, f"mean KLD herd {kl['mean_kld']} ref {mean_kld}")
    check(abs(kl["mean_nll"] - nll / count) <= 2 * tol, f"mean NLL herd {kl['mean_nll']} ref {nll / count}")
    check(abs(kl["mean_nll_base"] - nll_base / count) <= 1e-6, f"base NLL herd {kl['mean_nll_base']} ref {nll_base / count}")
    check(abs(kl["same_top"] * count - same) <= near_ties, f"same top herd {kl['same_top'] * count} ref {same}")
    for name, other in (("the reverse divergence", float(np.mean(kld_rev))),
                        ("the divergence without the e^-16 cut-off", float(np.mean(kld_nocut)))):
        if abs(other - kl["mean_kld"]) <= 2 * tol:
            if name.startswith("the reverse"):
                check(False, f"{name} gives {other:.9f}, within the tolerance: this check cannot tell it apart")
            else:
                print(f"kld_ref: note: {name} gives {other:.9f}, within the tolerance (the cut-off does not matter here)")
    print(f"kld_ref: {n_chunk} chunks, {count} rows within {worst_row:.3f} of their bound; mean KLD ref {mean_kld:.6f} "
          f"herd {kl['mean_kld']:.6f} (tolerance {2 * tol:.1e}; reverse {np.mean(kld_rev):.4f}); same top "
          f"{same}/{count}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
