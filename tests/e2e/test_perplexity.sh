#!/usr/bin/env bash
# ctest "e2e": herd perplexity.
#  - on an f32 model with an f32 KV cache, the chunk count, scored-token count and mean NLL
#    against tests/reference/perplexity_ref.py (llama-perplexity's method in float64, with its
#    derived tolerance and negative controls: without the BOS replacement, or scoring whole
#    chunks, the figure would differ);
#  - the default (f16 cache) output has llama-perplexity's lines: "[1]x,[2]y," and
#    "Final estimate: PPL = X +/- Y";
#  - a text shorter than two chunks, and a missing file, are refused;
#  - the KL-divergence mode (--kl-divergence-base FILE [--kl-divergence]): the base file of the
#    f32 model and the statistics of its Q4_0 round trip (quantized and written back as F32,
#    so both run on f32 paths) against tests/reference/kld_ref.py (llama.cpp's file layout
#    read by its own parser, every row and the KLD, NLLs and same-top figures in float64, a
#    reverse-divergence negative control); the model against its own file (KLD at the rows'
#    rounding); llama-perplexity's output lines; a failed base run leaves no file; truncated
#    or foreign files and --kl-divergence without a base are refused.
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")/.." && pwd)"
PY=/usr/bin/python3
tmp="$(mktemp -d /tmp/herd-ppl.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

"$H" make-model --shape tiny --dtype f32 --seed 3 -q -o "$tmp/m.gguf" 2>/dev/null || { fail make-model; exit 1; }
"$PY" "$here/reference/random_words.py" 700 7 > "$tmp/text.txt"
"$H" tokenize -m "$tmp/m.gguf" --file "$tmp/text.txt" > "$tmp/ids.txt"
if "$H" perplexity -m "$tmp/m.gguf" -f "$tmp/text.txt" -c 64 --chunks 5 --json -ctk f32 -ctv f32 > "$tmp/ppl.json" 2>"$tmp/err"; then
  out=$(cd "$here/reference" && "$PY" perplexity_ref.py "$tmp/m.gguf" "$tmp/ids.txt" 64 "$tmp/ppl.json" --chunks 5 2>&1) &&
    pass "against the float64 reference: $out" || fail "perplexity vs reference" "$out"
else
  fail "herd perplexity --json" "$(cat "$tmp/err")"
fi
out=$("$H" perplexity -m "$tmp/m.gguf" -f "$tmp/text.txt" -c 128 2>&1)
grep -q '^\[1\][0-9.]*,\[2\][0-9.]*,' <<<"$out" && grep -qE '^Final estimate: PPL = [0-9.]+ \+/- [0-9.]+$' <<<"$out" &&
  pass "llama-perplexity's output lines ($(grep Final <<<"$out"))" || fail "output lines" "$out"
head -c 200 "$tmp/text.txt" > "$tmp/short.txt"
out=$("$H" perplexity -m "$tmp/m.gguf" -f "$tmp/short.txt" -c 64 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "needs at least 128 (two chunks)" <<<"$out" && pass "a short text is refused" || fail "short text (exit $rc)" "$out"
out=$("$H" perplexity -m "$tmp/m.gguf" -f "$tmp/nope.txt" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "nope.txt" <<<"$out" && pass "a missing file is named" || fail "missing file (exit $rc)" "$out"

# KL divergence.
"$H" quantize "$tmp/m.gguf" "$tmp/q.gguf" q4_0 -q 2>/dev/null && "$H" quantize "$tmp/q.gguf" "$tmp/back.gguf" f32 -q --allow-requantize 2>/dev/null ||
  fail "quantize q4_0 and back to f32"
if "$H" perplexity -m "$tmp/m.gguf" -f "$tmp/text.txt" -c 64 --chunks 4 -ctk f32 -ctv f32 -q --kl-divergence-base "$tmp/base.kld" > "$tmp/base.out" 2>&1 &&
  "$H" perplexity -m "$tmp/back.gguf" --kl-divergence-base "$tmp/base.kld" --kl-divergence -ctk f32 -ctv f32 --json > "$tmp/kld.json" 2>"$tmp/err"; then
  out=$(cd "$here/reference" && "$PY" kld_ref.py "$tmp/m.gguf" "$tmp/back.gguf" "$tmp/ids.txt" 64 4 "$tmp/base.kld" "$tmp/kld.json" 2>&1) &&
    pass "KL divergence against the float64 reference: $(tail -1 <<<"$out")" || fail "KL divergence vs reference" "$out"
  grep -q "^Final estimate: PPL" "$tmp/base.out" && pass "the base run still reports its perplexity" || fail "base run output" "$(cat "$tmp/base.out")"
else
  fail "herd perplexity --kl-divergence-base" "$(cat "$tmp/base.out" "$tmp/err" 2>/dev/null)"
fi
# The model against its own file: the rows' rounding only (|KLD| <= half a step of at most 24/65535 nats).
out=$("$H" perplexity -m "$tmp/m.gguf" --kl-divergence-base "$tmp/base.kld" --kl-divergence -ctk f32 -ctv f32 --json 2>/dev/null |
  "$PY" -c "import json,sys; k=json.load(sys.stdin)['kl_divergence']; print(k['mean_kld'], k['same_top']); sys.exit(0 if abs(k['mean_kld']) < 2e-4 and k['same_top'] > 0.99 else 1)") &&
  pass "the base model against its own file: mean KLD, same top = $out" || fail "self KL divergence" "$out"
out=$("$H" perplexity -m "$tmp/back.gguf" --kl-divergence-base "$tmp/base.kld" --kl-divergence -ctk f32 -ctv f32 2>&1)
grep -q "KL Divergence" <<<"$out" && grep -qE '^   1 +[0-9.]+ ± ' <<<"$out" && grep -qE '^Mean    KLD: +[0-9.]+ ± ' <<<"$out" &&
  grep -qE '^Same top p: +[0-9.]+ ± ' <<<"$out" && grep -q "^99.9%   KLD:" <<<"$out" &&
  pass "llama-perplexity's KL-divergence lines ($(grep 'Mean    KLD' <<<"$out"))" || fail "KL-divergence output lines" "$out"
out=$("$H" perplexity -m "$tmp/m.gguf" -f "$tmp/short.txt" -c 64 --kl-divergence-base "$tmp/none.kld" 2>&1); rc=$?
[ $rc -ne 0 ] && [ ! -e "$tmp/none.kld" ] && [ ! -e "$tmp/none.kld.tmp" ] && pass "a failed base run leaves no file" ||
  fail "failed base run (exit $rc)" "$out $(ls "$tmp")"
head -c 100000 "$tmp/base.kld" > "$tmp/cut.kld"
out=$("$H" perplexity -m "$tmp/m.gguf" --kl-divergence-base "$tmp/cut.kld" --kl-divergence 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "cut.kld is 100000 bytes; its header" <<<"$out" && pass "a truncated base file is refused" ||
  fail "truncated base (exit $rc)" "$out"
out=$("$H" perplexity -m "$tmp/m.gguf" --kl-divergence-base "$tmp/text.txt" --kl-divergence 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "not a KL-divergence base file" <<<"$out" && pass "a text file as the base is refused" ||
  fail "foreign base (exit $rc)" "$out"
out=$("$H" perplexity -m "$tmp/m.gguf" --kl-divergence 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "needs --kl-divergence-base" <<<"$out" && pass "--kl-divergence without a base is refused" ||
  fail "--kl-divergence alone (exit $rc)" "$out"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all perplexity checks passed"
