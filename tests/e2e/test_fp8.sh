#!/usr/bin/env bash
# ctest "e2e": Meta's FP8 checkpoints (llama31.md 7.1) as Hugging Face ships them.
#  - herd convert --type fp8 (and herd quantize HF_DIR OUT fp8) from a BF16 directory writes
#    Meta's fp8_mixed layout: tests/reference/fp8_check.py re-derives every FP8 byte and row
#    scale with a numpy Meta quantizer and checks the layer selection and the config;
#  - make-model --dtype fp8 --format hf writes the same layout; the FP8 model runs and
#    every activation matches the float64 reference fed the dequantized weights (W = q *
#    scale; herd's documented emulation: weights FP8, activations f32);
#  - an FP8 model converts back to a BF16 GGUF that runs;
#  - refusals: FP8 in a GGUF, a missing or negative weight_scale, another quant_method.
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")/.." && pwd)"
PY=/usr/bin/python3
tmp="$(mktemp -d /tmp/herd-fp8.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }
shape="d_model=256,n_layers=4,n_heads=4,n_kv_heads=2,d_ff=512"

"$H" make-model --shape "$shape" --dtype bf16 --seed 4 --format hf -q -o "$tmp/bf16" 2>/dev/null || { fail make-model; exit 1; }
"$H" convert "$tmp/bf16" "$tmp/fp8" --type fp8 -q 2>/dev/null || fail "convert --type fp8"
out=$("$PY" "$here/reference/fp8_check.py" "$tmp/bf16" "$tmp/fp8" 2>&1) && pass "$out" || fail "fp8_check" "$out"
"$H" quantize "$tmp/bf16" "$tmp/fp8q" fp8 -q 2>/dev/null &&
  cmp -s "$tmp/fp8/model.safetensors" "$tmp/fp8q/model.safetensors" && pass "herd quantize HF_DIR OUT fp8: the same file" ||
  fail "quantize to fp8"

"$H" make-model --shape "$shape" --dtype fp8 --seed 4 --format hf -q -o "$tmp/made" 2>/dev/null || fail "make-model fp8"
out=$(HERD_BIN="$H" "$PY" "$here/reference/check_models.py" --model "$tmp/made" 2>&1) &&
  pass "FP8 model against the float64 reference: $(tail -1 <<<"$out" | sed 's/  */ /g')" || fail "FP8 vs reference" "$out"
out=$("$H" run -m "$tmp/fp8" -p "Hello" -n 4 --temp 0 2>&1) && pass "herd run on the FP8 directory" || fail "run FP8" "$out"
# Meta's dynamic FP8 activations (--fp8-activations; the quantizer and the product are checked
# bit-exactly and against a bound in tensor_test and kernels_test): the logits move off the
# weight-only ones, by less than the activations' e4m3 rounding can explain (2^-4 relative per
# element, through 2 of the 4 layers: well under 0.3 of the logits' spread), and a model
# without FP8 weights refuses the option.
"$H" run -m "$tmp/made" -p "The quick brown fox jumps" -n 0 --logits-out "$tmp/wo.npy" >/dev/null 2>&1 &&
  "$H" run -m "$tmp/made" -p "The quick brown fox jumps" -n 0 --logits-out "$tmp/dyn.npy" --fp8-activations >/dev/null 2>&1 &&
  out=$("$PY" -c "
import numpy as np, sys
a, b = np.load('$tmp/wo.npy').astype(np.float64), np.load('$tmp/dyn.npy').astype(np.float64)
rel = float(np.abs(a - b).max() / a.std(axis=1).min())
print(f'max |dynamic - weight-only| = {rel:.3g} of the logits spread')
sys.exit(0 if 0 < rel < 0.3 else 1)" 2>&1) && pass "--fp8-activations: $out" || fail "--fp8-activations" "${out:-run failed}"
expect_fail0() { local out rc; out=$("$@" 2>&1); rc=$?; [ $rc -ne 0 ] && grep -q "has no FP8 weights" <<<"$out"; }
expect_fail0 "$H" run -m "$tmp/bf16" -p hi -n 1 --fp8-activations && pass "--fp8-activations on a BF16 model is refused" ||
  fail "--fp8-activations on BF16"

"$H" convert "$tmp/fp8" "$tmp/back.gguf" -q 2>/dev/null &&
  "$PY" -c "
import sys; sys.path.insert(0, '$here/reference')
from gguf_np import GGUFFile, GGML_TYPES
g = GGUFFile('$tmp/back.gguf')
sys.exit(0 if GGML_TYPES[g.tensors['blk.1.ffn_up.weight'].type][0] == 'BF16' else 1)" &&
  "$H" run -m "$tmp/back.gguf" -p "Hello" -n 2 --temp 0 >/dev/null 2>&1 && pass "FP8 -> BF16 GGUF runs" || fail "FP8 -> GGUF"

expect_fail() {  # label, pattern, command...
  local label="$1" pat="$2" out rc; shift 2
  out=$("$@" 2>&1); rc=$?
  [ $rc -ne 0 ] && grep -q -- "$pat" <<<"$out" && pass "$label" || fail "$label (exit $rc)" "$out"
}
expect_fail "FP8 in a GGUF is refused" "GGUF cannot hold FP8" "$H" make-model --shape tiny --dtype fp8 -o "$tmp/x.gguf" -q
# Hostile directories: a scale removed, a scale made negative, another quantization method.
edit() {  # dir, python statements on (header dict h, data bytearray d, config dict c)
  cp -r "$tmp/made" "$1"
  "$PY" - "$1" "$2" <<'PY'
import json, struct, sys
d_ = sys.argv[1]
raw = open(d_ + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n]); d = bytearray(raw[8 + n:])
c = json.load(open(d_ + "/config.json"))
exec(sys.argv[2])
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
open(d_ + "/model.safetensors", "wb").write(struct.pack("<Q", len(hb)) + hb + bytes(d))
json.dump(c, open(d_ + "/config.json", "w"))
PY
}
edit "$tmp/noscale" 'del h["model.layers.1.mlp.up_proj.weight_scale"]'
expect_fail "a missing weight_scale is refused" "weight_scale" "$H" run -m "$tmp/noscale" -p hi -n 1
edit "$tmp/negscale" 'o = h["model.layers.2.mlp.down_proj.weight_scale"]["data_offsets"][0]; d[o:o+4] = struct.pack("<f", -1.0)'
expect_fail "a negative weight_scale is refused" "not a finite non-negative scale" "$H" run -m "$tmp/negscale" -p hi -n 1
edit "$tmp/awq" 'c["quantization_config"]["quant_method"] = "awq"'
expect_fail "another quant_method is refused" "quant_method 'awq' is not supported" "$H" run -m "$tmp/awq" -p hi -n 1

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all FP8 checks passed"
