#!/usr/bin/env bash
# ctest "e2e": herd convert between Hugging Face directories and GGUF.
#  - HF (bf16) -> GGUF -> HF gives back every file of the original, byte for byte
#    (safetensors, config.json, generation_config.json, tokenizer.json), and
#    tokenizer_config.json with its chat template (through tokenizer.chat_template);
#  - the GGUF from HF holds the tensors `make-model` writes for the same weights in
#    GGUF (Meta's q/k row order), and an HF -> GGUF conversion straight into a quantized
#    type equals converting to the float type and then `herd quantize` (llama-quantize's
#    bytes, tests/e2e/test_quantize.sh); `herd quantize HF_DIR` does the same;
#  - converted models against the float64 reference (tests/reference/check_models.py
#    --model): HF f32 -> GGUF, and a Q4_0 GGUF -> HF f32 (exact: f32 holds Q4_0 values);
#  - a quantized type for an HF output, and a non-empty output directory, are refused.
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")/.." && pwd)"
PY=/usr/bin/python3
tmp="$(mktemp -d /tmp/herd-convert.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }
run() { local out; out=$("$@" 2>&1) || { fail "$*" "$out"; return 1; }; }

"$H" make-model --shape tiny --dtype bf16 --seed 1 -q --format hf -o "$tmp/hf" 2>/dev/null || { fail make-model; exit 1; }
# A chat template, as the Instruct releases carry one.
"$PY" - "$tmp/hf/tokenizer_config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["chat_template"] = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endfor %}"
json.dump(c, open(p, "w"), indent=2, ensure_ascii=False)
PY
run "$H" convert "$tmp/hf" "$tmp/conv.gguf" -q && run "$H" convert "$tmp/conv.gguf" "$tmp/back" -q
# tokenizer_config.json was rewritten by Python above: compared as JSON, the rest byte for byte.
same=1
for f in "$tmp"/hf/*; do
  [ "$(basename "$f")" = tokenizer_config.json ] && continue
  cmp -s "$f" "$tmp/back/$(basename "$f")" || { same=0; fail "HF -> GGUF -> HF: $(basename "$f") differs"; }
done
"$PY" -c "import json, sys; sys.exit(json.load(open('$tmp/hf/tokenizer_config.json')) != json.load(open('$tmp/back/tokenizer_config.json')))" ||
  { same=0; fail "HF -> GGUF -> HF: tokenizer_config.json differs"; }
[ "$same" = 1 ] && pass "HF -> GGUF -> HF: every file identical ($(ls "$tmp/hf" | tr '\n' ' '); tokenizer_config.json as JSON)"
"$PY" -c "
import sys; sys.path.insert(0, '$here/reference')
from gguf_np import GGUFFile
import json
g = GGUFFile('$tmp/conv.gguf')
want = json.load(open('$tmp/hf/tokenizer_config.json'))['chat_template']
sys.exit(0 if g.metadata.get('tokenizer.chat_template') == want and g.metadata['general.file_type'] == 32 else 1)
" && pass "GGUF carries the chat template; general.file_type BF16" || fail "chat template / file type in the GGUF"

# The same weights written by make-model as GGUF: the same tensors (norms aside: make-model
# writes its GGUF norms from f32, its HF norms rounded to bf16).
"$H" make-model --shape tiny --dtype bf16 --seed 1 -q -o "$tmp/made.gguf" 2>/dev/null
norms="output_norm.weight"; for l in 0 1; do norms="$norms,blk.$l.attn_norm.weight,blk.$l.ffn_norm.weight"; done
out=$("$PY" "$here/reference/same_tensors.py" "$tmp/conv.gguf" "$tmp/made.gguf" --except "$norms" 2>&1) &&
  pass "HF -> GGUF: make-model's GGUF tensors ($out)" || fail "HF -> GGUF vs make-model's GGUF" "$out"

# Straight into Q4_K_M = to BF16, then herd quantize; herd quantize on the HF directory too.
run "$H" convert "$tmp/hf" "$tmp/direct.gguf" --type q4_k_m -q
run "$H" quantize "$tmp/conv.gguf" "$tmp/twostep.gguf" Q4_K_M -q
run "$H" quantize "$tmp/hf" "$tmp/fromhf.gguf" Q4_K_M -q
out=$("$PY" "$here/reference/same_tensors.py" "$tmp/direct.gguf" "$tmp/twostep.gguf" 2>&1) &&
  out2=$("$PY" "$here/reference/same_tensors.py" "$tmp/fromhf.gguf" "$tmp/twostep.gguf" 2>&1) &&
  pass "convert --type q4_k_m = convert + quantize = quantize HF_DIR ($out)" || fail "direct vs two-step Q4_K_M" "$out ${out2:-}"

# Against the reference: HF f32 -> GGUF (default type: the input's), Q4_0 GGUF -> HF (f32).
"$H" make-model --shape tiny --dtype f32 --seed 2 -q --format hf -o "$tmp/hf32" 2>/dev/null
run "$H" convert "$tmp/hf32" "$tmp/hf32.gguf" -q
"$H" make-model --shape tiny --dtype q4_0 --seed 3 -q -o "$tmp/q40.gguf" 2>/dev/null
run "$H" convert "$tmp/q40.gguf" "$tmp/q40-hf" -q
for m in "$tmp/hf32.gguf" "$tmp/q40-hf"; do
  out=$(HERD_BIN="$H" "$PY" "$here/reference/check_models.py" --model "$m" 2>&1) &&
    pass "$(basename "$m") against the float64 reference: $(tail -1 <<<"$out" | sed 's/  */ /g')" || fail "$(basename "$m") vs reference" "$out"
done
grep -q '"torch_dtype": "float32"' "$tmp/q40-hf/config.json" && pass "Q4_0 GGUF -> HF is f32 by default" || fail "Q4_0 -> HF dtype"

out=$("$H" convert "$tmp/conv.gguf" "$tmp/bad-hf" --type q4_0 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "holds f32, f16, bf16 or fp8" <<<"$out" && [ ! -e "$tmp/bad-hf" ] && pass "a quantized HF output is refused" ||
  fail "quantized HF output (exit $rc)" "$out"
out=$("$H" convert "$tmp/conv.gguf" "$tmp/back" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "not an empty directory" <<<"$out" && pass "a non-empty output directory is refused" ||
  fail "non-empty output directory (exit $rc)" "$out"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all convert checks passed"
