#!/usr/bin/python3
"""herd against the float64 numpy reference, over every dtype and both file formats.

For each case: `herd make-model` writes a small model (real tokenizer, real tensor names, the
given dtype and format) into a temporary directory; `herd run --taps-out --logits-out` and
`llama_ref.py --taps-out` evaluate the same prompt; compare.py checks every tap in forward order
with the derived tolerances (see its header) and names the first diverging layer and tap.
Quantized files are compared against the reference fed the dequantized weights (llama_ref.py
dequantizes them itself, with its own numpy dequantizers).

Then the exactness properties that need no reference, compared bit for bit:
  * prefill == decode: logits of the prompt evaluated in one batch equal those of the prompt
    evaluated one token at a time (every output element is one fixed-order reduction in herd);
  * 1 thread == 2 threads (static partition, no cross-thread reductions);
  * GGUF == HF: the same seed written as GGUF f32 (Meta row order, interleaved RoPE) and as an
    HF f32 directory (permuted q/k rows, rotate-half RoPE) gives the same logits up to float32
    rounding (the two RoPE formulas round differently: tolerance 1e-4 of the logits' std,
    ~100x the observed difference, far below any real mismatch such as a missing permutation,
    which changes logits by O(1)).

Usage: check_models.py [--quick] [--only SUBSTRING]   (HERD_BIN names the herd binary)
       check_models.py --model PATH   (one given model file or directory, e.g. a `herd quantize`
                                       output: herd against the reference on its weights)
                       [--kv-type T] [--herd-arg=ARG ...] [--ref-arg=ARG ...]   (herd's KV
                                       cache type, options for each side, e.g.
                                       --fp8-activations on both)
Exit 0 when every case passes.
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import compare
import llama_ref
from act_flags import act_flags

HERE = os.path.dirname(os.path.abspath(__file__))
HERD = os.environ.get("HERD_BIN", os.path.join(HERE, "..", "..", "build", "herd"))

ALL_ISAS = ["ref", "avx2", "avx512", "avx512vnni", "avx512bf16", "amx"]  # kernels/kernel_table.h all_isas()
TINY = "tiny"  # d_model 256, 2 layers, 4 heads, 2 kv heads, d_ff 512
TINY_SHAPE = "d_model=256,n_layers=2,n_heads=4,n_kv_heads=2,d_ff=512"  # the same, as a custom shape
TIED = "d_model=256,n_layers=2,n_heads=4,n_kv_heads=2,d_ff=512,tied=1,rope_factor=32"
# head_dim 128 (512 / 4) and 4 query heads per KV head, as the 8B's attention.
HD128 = "d_model=512,n_layers=2,n_heads=4,n_kv_heads=1,d_ff=1024"
# A 40-token prompt of varied ids, BOS first.
TOKENS = [128000] + [(i * 7919 + 13) % 128000 for i in range(39)]


def run(cmd, with_stderr=False, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
    return (r.stdout, r.stderr) if with_stderr else r.stdout


def in_process(main, argv):
    """A reference script's main(argv) run in this process, as its command line would run it
    (the ~0.3 s of a new interpreter and numpy import saved on each of ~100 calls): (exit
    status, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except Exception as e:  # noqa: BLE001 -- reported as the script's failure
            print("%s: %s" % (type(e).__name__, e))
            rc = 1
    return rc or 0, out.getvalue()


def reference(argv):
    """llama_ref.py with these arguments; raises on failure, as run() does."""
    rc, text = in_process(llama_ref.main, argv)
    if rc != 0:
        raise RuntimeError("llama_ref.py failed (%d): %s\n%s" % (rc, " ".join(argv), text))


def make(tmp, name, shape, dtype, fmt, seed=1):
    path = os.path.join(tmp, name + (".gguf" if fmt == "gguf" else ""))
    run([HERD, "make-model", "--shape", shape, "--dtype", dtype, "--format", fmt, "-o", path, "--seed",
         str(seed), "-q"])
    return path


def herd_logits(model, tokens, extra=(), env=None):
    with tempfile.NamedTemporaryFile(suffix=".npy") as f:
        run([HERD, "run", "-m", model, "--tokens", ",".join(map(str, tokens)), "-n", "0", "--logits-out",
             f.name] + list(extra), env=env)
        return np.load(f.name)


# kv: herd's KV cache type (-ctk/-ctv). For f16 the reference rounds its keys and values to
# float16 as herd stores them (llama_ref.py --kv-type f16), and compare.py adds the f16 cache's
# term to its budget (--kv-type f16: 2^-11 relative per stored element, entering the attention
# dots like activation rounding). Both are needed: herd's float32 keys and the reference's
# float64 keys round to the same f16 value except where they straddle a rounding boundary; such
# a flip is rare but is a whole f16 ulp (2^-10 relative) in one element, thousands of times the
# float32 budget, while the f16 term (every element off by up to half an ulp, as a random walk
# over head_dim elements) covers it. Emulating the rounding keeps the typical error far below
# that term, so the check is not dominated by it.
# q8_0 works the same way: the reference quantizes its float32-rounded keys and values to Q8_0
# blocks as herd's cache does, and compare.py's q8_0 term budgets the whole block rounding.
def reference_case(tmp, label, model, pos_offset=0, tokens=TOKENS, isa=None, dtype=None, kv="f16", refs=None,
                   herd_args=(), ref_args=()):
    """herd's taps against the reference's for one model, position and KV type. refs (a dict)
    keeps the reference's taps across cases: the reference does not depend on herd's ISA, so
    the cases that differ only in --isa share one reference run."""
    hd = os.path.join(tmp, label + ".herd")
    toks = ",".join(map(str, tokens))
    extra = (["--isa", isa] if isa else []) + ["-ctk", kv, "-ctv", kv]
    run([HERD, "run", "-m", model, "--tokens", toks, "-n", "0", "--taps-out", hd, "--pos-offset",
         str(pos_offset)] + extra + list(herd_args))
    key = (model, pos_offset, toks, kv)
    rd = refs.get(key) if refs is not None else None
    if rd is None:
        rd = os.path.join(tmp, label + ".ref")
        reference([model, "--tokens", toks, "--pos-offset", str(pos_offset),
                   "--logits-out", os.path.join(tmp, label + ".ref.npy"), "--taps-out", rd, "--kv-type", kv]
                  + list(ref_args))
        if refs is not None:
            refs[key] = rd
    act = act_flags(os.path.join(hd, "run.json"))
    rc, text = in_process(compare.main, [hd, rd, "--kv-type", kv] + act)
    last = (text.strip().splitlines() or ["(no output)"])[-1]
    return rc == 0, last, text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a representative subset (for sanitizer runs)")
    ap.add_argument("--only", default="")
    ap.add_argument("--model", help="check only this model (a GGUF file or an HF directory)")
    ap.add_argument("--kv-type", choices=["f16", "f32", "q8_0"], default="f16",
                    help="with --model: herd's KV cache type (the reference emulates it)")
    ap.add_argument("--herd-arg", action="append", default=[], metavar="ARG",
                    help="with --model: one more argument for herd run (repeatable)")
    ap.add_argument("--ref-arg", action="append", default=[], metavar="ARG",
                    help="with --model: one more argument for llama_ref.py (repeatable)")
    args = ap.parse_args()
    if (args.herd_arg or args.ref_arg) and not args.model:
        ap.error("--herd-arg and --ref-arg go with --model")
    if args.model:
        with tempfile.TemporaryDirectory(prefix="herd-ref-") as tmp:
            ok, last, full = reference_case(tmp, "model", args.model, kv=args.kv_type, herd_args=args.herd_arg,
                                            ref_args=args.ref_arg)
            print("%-24s %s  %s" % (os.path.basename(args.model), "ok  " if ok else "FAIL", last), flush=True)
            if not ok:
                print(full)
            return 0 if ok else 1

    gguf_dtypes = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k_s", "q5_k_s", "q6_k",
                   "q4_k_m", "q5_k_m"]
    hf_dtypes = ["f32", "f16", "bf16"]
    if args.quick:
        gguf_dtypes, hf_dtypes = ["f16", "q4_0", "q4_k_m"], ["bf16"]
    cases = []  # (label, shape, dtype, fmt, pos_offset, isa, kv)
    for d in gguf_dtypes:
        cases.append(("gguf-" + d, TINY, d, "gguf", 0, None, "f16"))
    for d in hf_dtypes:
        cases.append(("hf-" + d, TINY, d, "hf", 0, None, "f16"))
    special = [
        ("gguf-q4_0-tied", TIED, "q4_0", "gguf", 0, None, "f16"),
        ("hf-bf16-tied", TIED, "bf16", "hf", 0, None, "f16"),
        # Positions past 8192, where the llama3 frequency scaling and large angles matter.
        ("gguf-f16-pos10000", TINY, "f16", "gguf", 10000, None, "f16"),
        ("hf-bf16-tied-pos20000", TIED, "bf16", "hf", 20000, None, "f16"),
        ("gguf-q6_k-isa-ref", TINY, "q6_k", "gguf", 0, "ref", "f16"),
        # The bf16 path's specification (ISA ref) on every host, not only where AVX512_BF16 runs
        # it: F16 (weights rounded too) and BF16 weights, with compare.py's bf16 budget.
        ("gguf-f16-isa-ref", TINY, "f16", "gguf", 0, "ref", "f16"),
        ("hf-bf16-isa-ref", TINY, "bf16", "hf", 0, "ref", "f16"),
        # The exact f32 KV cache (-ctk f32 -ctv f32).
        ("gguf-f32-kv-f32", TINY, "f32", "gguf", 0, None, "f32"),
        ("gguf-q4_0-kv-f32", TINY, "q4_0", "gguf", 0, None, "f32"),
        # The q8_0 KV cache (-ctk q8_0 -ctv q8_0), the AVX2/AVX-512 kernels and the generic path.
        ("gguf-f16-kv-q8_0", TINY, "f16", "gguf", 0, None, "q8_0"),
        ("gguf-q4_k_m-kv-q8_0-isa-ref", TINY, "q4_k_m", "gguf", 0, "ref", "q8_0"),
        # HF's exact path: f32 weights, f32 KV cache.
        ("hf-f32-kv-f32", TINY, "f32", "hf", 0, None, "f32"),
        # The real head size 128 and 4:1 grouped-query attention (8B/70B/405B have 128 and 4:1..16:1).
        ("gguf-q8_0-hd128-gqa4", HD128, "q8_0", "gguf", 0, None, "f16"),
        ("hf-bf16-hd128-gqa4-pos9000", HD128, "bf16", "hf", 9000, None, "f16"),
    ]
    if args.quick:
        # The sanitizer run (tools/test.sh): one case per code path the special cases add
        # (ref kernels with the q8_0 cache, the f32 cache, a tied head at a long position,
        # head size 128 with 4:1 GQA), not every combination; the Release ctest runs them all.
        keep = {"gguf-q4_k_m-kv-q8_0-isa-ref", "gguf-f32-kv-f32", "hf-bf16-tied-pos20000", "gguf-q8_0-hd128-gqa4"}
        special = [c for c in special if c[0] in keep]
    cases += special
    failures = 0
    with tempfile.TemporaryDirectory(prefix="herd-ref-") as tmp:
        # Every ISA herd runs on this host, not only the best one the cases above get: the
        # integer (q4_0) and F16 paths of each (ref is pinned above). HERD_REQUIRE_ISAS
        # (tools/test.sh: every ISA the CPU reports) makes one herd cannot run a failure.
        if not args.quick:
            probe = make(tmp, "isa-probe", TINY, "q4_0", "gguf")
            required = [x for x in os.environ.get("HERD_REQUIRE_ISAS", "").split(",") if x]
            for isa in ALL_ISAS[1:]:
                ok = subprocess.run([HERD, "run", "-m", probe, "--tokens", "128000", "-n", "0", "--isa", isa],
                                    capture_output=True).returncode == 0
                print("%-24s %s" % ("isa " + isa, "runs here" if ok else "not on this host"), flush=True)
                if not ok:
                    if isa in required:
                        print("FAIL: HERD_REQUIRE_ISAS names %s but herd cannot run it" % isa)
                        failures += 1
                    continue
                cases.append(("gguf-q4_0-isa-" + isa, TINY, "q4_0", "gguf", 0, isa, "f16"))
                cases.append(("gguf-f16-isa-" + isa, TINY, "f16", "gguf", 0, isa, "f16"))
        # Cases that share a model file (same shape, dtype and format; the seed is always 1) are
        # run one after another on one written file, and share the reference's run where only
        # herd's ISA differs: make-model (K-quant search) and the float64 reference were most of
        # this test's time, and most cases are one file seen another way.
        groups = {}
        for c in cases:
            if args.only in c[0]:
                groups.setdefault(c[1:4], []).append(c)
        for (shape, dtype, fmt), group in groups.items():
            model = make(tmp, group[0][0], shape, dtype, fmt)
            refs = {}
            for label, _, _, _, pos, isa, kv in group:
                ok, last, full = reference_case(tmp, label, model, pos, isa=isa, dtype=dtype, kv=kv, refs=refs)
                print("%-24s %s  %s" % (label, "ok  " if ok else "FAIL", last), flush=True)
                if not ok:
                    failures += 1
                    print(full)
                subprocess.run(["rm", "-rf", os.path.join(tmp, label + ".herd")])
            subprocess.run(["rm", "-rf", model] + list(refs.values()))

        if args.only in "controls" and not args.quick:  # no --only, or a part of this block's name
            # A model whose RMSNorm epsilon, RoPE theta and llama3 factor are not Llama 3.1's
            # usual values (so a reader ignoring the file's and using those would fail), then
            # negative controls per budget class: the same herd taps against a reference
            # with the usual epsilon (1e-5 for the file's 1e-6), and against one whose layer
            # weights are 2% off, must both FAIL compare.py. Both formats: the values come from GGUF
            # metadata in one and from config.json in the other.
            odd = TINY_SHAPE + ",rms_eps=1e-6,rope_theta=100000,rope_factor=16"
            for fmt in ("gguf", "hf"):
                label = "odd-eps-theta-" + fmt
                model = make(tmp, label, odd, "f32", fmt)
                ok, last, full = reference_case(tmp, label, model, kv="f32")
                print("%-24s %s  %s" % (label, "ok  " if ok else "FAIL", last), flush=True)
                failures += 0 if ok else 1
                if not ok:
                    print(full)
                hd = os.path.join(tmp, label + ".herd")
                for control, extra in [("eps 1e-5", ["--override-eps", "1e-5"]),
                                       ("layer weights +2%", ["--perturb-weights", "0.02"])]:
                    rd = os.path.join(tmp, label + ".ctl")
                    reference([model, "--tokens", ",".join(map(str, TOKENS)),
                               "--logits-out", os.path.join(tmp, "ctl.npy"), "--taps-out", rd] + extra)
                    rc, text = in_process(compare.main, [hd, rd, "--kv-type", "f32"]
                                          + act_flags(os.path.join(hd, "run.json")))
                    caught = rc != 0
                    print("%-24s %s  negative control: reference with %s must fail (%s)" % (
                        label, "ok  " if caught else "FAIL", control,
                        (text.strip().splitlines() or ["?"])[-1]), flush=True)
                    failures += 0 if caught else 1

        # Not in the sanitizer subset (--quick): these two blocks check values (the rope
        # divisors written, two formats' logits) on code the cases above already run.
        if args.only in "rope_freqs" and not args.quick:  # no --only, or a part of this block's name
            # The llama3 RoPE divisors herd writes into GGUF (rope_freqs.weight) against the
            # reference's own formula from the scaling parameters make-model uses (low 1, high 4,
            # original context 8192), independently of herd's computation of them. f32 in the file.
            sys.path.insert(0, HERE)
            from gguf_np import GGUFFile
            from llama_ref import llama3_rope_divisors
            for label, shape, theta, hd, factor in [("tiny", TINY, 500000.0, 64, 8.0), ("tied", TIED, 500000.0, 64, 32.0),
                                                    ("odd", TINY_SHAPE + ",rope_theta=100000,rope_factor=16", 100000.0, 64, 16.0),
                                                    ("hd128", HD128, 500000.0, 128, 8.0)]:
                path = make(tmp, "rope-" + label, shape, "q8_0", "gguf")
                got = np.asarray(GGUFFile(path).get("rope_freqs.weight"), dtype=np.float64)
                want = llama3_rope_divisors(theta, hd, factor, 1.0, 4.0, 8192).astype(np.float32).astype(np.float64)
                rel = float(np.max(np.abs(got - want) / want)) if got.shape == want.shape else float("inf")
                ok = rel <= 2 ** -23  # one f32 rounding of the double formula
                print("%-24s %s  rope_freqs.weight vs the llama3 formula (max rel diff %.1e, %d divisors, %g..%g)" % (
                    "rope-" + label, "ok  " if ok else "FAIL", rel, got.size, got.min(), got.max()), flush=True)
                failures += 0 if ok else 1
                if label == "tied":  # negative control: the 3.1 factor (8) against the 3.2 file (32) must differ
                    wrong = llama3_rope_divisors(theta, hd, 8.0, 1.0, 4.0, 8192).astype(np.float32)
                    caught = not np.allclose(got, wrong, rtol=2 ** -23, atol=0)
                    print("%-24s %s  negative control: factor 8 must not match the factor-32 file" % (
                        "rope-" + label, "ok  " if caught else "FAIL"), flush=True)
                    failures += 0 if caught else 1
                os.remove(path)

        if args.only in "exact":  # no --only, or a part of this block's name
            # q4_k_m exercises the float-activation row dots, q4_0 the integer (q8) tiles, f16 the
            # bf16 tiles (where the CPU has AVX512_BF16; the f32 row dots elsewhere). Under the
            # sanitizers (--quick) one dtype: these are value checks, run on all three in Release;
            # under ASan what matters is the batch-size and thread-count code they drive, which
            # does not depend on the dtype (the three kernels run under ASan in the cases above).
            for dt in (["q4_0"] if args.quick else ["q4_k_m", "q4_0", "f16"]):
                model = make(tmp, "exact-" + dt, TINY, dt, "gguf")
                batch = herd_logits(model, TOKENS, ["-b", "64"])
                single = herd_logits(model, TOKENS, ["-b", "1"])
                t1 = herd_logits(model, TOKENS, ["-t", "1", "-b", "7"])
                t2 = herd_logits(model, TOKENS, ["-t", "2", "-b", "7"])
                for name, a, b in [("prefill == decode (bitwise)", batch, single),
                                   ("1 thread == 2 threads (bitwise)", t1, t2),
                                   ("batch 64 == batch 7 (bitwise)", batch, t1)]:
                    same = a.shape == b.shape and np.array_equal(a, b)
                    print("%-6s %-34s %s" % (dt, name, "ok" if same else "FAIL max diff %g" % np.max(np.abs(a - b))))
                    failures += 0 if same else 1

            if args.quick:
                print("%d failure(s)" % failures)
                return 1 if failures else 0
            g = herd_logits(make(tmp, "same-gguf", TINY, "f32", "gguf", seed=7), TOKENS)
            h = herd_logits(make(tmp, "same-hf", TINY, "f32", "hf", seed=7), TOKENS)
            rel = np.max(np.abs(g - h)) / np.std(g)
            ok = rel < 1e-4
            print("%-34s %s (max diff %.2e of the logits' std)" % ("GGUF f32 == HF f32 (same seed)", "ok" if ok else "FAIL", rel))
            failures += 0 if ok else 1
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
