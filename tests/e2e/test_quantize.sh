#!/usr/bin/env bash
# ctest "e2e": herd quantize, checked by an independent reader
# (tests/reference/quantize_check.py: metadata and tensor order as llama-quantize
# writes them, each tensor's type from llama.cpp's mix rules, the bytes of ggml's
# reference quantizers for the legacy and float types, the K-quants within their
# error bounds):
#  - every file type from an F16 model of 16 layers (so the use_more_bits layers
#    and Q4_K_S's first layers show), Q4_K_M from BF16 and F32 sources, a tied
#    model (token_embd is the head) and an 80-layer GQA model (the 70B attn_v rule);
#  - a quantized file runs (herd run) and gives the numpy float64 reference's
#    taps and logits on its own weights (tests/reference/check_models.py --model);
#  - a quantized input is refused without --allow-requantize, an unknown type and the
#    tensor options on a Hugging Face directory are refused (HF input itself:
#    tests/e2e/test_convert.sh), and no output file is left behind.
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")/.." && pwd)"
check="$here/reference/quantize_check.py"
tmp="$(mktemp -d /tmp/herd-quantize.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

quant() {  # in, type, label
  local out="$tmp/out.gguf" log
  if ! log=$("$H" quantize "$1" "$out" "$2" -q 2>&1); then fail "$3: herd quantize" "$log"; return; fi
  if log=$(/usr/bin/python3 "$check" "$1" "$out" "$2" 2>&1); then pass "$3: $log"; else fail "$3" "$log"; fi
}

wide="d_model=256,n_layers=16,n_heads=4,n_kv_heads=2,d_ff=512"
"$H" make-model --shape "$wide" --dtype f16 -q -o "$tmp/f16.gguf" 2>/dev/null || { fail make-model; exit 1; }
for t in Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K F16 BF16 F32; do quant "$tmp/f16.gguf" "$t" "f16 -> $t"; done
for src in bf16 f32; do
  "$H" make-model --shape "$wide" --dtype "$src" -q -o "$tmp/$src.gguf" 2>/dev/null
  quant "$tmp/$src.gguf" Q4_K_M "$src -> Q4_K_M"
done
"$H" make-model --shape "d_model=256,n_layers=3,n_heads=4,n_kv_heads=2,d_ff=512,tied=1" --dtype f16 -q -o "$tmp/tied.gguf" 2>/dev/null
quant "$tmp/tied.gguf" Q4_0 "tied embeddings -> Q4_0"
"$H" make-model --shape "d_model=256,n_layers=80,n_heads=4,n_kv_heads=2,d_ff=256" --dtype f16 -q -o "$tmp/l80.gguf" 2>/dev/null
quant "$tmp/l80.gguf" Q4_K_S "80 layers, GQA -> Q4_K_S"

# The checker must be able to fail: a Q4_1 file is not what Q4_0 asks for.
"$H" quantize "$tmp/f16.gguf" "$tmp/q41.gguf" q4_1 -q 2>/dev/null
if /usr/bin/python3 "$check" "$tmp/f16.gguf" "$tmp/q41.gguf" Q4_0 >/dev/null 2>&1; then fail "checker accepts a Q4_1 file as Q4_0"
else pass "checker refuses a Q4_1 file checked as Q4_0"; fi

# A quantized file runs, and its logits are the reference's on the same weights.
"$H" quantize "$tmp/f16.gguf" "$tmp/q4km.gguf" Q4_K_M -q 2>/dev/null
if out=$("$H" run -m "$tmp/q4km.gguf" -p "Hello" -n 4 --temp 0 2>&1); then pass "herd run on the Q4_K_M output"
else fail "herd run on the Q4_K_M output" "$out"; fi
if out=$(HERD_BIN="$H" /usr/bin/python3 "$here/reference/check_models.py" --model "$tmp/q4km.gguf" 2>&1); then
  pass "Q4_K_M output: every tap matches the float64 reference ($(tail -1 <<<"$out"))"
else fail "Q4_K_M output: logits vs the reference" "$out"; fi

# Refusals, each leaving no file.
expect_refusal() {  # label, pattern, args...
  local label="$1" pat="$2"; shift 2
  rm -f "$tmp/bad.gguf" "$tmp/bad.gguf.tmp"
  local out rc
  out=$("$H" quantize "$@" 2>&1); rc=$?
  if [ $rc -ne 0 ] && grep -q -- "$pat" <<<"$out" && [ ! -e "$tmp/bad.gguf" ] && [ ! -e "$tmp/bad.gguf.tmp" ]; then pass "$label"
  else fail "$label (exit $rc)" "$out"; fi
}
expect_refusal "requantizing needs --allow-requantize" "allow-requantize" "$tmp/q4km.gguf" "$tmp/bad.gguf" Q4_0
expect_refusal "unknown type" "unknown type 'Q3_XX'" "$tmp/f16.gguf" "$tmp/bad.gguf" Q3_XX
"$H" make-model --shape tiny --dtype f16 --format hf -q -o "$tmp/hf" 2>/dev/null
expect_refusal "--pure on a Hugging Face directory" "need a GGUF input" "$tmp/hf" "$tmp/bad.gguf" Q8_0 --pure
printf 'GGUF\3\0\0\0garbage' > "$tmp/junk.gguf"
expect_refusal "a corrupt input" "junk.gguf" "$tmp/junk.gguf" "$tmp/bad.gguf" Q8_0
if "$H" quantize "$tmp/q4km.gguf" "$tmp/re.gguf" Q8_0 --allow-requantize -q 2>/dev/null &&
   /usr/bin/python3 "$check" "$tmp/q4km.gguf" "$tmp/re.gguf" Q8_0 >/dev/null; then pass "--allow-requantize Q4_K_M -> Q8_0"
else fail "--allow-requantize Q4_K_M -> Q8_0"; fi

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all quantize checks passed"
