#!/usr/bin/env bash
# ctest "e2e": herd imatrix.
#  - the statistics of an f32 model against tests/reference/imatrix_ref.py (llama-imatrix's
#    method in float64: chunks, BOS per chunk, batches of -b tokens of which those under 16
#    count for nothing, sum / rows * ncall), with --process-output; the reference derives the
#    tolerance per column and has a negative control (without the BOS replacement it fails);
#  - -b 50 with -c 64 leaves a 14-token batch per chunk: skipped, as llama-imatrix skips it;
#  - the file is llama-imatrix's format (read by tests/reference/imatrix_np.py, independent
#    of herd); a short text and -b too small for any statistics are refused, leaving no file.
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")/.." && pwd)"
PY=/usr/bin/python3
tmp="$(mktemp -d /tmp/herd-imatrix.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

"$H" make-model --shape tiny --dtype f32 --seed 3 -q -o "$tmp/m.gguf" 2>/dev/null || { fail make-model; exit 1; }
"$PY" -c "
import random
random.seed(9)
w = 'the of and to in is was for on that with as by at from his her it an were are which this be or has'.split()
print(' '.join(random.choice(w) for _ in range(600)))" > "$tmp/text.txt"
"$H" tokenize -m "$tmp/m.gguf" --file "$tmp/text.txt" > "$tmp/ids.txt"
for b in 40 50; do
  if "$H" imatrix -m "$tmp/m.gguf" -f "$tmp/text.txt" -c 64 -b $b --chunks 6 --process-output -o "$tmp/b$b.dat" -q 2>"$tmp/err"; then
    head -n $((6 * 64)) <(tr ' ' '\n' < "$tmp/ids.txt") | tr '\n' ' ' > "$tmp/ids6.txt"
    out=$(cd "$here/reference" && "$PY" imatrix_ref.py "$tmp/m.gguf" "$tmp/ids6.txt" 64 $b "$tmp/b$b.dat" --process-output 2>&1) &&
      pass "-c 64 -b $b against the float64 reference: $out" || fail "-b $b vs reference" "$out"
  else
    fail "herd imatrix -b $b" "$(cat "$tmp/err")"
  fi
done
"$PY" -c "
import sys; sys.path.insert(0, '$here/reference')
import imatrix_np
e, chunks, name = imatrix_np.read('$tmp/b50.dat')
e40, _, _ = imatrix_np.read('$tmp/b40.dat')
ok = chunks == 6 and name.endswith('text.txt') and e['blk.0.attn_q.weight'][0] == 6 and e40['blk.0.attn_q.weight'][0] == 12
sys.exit(0 if ok else 1)" && pass "the trailer (6 chunks, the text's name); ncall 6 with -b 50 (tails skipped), 12 with -b 40" ||
  fail "imatrix trailer / ncall"

head -c 300 "$tmp/text.txt" > "$tmp/short.txt"
out=$("$H" imatrix -m "$tmp/m.gguf" -f "$tmp/short.txt" -c 64 -o "$tmp/short.dat" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "needs at least 128" <<<"$out" && [ ! -e "$tmp/short.dat" ] && pass "a short text is refused, no file" ||
  fail "short text (exit $rc)" "$out"
out=$("$H" imatrix -m "$tmp/m.gguf" -f "$tmp/text.txt" -c 64 -b 8 -o "$tmp/tiny.dat" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "16 tokens or more" <<<"$out" && [ ! -e "$tmp/tiny.dat" ] && pass "-b 8 (no batch of 16) is refused, no file" ||
  fail "-b 8 (exit $rc)" "$out"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all imatrix checks passed"
