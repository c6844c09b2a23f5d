#!/usr/bin/env bash
# ctest "e2e": Meta's native checkpoints (params.json + consolidated.NN.pth + tokenizer.model),
# written by torch.save through tests/reference/write_meta_checkpoint.py from an HF directory
# that `herd make-model` made (the inverse of transformers' HF converter):
#  - one shard (as 8B, 3.2 1B/3B ship) and two model-parallel shards (as 70B/405B ship, MP8/16)
#    convert to GGUF with exactly the tensors the HF directory converts to; a tied model too;
#  - Meta -> HF gives back every file of the original HF directory, byte for byte (so the
#    q/k row order, params.json's derived FFN width and RoPE scaling, and the tokenizer.model
#    read back all agree);
#  - `herd run` on the native directory generates what the converted GGUF does; `herd tokenize`
#    with the rebuilt tokenizer.model gives tokenizer.json's ids; `herd inspect` lists it;
#  - a checkpoint whose end record defers to zip64 (as files over 4 GiB do) still loads;
#  - refused with a clear error, nothing executed: a pickle calling os.system (a canary file
#    stays absent), a storage declaring 2^60 elements, a tensor past its storage, a nested
#    dict, torch's legacy format, a missing shard 00, a tensor one shard lacks, norms that
#    differ between shards.
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")/.." && pwd)"
PY=/usr/bin/python3
W="$here/reference/write_meta_checkpoint.py"
source "$here/e2e/missing_tool.sh"
"$PY" -c "import torch" 2>/dev/null || missing_tool "python3-torch"
tmp="$(mktemp -d /tmp/herd-meta.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }
run() { local out; out=$("$@" 2>&1) || { fail "$*" "$out"; return 1; }; }

"$H" make-model --shape tiny --dtype bf16 --seed 4 -q --format hf -o "$tmp/hf" 2>/dev/null || { fail make-model; exit 1; }
run "$PY" "$W" "$tmp/hf" "$tmp/meta/m" && run "$PY" "$W" "$tmp/hf" "$tmp/mp2/m" --mp 2
run "$H" convert "$tmp/hf" "$tmp/hf.gguf" -q
for d in meta mp2; do
  run "$H" convert "$tmp/$d/m" "$tmp/$d.gguf" -q
  out=$("$PY" "$here/reference/same_tensors.py" "$tmp/hf.gguf" "$tmp/$d.gguf" 2>&1) &&
    pass "$d ($(ls "$tmp/$d/m" | grep -c pth) shard(s)) -> GGUF: the HF directory's tensors ($out)" || fail "$d -> GGUF" "$out"
done

run "$H" convert "$tmp/meta/m" "$tmp/back" -q
same=1
for f in "$tmp"/hf/*; do cmp -s "$f" "$tmp/back/$(basename "$f")" || { same=0; fail "Meta -> HF: $(basename "$f") differs"; }; done
[ "$same" = 1 ] && pass "HF -> Meta -> HF: every file identical ($(ls "$tmp/hf" | tr '\n' ' '))"

"$H" make-model --shape d_model=256,n_layers=2,n_heads=4,n_kv_heads=2,d_ff=512,tied=1 --dtype bf16 --seed 5 -q \
  --format hf -o "$tmp/tied" 2>/dev/null
run "$PY" "$W" "$tmp/tied" "$tmp/tied-meta/m" --mp 2
"$PY" -c "import torch, sys; sys.exit('output.weight' in torch.load('$tmp/tied-meta/m/consolidated.00.pth'))" ||
  fail "the tied fixture has no output.weight"
run "$H" convert "$tmp/tied" "$tmp/tied.gguf" -q && run "$H" convert "$tmp/tied-meta/m" "$tmp/tied-meta.gguf" -q
out=$("$PY" "$here/reference/same_tensors.py" "$tmp/tied.gguf" "$tmp/tied-meta.gguf" 2>&1) &&
  pass "tied embeddings (no output.weight), 2 shards -> GGUF ($out)" || fail "tied -> GGUF" "$out"

gen() { "$H" run -m "$1" -p "The capital of France is" -n 12 --temp 0 2>/dev/null; }
a=$(gen "$tmp/meta/m"); b=$(gen "$tmp/mp2/m"); c=$(gen "$tmp/hf.gguf")
[ -n "$c" ] && [ "$a" = "$c" ] && [ "$b" = "$c" ] && pass "herd run on 1 and 2 shards = on the converted GGUF (greedy, 12 tokens)" ||
  fail "herd run: native vs GGUF" "1 shard: $a | 2 shards: $b | gguf: $c"
text='Hello, world! Héllo 你好 1234567 <|eot_id|>'
t1=$("$H" tokenize -m "$tmp/meta/m/tokenizer.model" "$text" 2>&1); t2=$("$H" tokenize -m "$tmp/hf/tokenizer.json" "$text" 2>&1)
[ -n "$t1" ] && [ "$t1" = "$t2" ] && pass "tokenizer.model gives tokenizer.json's ids" || fail "tokenize" "$t1 vs $t2"
out=$("$H" inspect "$tmp/mp2/m" 2>&1) && grep -q "Meta native checkpoint, 2 consolidated" <<<"$out" &&
  grep -q "consolidated.01.pth:layers.1.feed_forward.w2.weight" <<<"$out" && pass "inspect lists both shards" ||
  fail "inspect" "$out"

cp -r "$tmp/meta/m" "$tmp/z64"
run "$PY" "$W" --hostile zip64 "$tmp/z64/consolidated.00.pth"
[ "$(gen "$tmp/z64")" = "$c" ] && pass "an end record that defers to zip64 loads" || fail "zip64 end record"

for k in system huge_storage bad_offset nested legacy; do
  mkdir -p "$tmp/h_$k"
  cp "$tmp/meta/m/params.json" "$tmp/meta/m/tokenizer.model" "$tmp/h_$k/"
  CANARY="$tmp/canary" run "$PY" "$W" --hostile "$k" "$tmp/h_$k/consolidated.00.pth"
done
expect_refusal() {  # DIR WORDS
  local out rc
  out=$("$H" run -m "$1" -p hi -n 1 2>&1); rc=$?
  [ $rc -ne 0 ] && grep -q "$2" <<<"$out" && pass "refused: $(basename "$1") ($(tail -1 <<<"$out" | cut -c1-150))" ||
    fail "$(basename "$1") (exit $rc)" "$out"
}
expect_refusal "$tmp/h_system" "names the global 'posix.system'\|names the global 'os.system'"
[ ! -e "$tmp/canary" ] && pass "the os.system pickle ran nothing" || fail "the canary file exists"
expect_refusal "$tmp/h_huge_storage" "declares 1152921504606846976 bfloat16 elements"
expect_refusal "$tmp/h_bad_offset" "lies outside its storage"
expect_refusal "$tmp/h_nested" "inside a dict"
expect_refusal "$tmp/h_legacy" "legacy (pre-1.6) format"
for k in drop differ; do
  cp -r "$tmp/mp2/m" "$tmp/mp2_$k"
  "$PY" -c "
import torch
p = '$tmp/mp2_$k/consolidated.01.pth'
sd = torch.load(p)
if '$k' == 'drop': del sd['layers.1.attention.wv.weight']
else: sd['norm.weight'] = sd['norm.weight'] * 2
torch.save(sd, p)"
done
expect_refusal "$tmp/mp2_drop" "'layers.1.attention.wv.weight' is in .*consolidated.00.pth but not in"
expect_refusal "$tmp/mp2_differ" "'norm.weight' should be the same in every model-parallel shard"
rm "$tmp/mp2/m/consolidated.00.pth"
expect_refusal "$tmp/mp2/m" "shard 0 is missing"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all Meta native checkpoint checks passed"
