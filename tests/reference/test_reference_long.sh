#!/bin/bash
# ctest "reference": a real long-context check. An 8300-token prompt (BOS + deterministic varied
# ids) puts query-key distances past 8192, beyond the llama3 low-frequency wavelength threshold
# (original context / low_freq_factor = 8192), so the scaled low frequencies are exercised at
# distances where they matter, not only large absolute positions (which --pos-offset covers).
#
# For two 1-layer models, a tiny untied f16 GGUF (llama3 rope factor 8) and a tied bf16 Hugging
# Face directory (rope factor 32):
#   herd run --logits-last 8   vs   llama_ref.py --logits-last 8 (float64, chunked attention):
#     the last 8 positions' logits must agree within compare.py's tolerance (compare_logits.py);
#   negative control: herd sees only BOS + the last 8191 tokens (a model that cannot attend past
#     distance ~8192, like a 8192-entry ring-buffer KV cache); against the same reference this
#     must FAIL by more than 10x the tolerance, which proves the check can fail and that it sees
#     the keys at distances past 8192;
#   invariance: herd at --pos-offset 1 must still PASS. RoPE is relative and --pos-offset has
#     no prefix, so shifting every position by one cannot change the logits (beyond float32
#     rounding); it is not a usable negative control.
# Env: HERD_BIN (herd binary), PYTHON (python with numpy; default /usr/bin/python3).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
HERD="${HERD_BIN:-$HERE/../../build/herd}"
PY="${PYTHON:-/usr/bin/python3}"
N_LAST=8
TMP="$(mktemp -d /tmp/herd-long-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
start=$SECONDS

# BOS + 8299 varied ids; WINDOW: BOS + the last 8191 of them (same final tokens, shorter reach).
TOKENS="$("$PY" -c "print(','.join(['128000'] + [str((i * 7919 + 13) % 128000) for i in range(8299)]))")"
WINDOW="128000,$(echo "$TOKENS" | tr ',' '\n' | tail -n 8191 | paste -sd,)"

"$HERD" make-model --shape d_model=256,n_layers=1,n_heads=4,n_kv_heads=2,d_ff=512 --dtype f16 \
  -o "$TMP/tiny.gguf" -q 2>/dev/null
"$HERD" make-model --shape d_model=256,n_layers=1,n_heads=4,n_kv_heads=2,d_ff=512,tied=1,rope_factor=32 \
  --dtype bf16 --format hf -o "$TMP/tied-hf" -q 2>/dev/null

herd_logits() {  # MODEL OUT TOKENS [extra herd args...]
  local model="$1" out="$2" toks="$3"
  shift 3
  local t0=$SECONDS
  "$HERD" run -m "$model" --tokens "$toks" -n 0 -b 256 --logits-out "$out" --logits-last "$N_LAST" "$@" \
    --run-json "$out.run.json" 2>"$out.log" || { cat "$out.log"; return 1; }
  echo "  herd $(basename "$out") $*: $((SECONDS - t0)) s; $(grep -o 'prompt [0-9]* tokens in [0-9.]* s' "$out.log")"
}

# This test is about attention and RoPE at distances past 8192, so herd runs the F16/BF16
# matmuls on the f32 path: under the bf16 path (ISAs ref and avx512bf16) their rounding noise
# (compare.py --act-quant bf16, ~4x the f32 tolerance here) would leave the negative control
# failing by only 2-4x its tolerance instead of the required 10x. The bf16 path is checked
# against the reference by check_models.py. ISA: the best this host has below avx512bf16.
# The KV cache is f32 for the same reason (f16's rounding is checked by check_models.py).
F32_ISA=()
for isa in avx512vnni avx512 avx2; do
  if "$HERD" run -m "$TMP/tiny.gguf" --tokens 128000 -n 0 --isa "$isa" >/dev/null 2>&1; then
    F32_ISA=(--isa "$isa" -ctk f32 -ctv f32)
    break
  fi
done
failures=0
for case in tiny.gguf tied-hf; do
  model="$TMP/$case"
  echo "== $case: $(echo "$TOKENS" | tr ',' '\n' | wc -l)-token prompt, last $N_LAST positions"
  t0=$SECONDS
  "$PY" "$HERE/llama_ref.py" "$model" --tokens "$TOKENS" --logits-last "$N_LAST" \
    --logits-out "$TMP/$case.ref.npy" --taps-out "$TMP/$case.ref" >"$TMP/$case.ref.log"
  echo "  reference: $((SECONDS - t0)) s"
  herd_logits "$model" "$TMP/$case.herd.npy" "$TOKENS" "${F32_ISA[@]}"
  herd_logits "$model" "$TMP/$case.pos1.npy" "$TOKENS" --pos-offset 1 "${F32_ISA[@]}"
  herd_logits "$model" "$TMP/$case.window.npy" "$WINDOW" "${F32_ISA[@]}"
  # compare.py's budget for the matmul paths herd reports having taken (act_flags.py).
  flags="$("$PY" "$HERE/act_flags.py" "$TMP/$case.herd.npy.run.json")"
  # shellcheck disable=SC2086  # $flags is a list of options
  "$PY" "$HERE/compare_logits.py" "$TMP/$case.herd.npy" "$TMP/$case.ref" --label "$case herd" $flags \
    || failures=$((failures + 1))
  # shellcheck disable=SC2086
  "$PY" "$HERE/compare_logits.py" "$TMP/$case.pos1.npy" "$TMP/$case.ref" --label "$case herd --pos-offset 1" \
    $flags || failures=$((failures + 1))
  # shellcheck disable=SC2086
  "$PY" "$HERE/compare_logits.py" "$TMP/$case.window.npy" "$TMP/$case.ref" --expect-fail 10 $flags \
    --label "$case herd window 8192 (negative control)" || failures=$((failures + 1))
done
echo "total $((SECONDS - start)) s, $failures failure(s)"
[ "$failures" -eq 0 ]
