#!/usr/bin/python3
"""herd's training gradients against PyTorch autograd in float64.

Usage: /usr/bin/python3 tests/reference/grad_check.py MODEL DUMPDIR [--negative-control] [--dpo | --kd | --full]
       /usr/bin/python3 tests/reference/grad_check.py --batch FILE

--batch runs many checks in one process (torch is imported once): each line of FILE is
"pass|fail TITLE|MODEL DUMPDIR [options]", the outcome expected ("fail": a negative control,
whose comparison must fail); the exit status is 1 when any check's outcome differs.

DUMPDIR holds what tests/reference/train_dump.cpp (herd_train_dump MODEL DUMPDIR) wrote: one
packed batch (tokens, labels, RoPE positions, each token's sequence start), rank-r LoRA adapters
(A [r, K], B [N, r], scale s) on the seven matrices of every layer, and herd's loss and
gradients. This script rebuilds the Llama 3.1 forward with those adapters in torch (float64;
weights dequantized exactly by the numpy reference's GGUF/HF readers, tests/reference/gguf_np.py
and safetensors_np.py; nothing of herd's C++ is used), takes
    loss = sum over counted positions t of (logsumexp(logits_t) - logits_t[label_t])
and compares torch's autograd gradients with herd's: every dA, dB and the gradient at the input
of layer 0.

Tolerance (per gradient tensor G, relative Frobenius error ||G_herd - G_torch|| / ||G_torch||):
herd computes in float32 (u = 2^-24) with every reduction in a fixed order, f32 or wider. A
reduction of m terms whose rounding errors behave as independent errors carries a relative error
of about u sqrt(m) kappa, kappa = sum |terms| / |sum| its conditioning; the largest m on every
gradient's path is the vocabulary (the cross-entropy's gradient sums V = 128256 rows), and the
backward composes about 8 such reductions per layer plus the head's. With kappa measured on the
gradient itself (kappa_G = ||(|terms|)|| / ||G|| is not available from autograd; we bound it by
the ratio of the loss gradient's mass to its net value at the head, sum|p - onehot| / ||p -
onehot||, at most 2 / ||p - onehot|| per position) the budget is
    tol = u sqrt(V) (8 L + 4) kappa_head,
about 1e-3 for the tiny model. A wrong formula (a missing LoRA scale, a transposed factor, a
sign, a leaked packing boundary) gives errors of order 1; --negative-control checks that the same
comparison fails when herd's dA of one adapter is compared with another's.

With --full, DUMPDIR is what train_dump --full wrote (full fine-tuning: no adapters, every weight
trained): the same forward without adapters, and every weight's gradient compared with the same
budget: each layer matrix's dW and its two norms', the final norm's, the head's and the embedding
table's (a tied model's table gets both the head's and the lookup's, as in herd: one tensor).
These are sums over the batch's tokens of products of the same backpropagated quantities the
adapters' gradients are made of (dA = s B^T dY^T X, dW = dY^T X), so the budget is the same;
--negative-control judges herd's dW of layer 0's wq as wk's transposed-shape sibling (the first
rows of wk's), which must fail.

train_dump's dropout folder (LoRA dropout) carries each adapter's factors [T, K] (0 or 1/(1 - p),
drawn by herd): the forward multiplies each adapter's input by them, as PEFT's lora_dropout does,
and the comparison is the one above; a factor dropped or kept in the wrong place changes the
adapters' gradients by far more than the budget (--negative-control: every mask one token late).

With --bf16, DUMPDIR is what train_dump --bf16 wrote (herd finetune --bf16: every product
through a model weight, the layers' and the head's, takes both operands rounded to bf16 with
f32 sums, and with --full the weights' gradients dY^T x; adapters stay f32): the forward rounds the same operands (x and
W before x W^T; dY and W before dY W in the backward, dY and x before dW = dY^T x with --full,
through an autograd Function; f64 -> f32
-> bf16, round to nearest even as herd rounds its f32 values), and the budget grows by what
rounding adds: where herd's and torch's operands differ by delta (relative) before rounding, a
value that close to a bf16 rounding boundary rounds the other way, with probability at most
2 delta / 2^-8 per element, and then moves by one bf16 step (2^-8 relative), so the flips leave
a relative rms error of at most sqrt(2 delta / 2^-8) 2^-8 = sqrt(2 delta 2^-8) after the
product. That error is the next product's delta: the flips cascade through the layers, and the
map delta -> sqrt(2 delta 2^-8) rises towards its fixed point 2 2^-8 = 2^-7 from below, so at
any depth rounding adds at most 2^-7: the budget is tol + 2^-7 (about 9e-3 for the tiny model),
the loss's likewise. It also checks that herd really rounded: its gradients are farther from the exact
(unrounded) reference than that reference's own budget tol allows.

With --dpo, DUMPDIR is one of train_dump's dpo_NAME folders: the loss is DPO's (dpo_loss below,
written from TRL's formulas) over two preference pairs, and the same comparison runs on it
(dpo_compare); its --negative-control swaps each pair's chosen and rejected reference log-probs.
With --kd, DUMPDIR is train_dump's kd folder: the loss is distillation's (kd_loss, top-k teacher
bins and a tail, temperature and CE mix) and the comparison is kd_compare's; its
--negative-control moves the teacher's rows one position late.
"""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import Model            # noqa: E402

try:
    import torch
except ImportError:
    print("grad_check: python3-torch is not installed (tools/setup.sh installs it)", file=sys.stderr)
    sys.exit(77)

def bf16(t):
    """t rounded as herd rounds an operand: to f32, then to bf16 (nearest even), back to f64."""
    return t.to(torch.float32).to(torch.bfloat16).to(torch.float64)


class Bf16Product(torch.autograd.Function):
    """y = bf16(x) bf16(W)^T; dx = bf16(dy) bf16(W); dW = bf16(dy)^T bf16(x) (full fine-tuning:
    herd's weight_grad under --bf16): the arithmetic of herd's bf16 products
    (kernels/matmul_bf16_products.cpp)."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return bf16(x) @ bf16(w).T

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        dx = bf16(dy) @ bf16(w) if ctx.needs_input_grad[0] else None
        dw = bf16(dy).T @ bf16(x) if ctx.needs_input_grad[1] else None
        return dx, dw


def bf16_budget(tol):
    """The exact budget plus what bf16 rounding flips add at any depth (module docstring)."""
    return tol + 2.0 ** -7


SLOTS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]  # herd's slot order
U = 2.0 ** -24


def load(d, name):
    return torch.from_numpy(np.load(os.path.join(d, name)).astype(np.float64))


def main(argv):
    model_path, d = argv[1], argv[2]
    negative = "--negative-control" in argv
    dpo = "--dpo" in argv
    kd = "--kd" in argv
    full = "--full" in argv
    rounded = "--bf16" in argv
    exact_reference = "--exact-reference" in argv  # rounding_seen's second pass: the gradients only
    m = Model(model_path)
    step = json.load(open(os.path.join(d, "dpo.json" if dpo else "kd.json" if kd else "step.json")))
    if not dpo and not kd and not exact_reference and bool(step.get("bf16", False)) != rounded:
        print(f"grad_check: the dump {'was' if step.get('bf16') else 'was not'} made with --bf16; "
              f"pass --bf16 {'too' if step.get('bf16') else 'only then'}")
        return 1
    if kd and negative:  # the teacher's rows one position late (a misaligned cache): must fail
        for key in ("ids", "logits", "lse"):
            step[key] = step[key][-1:] + step[key][:-1]
    if dpo and negative:  # each pair's chosen and rejected reference log-probs swapped: must fail
        r = step["ref"]
        step["ref"] = [r[1], r[0], r[3], r[2]]
    batch = np.load(os.path.join(d, "batch.npy")).astype(np.int64)
    tokens, labels, pos, first = batch
    T, D, H, KV, hd, L = len(tokens), m.D, m.H, m.KV, m.hd, m.L
    s = float(step["scale"])

    W = {}
    for l in range(L):
        b = f"blk.{l}."
        for name in ["attn_norm", "ffn_norm"]:
            W[b + name] = torch.from_numpy(m.get(b + name + ".weight"))
        for name in SLOTS:
            w = m.get(b + name + ".weight")
            if m.kind == "hf" and name in ("attn_q", "attn_k"):
                # herd runs an HF model with its rows as stored (HF's permuted q/k order, RoPE
                # on halves), and its adapters' B rows follow that order: so does this forward.
                w = m.src.get(f"model.layers.{l}.self_attn.{name[-1]}_proj.weight")
            W[b + name] = torch.from_numpy(w)
    out_norm = torch.from_numpy(m.get("output_norm.weight"))
    A, B = {}, {}
    if full:  # every weight trained; the lookup from the whole table, tied to the head when the model is
        for w in W.values():
            w.requires_grad_(True)
        out_norm.requires_grad_(True)
        table = torch.from_numpy(m.get("token_embd.weight")).requires_grad_(True)
        out_w = table if m.output_name == "token_embd.weight" else \
            torch.from_numpy(m.get(m.output_name)).requires_grad_(True)
        x0 = table[torch.from_numpy(tokens)]
        x0.retain_grad()
    else:
        emb = torch.from_numpy(m.get("token_embd.weight", rows=tokens))      # [T, D]
        out_w = torch.from_numpy(m.get(m.output_name))                       # [V, D]
        for l in range(L):
            for si in range(7):
                A[l, si] = load(d, f"a_{l}_{si}.npy").requires_grad_(True)
                B[l, si] = load(d, f"b_{l}_{si}.npy").requires_grad_(True)
        x0 = emb.clone().requires_grad_(True)

    ang = torch.from_numpy(pos.astype(np.float64))[:, None] * torch.from_numpy(m.inv_freq)[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)                                # [T, hd/2]
    j = torch.arange(T)
    allowed = (j[None, :] <= j[:, None]) & (j[None, :] >= torch.from_numpy(first)[:, None])  # [t, key]

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + m.eps) * w

    def rope(x):                                                             # [T, n, hd]
        c, sn = cos[:, None, :], sin[:, None, :]
        if m.kind == "hf":                                                   # pairs (x[i], x[i + hd/2])
            x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
            return torch.cat([x1 * c - x2 * sn, x1 * sn + x2 * c], dim=-1)
        xr, xi = x[..., 0::2], x[..., 1::2]                                  # Meta/GGUF: (x[2i], x[2i+1])
        return torch.stack([xr * c - xi * sn, xr * sn + xi * c], dim=-1).reshape(x.shape)

    masks = {}
    if "dropout" in step:  # LoRA dropout: each adapter saw its input times herd's factors
        masks = {(l, si): load(d, f"mask_{l}_{si}.npy") for l in range(L) for si in range(7)}
        if negative:  # each mask one token late: must fail
            masks = {k: torch.roll(v, 1, 0) for k, v in masks.items()}

    def prod(x, w):  # a product through a model weight
        return Bf16Product.apply(x, w) if rounded else x @ w.T

    def lin(x, l, si):
        w = W[f"blk.{l}.{SLOTS[si]}"]
        if full:
            return prod(x, w)
        xa = x * masks[l, si] if masks else x
        return prod(x, w) + s * (xa @ A[l, si].T) @ B[l, si].T

    def forward():
        x = x0
        for l in range(L):
            b = f"blk.{l}."
            h = rms(x, W[b + "attn_norm"])
            q = rope(lin(h, l, 0).reshape(T, H, hd))
            k = rope(lin(h, l, 1).reshape(T, KV, hd)).repeat_interleave(H // KV, dim=1)
            v = lin(h, l, 2).reshape(T, KV, hd).repeat_interleave(H // KV, dim=1)
            sc = torch.einsum("thd,jhd->htj", q, k) / math.sqrt(hd)
            sc = sc.masked_fill(~allowed[None], float("-inf"))
            o = torch.einsum("htj,jhd->thd", torch.softmax(sc, dim=-1), v).reshape(T, H * hd)
            x = x + lin(o, l, 3)
            h = rms(x, W[b + "ffn_norm"])
            g, u = lin(h, l, 4), lin(h, l, 5)
            x = x + lin(torch.nn.functional.silu(g) * u, l, 6)
        logits = prod(rms(x, out_norm), out_w)                                     # [T, V]
        lab = torch.from_numpy(labels)
        counted = lab >= 0
        lse = torch.logsumexp(logits, dim=-1)
        picked = logits.gather(1, lab.clamp(min=0)[:, None])[:, 0]
        nll = torch.where(counted, lse - picked, torch.zeros_like(lse))
        if kd:
            loss = kd_loss(step, logits, nll, counted)
        else:
            loss = dpo_loss(step, nll) if dpo else nll[counted].sum()
        return loss, logits, lab, counted

    loss, logits, lab, counted = forward()
    loss.backward()
    if dpo:
        return dpo_compare(d, step, loss, logits, lab, counted, A, B, L)
    if kd:
        return kd_compare(d, step, loss, logits, lab, counted, A, B, L)

    kappa, tol = head_tol(ce_head_grad(logits, lab, counted), L)
    exact_tol = tol
    V = logits.shape[1]
    loss_tol = U * math.sqrt(V) * (4 * L + 4) * max(1.0, abs(float(loss)))
    if rounded:
        tol = bf16_budget(tol)
        loss_tol = bf16_budget(loss_tol / max(1.0, abs(float(loss)))) * max(1.0, abs(float(loss)))
    print(f"grad_check{' --bf16' if rounded else ''}: T={T} L={L} V={V} loss torch {float(loss):.9g} "
          f"herd {step['loss_sum']:.9g}; kappa_head {kappa:.3g}, tol {tol:.3g}")
    failures = 0
    if not abs(float(loss) - step["loss_sum"]) <= loss_tol:
        print(f"  loss: |diff| {abs(float(loss) - step['loss_sum']):.3g} > {loss_tol:.3g}")
        failures += 1
    pairs = [("d_input", load(d, "d_input.npy"), x0.grad)]
    if full:
        pairs += weight_grads(d, W, out_norm, table, out_w, L)
        if negative:  # herd's dW of layer 0's wq judged as wk's (its first rows): must fail
            wk = W["blk.0.attn_k"].grad
            pairs = [("dW 0.attn_k <- herd's 0.attn_q", load(d, "dw_0_0.npy")[:wk.shape[0]], wk)]
    else:
        pairs += adapter_grads(d, A, B, L)
    if exact_reference:
        _REFERENCE.clear()
        _REFERENCE.update({name: want for name, _, want in pairs})
        return 0
    if negative and not full and not masks:  # herd's dA of layer 0's wq judged as if it were wk's: must fail
        pairs = [("dA 0.attn_k <- herd's 0.attn_q", load(d, "da_0_0.npy")[:, :A[0, 1].shape[1]], A[0, 1].grad)]
    failures += compare_grads("grad_check", pairs, tol)
    if rounded and not negative:
        failures += rounding_seen(argv, pairs, exact_tol)
    if not negative and not full and not masks:
        failures += adamw_steps(d, forward, A, B, tol)
    return 1 if failures else 0


_REFERENCE = {}  # name -> torch's gradient, from the last main(... --exact-reference)


def exact_grads(argv):
    main(argv + ["--exact-reference"])
    return dict(_REFERENCE)


def rounding_seen(argv, pairs, exact_tol):
    """herd's --bf16 gradients against the exact reference (the same check without --bf16):
    the worst relative error must exceed the exact budget, or herd did not round (1 if so)."""
    import io
    import contextlib
    herd = [(name, got) for name, got, _ in pairs]
    with contextlib.redirect_stdout(io.StringIO()):
        exact = exact_grads([a for a in argv if a != "--bf16"])
    worst = max(float((got - exact[name]).norm() / max(float(exact[name].norm()), 1e-300)) for name, got in herd)
    ok = worst > exact_tol
    print(f"  against the exact reference: worst relative error {worst:.3g} "
          f"({'above' if ok else 'NOT above'} its budget {exact_tol:.3g}: {'rounded' if ok else 'not rounded'})")
    return 0 if ok else 1


def dpo_loss(step, nll):
    """The summed DPO loss of the dump's two pairs (sequences 0/1 and 2/3) from the per-token NLL."""
    return dpo_loss_of_sums(step, [-nll[st:st + n].sum() for st, n, _ in step["seqs"]])


def dpo_loss_of_sums(step, logp):
    """The same from the four sequences' log-prob sums, written from the formulas TRL and
    torchtune use (spec/post-training-safety.md A2): sigmoid with label smoothing eps, IPO on
    per-token averages, plus rpo times the chosen completion's mean NLL."""
    beta, eps, rpo = step["beta"], step["eps"], step["rpo"]
    total = 0
    for k in range(2):
        (_, _, nc), (_, _, nr) = step["seqs"][2 * k], step["seqs"][2 * k + 1]
        pc, pr, rc, rr = logp[2 * k], logp[2 * k + 1], step["ref"][2 * k], step["ref"][2 * k + 1]
        if step["type"] == "ipo":
            h = (pc - rc) / nc - (pr - rr) / nr
            total = total + (h - 1 / (2 * beta)) ** 2
        else:
            h = (pc - rc) - (pr - rr)
            ls = torch.nn.functional.logsigmoid
            total = total - (1 - eps) * ls(beta * h) - eps * ls(-beta * h)
        total = total + rpo * (-pc / nc)
    return total


def ce_head_grad(logits, lab, counted):
    """d(summed cross-entropy)/d logits on the trained rows: softmax - onehot(label)."""
    p = torch.softmax(logits.detach(), dim=-1)
    onehot = torch.zeros_like(p)
    onehot[counted, lab[counted]] = 1.0
    return (p - onehot)[counted]


def head_tol(g, L):
    """The gradient budget u sqrt(V) (8 L + 4) kappa_head (module docstring), kappa_head
    = max over rows of |g|_1 / min of |g|_2 for the head gradient g [rows, V]."""
    kappa = float(g.abs().sum(-1).max() / g.norm(dim=-1).min())
    return kappa, U * math.sqrt(g.shape[1]) * (8 * L + 4) * kappa


def dpo_compare(d, step, loss, logits, lab, counted, A, B, L):
    """herd's DPO loss and adapter gradients against autograd's. The gradient is a weighted sum
    of the per-token cross-entropy gradients, one weight per sequence (w = d loss / d logp), so
    the cross-entropy budget of main() applies, times kappa_seq = sum |w| / |sum w| (at least
    1, at most 4 / max|w| * sum|w|): the chosen and rejected weights have opposite signs and
    their contributions partly cancel. The loss is a function of the four log-prob sums, each
    carrying the budget of a summed cross-entropy loss, so its error is at most
    sum |w_i| times that."""
    kappa, tol_ce = head_tol(ce_head_grad(logits, lab, counted), L)
    V = logits.shape[1]
    lg = logits.detach()
    nll = torch.where(counted, torch.logsumexp(lg, dim=-1) - lg.gather(1, lab.clamp(min=0)[:, None])[:, 0],
                      torch.zeros(lg.shape[0], dtype=lg.dtype))
    sums = torch.tensor([-float(nll[st:st + n].sum()) for st, n, _ in step["seqs"]], dtype=torch.float64,
                        requires_grad=True)
    w = torch.autograd.grad(dpo_loss_of_sums(step, sums), sums)[0]
    kappa_seq = float(w.abs().sum() / max(abs(float(w.sum())), float(w.abs().max())))
    tol = tol_ce * kappa_seq
    loss_tol = float(w.abs().sum()) * U * math.sqrt(V) * (4 * L + 4) * float(sums.detach().abs().max())
    print(f"grad_check --dpo ({step['type']}): loss torch {float(loss):.9g} herd {step['loss']:.9g}; "
          f"d loss/d logp {[round(float(x), 4) for x in w]}; kappa_seq {kappa_seq:.3g}, tol {tol:.3g}")
    failures = 0
    if not abs(float(loss) - step["loss"]) <= loss_tol:
        print(f"  loss: |diff| {abs(float(loss) - step['loss']):.3g} > {loss_tol:.3g}")
        failures += 1
    failures += compare_grads("grad_check --dpo", adapter_grads(d, A, B, L), tol)
    return 1 if failures else 0


def adapter_grads(d, A, B, L):
    """(name, herd's gradient, autograd's) for every adapter's dA and dB."""
    pairs = []
    for l in range(L):
        for si in range(7):
            pairs.append((f"dA {l}.{SLOTS[si]}", load(d, f"da_{l}_{si}.npy"), A[l, si].grad))
            pairs.append((f"dB {l}.{SLOTS[si]}", load(d, f"db_{l}_{si}.npy"), B[l, si].grad))
    return pairs


def weight_grads(d, W, out_norm, table, out_w, L):
    """(name, herd's gradient, autograd's) for every weight of a full fine-tuning step."""
    pairs = []
    for l in range(L):
        for si in range(7):
            pairs.append((f"dW {l}.{SLOTS[si]}", load(d, f"dw_{l}_{si}.npy"), W[f"blk.{l}.{SLOTS[si]}"].grad))
        pairs.append((f"d {l}.attn_norm", load(d, f"dnorm_{l}_attn.npy"), W[f"blk.{l}.attn_norm"].grad))
        pairs.append((f"d {l}.ffn_norm", load(d, f"dnorm_{l}_ffn.npy"), W[f"blk.{l}.ffn_norm"].grad))
    pairs.append(("d output_norm", load(d, "d_output_norm.npy"), out_norm.grad))
    pairs.append(("d token_embd", load(d, "d_tok_embd.npy"), table.grad))
    if out_w is not table:
        pairs.append(("d output", load(d, "d_output.npy"), out_w.grad))
    return pairs


def compare_grads(label, pairs, tol):
    """Relative Frobenius error of each gradient tensor against tol; the number outside."""
    worst, failures = 0.0, 0
    for name, got, want in pairs:
        e = float((got - want).norm() / max(float(want.norm()), 1e-300))
        worst = max(worst, e)
        if not e <= tol:
            print(f"  {name}: relative error {e:.3g} > {tol:.3g}")
            failures += 1
    print(f"{label}: {len(pairs)} gradient tensors, worst relative error {worst:.3g} "
          f"({worst / tol:.2g} of the tolerance), {failures} outside")
    return failures


def kd_loss(step, logits, nll, counted):
    """The distillation loss of train/distill.h, written from torchtune's KD recipe with the
    teacher binned as its top-k entries and a tail (spec A3): at each trained position (in
    order, the rows of kd.json) p_i = exp(teacher_logit_i / T - lse), tail = 1 - sum p_i, the
    student's log q = log_softmax(logits / T) and log q_tail = log sum over the unlisted ids;
    loss = sum (kd_ratio T^2 H(p, q) + (1 - kd_ratio) CE); with "reverse" in the dump, KL(q || p) over
    the same k + 1 bins in place of H(p, q) (written from its definition, sum_b q_b (log q_b - log p_b))."""
    T, a, k = step["temperature"], step["kd_ratio"], step["k"]
    rows = torch.nonzero(counted)[:, 0]
    total = (1 - a) * nll[counted].sum()
    for r, t in enumerate(rows.tolist()):
        ids = torch.tensor(step["ids"][r])
        p = torch.exp(torch.tensor(step["logits"][r], dtype=torch.float64) / T - step["lse"][r])
        logq = torch.log_softmax(logits[t] / T, dim=-1)
        mask = torch.ones_like(logq, dtype=torch.bool)
        mask[ids] = False
        logq_tail = torch.logsumexp(logq[mask], dim=-1)
        if step.get("reverse"):  # KL(q || p) over the k + 1 bins (p's tail floored as herd's kReverseKlFloor)
            logp = torch.cat([torch.log(p), torch.log(torch.clamp(1 - p.sum(), min=1e-20)).reshape(1)])
            logqb = torch.cat([logq[ids], logq_tail.reshape(1)])
            h = (torch.exp(logqb) * (logqb - logp)).sum()
        else:
            h = -(p * logq[ids]).sum() - (1 - p.sum()) * logq_tail
        total = total + a * T * T * h
    return total


def kd_compare(d, step, loss, logits, lab, counted, A, B, L):
    """herd's distillation loss and adapter gradients against autograd's, with main()'s budget
    u sqrt(V) (8 L + 4) kappa_head, kappa_head measured the same way on this loss's gradient at
    the logits (max over trained rows of |g|_1 / min of |g|_2); the loss within main()'s loss
    budget."""
    lg = logits.detach().clone().requires_grad_(True)
    nll = torch.where(counted, torch.logsumexp(lg, dim=-1) - lg.gather(1, lab.clamp(min=0)[:, None])[:, 0],
                      torch.zeros(lg.shape[0], dtype=lg.dtype))
    g = torch.autograd.grad(kd_loss(step, lg, nll, counted), lg)[0][counted]
    kappa, tol = head_tol(g, L)
    V = logits.shape[1]
    loss_tol = U * math.sqrt(V) * (4 * L + 4) * max(1.0, abs(float(loss)))
    print(f"grad_check --kd: loss torch {float(loss):.9g} herd {step['loss']:.9g}; kappa_head {kappa:.3g}, tol {tol:.3g}")
    failures = 0
    if not abs(float(loss) - step["loss"]) <= loss_tol:
        print(f"  loss: |diff| {abs(float(loss) - step['loss']):.3g} > {loss_tol:.3g}")
        failures += 1
    failures += compare_grads("grad_check --kd", adapter_grads(d, A, B, L), tol)
    return 1 if failures else 0


def adamw_steps(d, forward, A, B, tol):
    """llm.c's test: ten AdamW steps on the one batch (torch.optim.AdamW, float64, same lr and
    weight decay, from the same adapters) give the same mean losses as herd's (f32) ten steps.
    Each step's update is m / sqrt(v): relative gradient errors pass into it about 1:1, so after
    k steps the parameters, and through them the loss, carry at most about k times the gradient
    tolerance; the budget is 10 tol relative."""
    path = os.path.join(d, "steps.json")
    if not os.path.exists(path):
        return 0
    st = json.load(open(path))
    params = []
    for key in A:
        A[key].grad = None
        B[key].grad = None
        A[key].data = load(d, f"a_{key[0]}_{key[1]}.npy")
        B[key].data = load(d, f"b_{key[0]}_{key[1]}.npy")
        params += [A[key], B[key]]
    opt = torch.optim.AdamW(params, lr=st["lr"], weight_decay=st["weight_decay"])
    failures = 0
    for k, herd_loss in enumerate(st["losses"]):
        opt.zero_grad()
        loss, _, _, counted = forward()
        mean = loss / int(counted.sum())
        mean.backward()
        opt.step()
        e = abs(float(mean) - herd_loss) / abs(float(mean))
        ok = e <= 10 * tol
        failures += 0 if ok else 1
        print(f"  AdamW step {k + 1}: loss torch {float(mean):.9g} herd {herd_loss:.9g} (rel {e:.2g}){'' if ok else ' FAIL'}")
    return failures


def batch(path):
    """Every line's check in this process; 1 when any outcome is not the one expected."""
    import traceback
    bad = 0
    for line in open(path):
        if not line.strip():
            continue
        expect, rest = line.split(" ", 1)
        title, args = rest.split("|", 1)
        print(f"== {title.strip()}", flush=True)
        try:
            rc = main(["grad_check.py"] + args.split())
        except Exception:  # noqa: BLE001 - a crash is a failed check, reported, and the batch goes on
            traceback.print_exc()
            rc = 1
        if (rc == 0) != (expect == "pass"):
            print(f"grad_check: {title.strip()}: expected to {expect}, "
                  f"{'passed' if rc == 0 else 'failed'}" + (": the comparison cannot fail" if expect == "fail" else ""))
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(batch(sys.argv[2]) if sys.argv[1:2] == ["--batch"] else main(sys.argv))
