#!/usr/bin/env bash
# ctest "e2e": herd perplexity.
#  - on an f32 model with an f32 KV cache, the chunk count, scored-token count and mean NLL
#    against tests/reference/perplexity_ref.py (llama-perplexity's method in float64, with its
#    derived tolerance and negative controls: without the BOS replacement, or scoring whole
#    chunks, the figure would differ);
#  - the default (f16 cache) output has llama-perplexity's lines: "[1]x,[2]y," and
#    "Final estimate: PPL = X +/- Y";
#  - a text shorter than two chunks, and a missing file, are refused.
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

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all perplexity checks passed"
