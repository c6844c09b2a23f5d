#!/usr/bin/env bash
# ctest "e2e": herd imatrix.
#  - the statistics of an f32 model against tests/reference/imatrix_ref.py (llama-imatrix's
#    method in float64: chunks, BOS per chunk, batches of -b tokens of which those under 16
#    count for nothing, sum / rows * ncall), with --process-output; the reference derives the
#    tolerance per column and has a negative control (without the BOS replacement it fails);
#  - -b 50 with -c 64 leaves a 14-token batch per chunk: skipped, as llama-imatrix skips it;
#  - the file is llama-imatrix's format (read by tests/reference/imatrix_np.py, independent
#    of herd); its GGUF format (-o x.gguf) read by gguf_np.py holds the same statistics as sums
#    and counts; a short text and -b too small for any statistics are refused, leaving no file;
#  - herd quantize --imatrix (either format): the matrices weighted, llama-quantize's Q4_0
#    ffn_down guard, and an imatrix of another model refused (the weighted bytes themselves:
#    tensor_test).
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
"$PY" "$here/reference/random_words.py" 600 9 > "$tmp/text.txt"
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

# The GGUF format (llama-imatrix's default, imatrix.gguf), read by gguf_np.py: general.type,
# datasets, chunk count and size; per matrix in_sum2 [1, n] and counts [1, 1], sorted by name;
# in_sum2 / counts (what llama-quantize weights with) equal to the .dat file's values / ncall
# within f32 rounding; --output-format dat writes the .dat whatever the name.
if "$H" imatrix -m "$tmp/m.gguf" -f "$tmp/text.txt" -c 64 -b 50 --chunks 6 --process-output -o "$tmp/b50.gguf" -q 2>"$tmp/err" &&
  "$H" imatrix -m "$tmp/m.gguf" -f "$tmp/text.txt" -c 64 -b 50 --chunks 6 --process-output -o "$tmp/b50.gguf.dat2" \
    --output-format dat -q 2>>"$tmp/err" && cmp -s "$tmp/b50.dat" "$tmp/b50.gguf.dat2"; then
  out=$("$PY" -c "
import sys; sys.path.insert(0, '$here/reference')
import numpy as np, imatrix_np
from gguf_np import GGUFFile
g = GGUFFile('$tmp/b50.gguf')
md = g.metadata
assert md['general.type'] == 'imatrix' and md['imatrix.chunk_count'] == 6 and md['imatrix.chunk_size'] == 64, md
assert len(md['imatrix.datasets']) == 1 and md['imatrix.datasets'][0].endswith('text.txt'), md['imatrix.datasets']
names = list(g.tensors)
bases = [n[:-len('.in_sum2')] for n in names[0::2]]
assert bases == sorted(bases) and names[1::2] == [b + '.counts' for b in bases], names[:6]
e, _, _ = imatrix_np.read('$tmp/b50.dat')
assert sorted(bases) == sorted(e), (len(bases), len(e))
worst = 0.0
for b in bases:
    s2, c = g.tensors[b + '.in_sum2'], g.tensors[b + '.counts']
    assert c.ne == [1, 1] and s2.ne[1] == 1, (b, c.ne, s2.ne)
    imp = g.get(b + '.in_sum2')[0] / g.get(b + '.counts')[0, 0]
    ncall, vals = e[b]
    ref = np.asarray(vals, dtype=np.float64) / ncall
    worst = max(worst, float(np.max(np.abs(imp - ref) / ref)))
assert worst < 1e-6, worst
print(f'{len(bases)} matrices; in_sum2 / counts vs the .dat values / ncall: worst relative difference {worst:.1e}')
" 2>&1) && pass "imatrix.gguf: $out" || fail "imatrix GGUF format" "$out"
else
  fail "herd imatrix -o x.gguf / --output-format dat" "$(cat "$tmp/err")"
fi

# Quantizing with it (the weighted quantizers' bytes are checked against llama-quantize's in
# tensor_test's WeightedQuantizers.MatchLlamaQuantize): Q4_0 with the matrix keeps the
# first eighth's ffn_down in Q4_1 as llama-quantize does, weights every matrix the file has,
# and gives other bytes than without it; an imatrix of another model is refused.
"$H" make-model --shape d_model=128,n_layers=8,n_heads=4,n_kv_heads=2,d_ff=256 --dtype f16 --seed 4 -q -o "$tmp/q.gguf" 2>/dev/null
"$H" imatrix -m "$tmp/q.gguf" -f "$tmp/text.txt" -c 64 -o "$tmp/q.dat" -q 2>/dev/null
out=$("$H" quantize --imatrix "$tmp/q.dat" "$tmp/q.gguf" "$tmp/q40i.gguf" Q4_0 2>&1) && "$H" quantize "$tmp/q.gguf" "$tmp/q40.gguf" Q4_0 -q 2>/dev/null &&
  grep -q "56 with the importance matrix" <<<"$out" && "$PY" -c "
import sys; sys.path.insert(0, '$here/reference')
from gguf_np import GGUFFile
import same_tensors, numpy as np
a, b = GGUFFile('$tmp/q40i.gguf'), GGUFFile('$tmp/q40.gguf')
q4_1 = 3  # ggml type id
ok = a.tensors['blk.0.ffn_down.weight'].type == q4_1 and a.tensors['blk.1.ffn_down.weight'].type != q4_1
ok = ok and b.tensors['blk.0.ffn_down.weight'].type != q4_1
ok = ok and not np.array_equal(same_tensors.raw(a, 'blk.3.attn_q.weight'), same_tensors.raw(b, 'blk.3.attn_q.weight'))
sys.exit(0 if ok else 1)" && pass "quantize --imatrix: 56 matrices weighted, ffn_down of layer 0 in Q4_1, other bytes than without" ||
  fail "quantize --imatrix" "$out"
# The same statistics in the GGUF format weight the same matrices; the quantized tensors
# equal the .dat run's except where an importance differs in its last bit (none here, or a few blocks).
"$H" imatrix -m "$tmp/q.gguf" -f "$tmp/text.txt" -c 64 -o "$tmp/q.imatrix.gguf" -q 2>/dev/null
out=$("$H" quantize --imatrix "$tmp/q.imatrix.gguf" "$tmp/q.gguf" "$tmp/q40g.gguf" Q4_0 2>&1) &&
  grep -q "56 with the importance matrix" <<<"$out" && out=$("$PY" -c "
import sys; sys.path.insert(0, '$here/reference')
from gguf_np import GGUFFile
import same_tensors, numpy as np
a, b = GGUFFile('$tmp/q40i.gguf'), GGUFFile('$tmp/q40g.gguf')
diff = total = 0
for n in a.tensors:
    x, y = same_tensors.raw(a, n), same_tensors.raw(b, n)
    diff += int(np.count_nonzero(x != y)); total += x.size
print(f'{diff} of {total} bytes differ')
sys.exit(0 if diff * 1000 < total else 1)" 2>&1) && pass "quantize --imatrix FILE.gguf: 56 matrices weighted, the .dat run's bytes ($out)" ||
  fail "quantize with a GGUF imatrix" "$out"
out=$("$H" quantize --imatrix "$tmp/b40.dat" "$tmp/q.gguf" "$tmp/bad.gguf" Q4_K_M 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "has 256 values but the tensor's rows have 128" <<<"$out" && [ ! -e "$tmp/bad.gguf" ] &&
  pass "an imatrix of another model is refused" || fail "mismatched imatrix (exit $rc)" "$out"

head -c 300 "$tmp/text.txt" > "$tmp/short.txt"
out=$("$H" imatrix -m "$tmp/m.gguf" -f "$tmp/short.txt" -c 64 -o "$tmp/short.dat" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "needs at least 128" <<<"$out" && [ ! -e "$tmp/short.dat" ] && pass "a short text is refused, no file" ||
  fail "short text (exit $rc)" "$out"
out=$("$H" imatrix -m "$tmp/m.gguf" -f "$tmp/text.txt" -c 64 -b 8 -o "$tmp/tiny.dat" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "16 tokens or more" <<<"$out" && [ ! -e "$tmp/tiny.dat" ] && pass "-b 8 (no batch of 16) is refused, no file" ||
  fail "-b 8 (exit $rc)" "$out"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all imatrix checks passed"
