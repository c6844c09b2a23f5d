#!/usr/bin/env bash
# ctest "e2e": herd distill end to end on tiny random models.
#  - learning works, through the KD term alone (--kd-ratio 1): the teacher is a model built
#    to answer every chat prompt with one sentence (make-model --reply); a student of
#    another seed distilled from its cached distributions on twelve prompts then answers
#    held-out prompts with the teacher's sentence (greedy), which the base student does not;
#  - the cached path equals the live path: losses bit for bit whether the teacher runs in
#    the same command, writes --teacher-cache, or is absent and the cache is read;
#  - the reverse KL (--kd-loss reverse) keeps a distilled adapter at the teacher; full
#    fine-tuning (--full) of a smaller student from the cache learns the held-out answer;
#  - refusals: a cache made with another top-k or for other data, a student whose tokenizer
#    differs from the teacher's (an HF copy with one special token renamed), a missing cache
#    with no teacher.
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
tmp="$(mktemp -d /tmp/herd-distill.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

sentence="The sky is blue today."
"$H" make-model --shape d_model=256,n_layers=3,n_heads=4,n_kv_heads=2,d_ff=512 --dtype f16 --seed 9 -q \
  --reply "$sentence" -o "$tmp/teacher.gguf" >/dev/null 2>&1 || { fail "make-model teacher"; exit 1; }
"$H" make-model --shape tiny --dtype q8_0 --seed 1 -q -o "$tmp/student.gguf" >/dev/null 2>&1 || { fail "make-model student"; exit 1; }
for q in "What colour is grass?" "Tell me a joke." "How far is the moon?" "Name a city." "What is two plus two?" \
  "Who wrote Hamlet?" "Describe a cat." "Is water wet?" "What time is it?" "Give me a number." "Where is Paris?" \
  "Why is the sea salty?"; do
  printf '{"messages": [{"role": "user", "content": "%s"}, {"role": "assistant", "content": "%s"}]}\n' "$q" "$sentence"
done > "$tmp/data.jsonl"
distill() {  # output dir, log, extra args...
  local o="$1" l="$2"; shift 2
  "$H" distill -m "$tmp/student.gguf" --data "$tmp/data.jsonl" -o "$o" --epochs 6 --batch 4 --lr 1e-2 --warmup 0 \
    --kd-ratio 1 --top-k 16 --seed 3 --log-jsonl "$l" -t 2 "$@"
}
out="$(distill "$tmp/live" "$tmp/live.log" --teacher "$tmp/teacher.gguf" 2>&1)" && pass "herd distill (live teacher)" ||
  fail "herd distill" "$out"
first="$(head -1 "$tmp/live.log" | sed 's/.*"loss": \([0-9.e+-]*\).*/\1/')"
last="$(tail -1 "$tmp/live.log" | sed 's/.*"loss": \([0-9.e+-]*\).*/\1/')"
awk -v f="$first" -v l="$last" 'BEGIN { exit !(f > 5 && l < 0.05) }' && pass "KD loss $first -> $last" ||
  fail "the KD loss did not fall from > 5 to < 0.05: $first -> $last" "$out"

answer() {  # model, question, [adapter]
  if [ -n "${3:-}" ]; then
    "$H" run -m "$1" --lora "$3" -cnv -p "$2" --temp 0 -n 10 -t 2 2>/dev/null
  else
    "$H" run -m "$1" -cnv -p "$2" --temp 0 -n 10 -t 2 2>/dev/null
  fi
}
for q in "What is your name?" "Count to three."; do
  t="$(answer "$tmp/teacher.gguf" "$q")"; s0="$(answer "$tmp/student.gguf" "$q")"
  s1="$(answer "$tmp/student.gguf" "$q" "$tmp/live/adapter.gguf")"
  [ "$t" = "$sentence" ] && [ "$s0" != "$t" ] && [ "$s1" = "$t" ] &&
    pass "held-out '$q': the distilled student answers as the teacher ('$s1'), the base did not" ||
    fail "held-out '$q': teacher '$t', base student '$s0', distilled '$s1'"
done

# The cache: written by one run, read by another with no teacher; the same losses as live.
out="$(distill "$tmp/w" "$tmp/w.log" --teacher "$tmp/teacher.gguf" --teacher-cache "$tmp/cache.st" 2>&1)" ||
  fail "--teacher-cache (written)" "$out"
out="$(distill "$tmp/r" "$tmp/r.log" --teacher-cache "$tmp/cache.st" 2>&1)" || fail "--teacher-cache (read)" "$out"
echo "$out" | grep -q "teacher pass" && fail "the cache was not used" "$out"
cut -d, -f1-4 "$tmp/live.log" > "$tmp/a"; cut -d, -f1-4 "$tmp/w.log" > "$tmp/b"; cut -d, -f1-4 "$tmp/r.log" > "$tmp/c"
cmp -s "$tmp/a" "$tmp/b" && cmp -s "$tmp/a" "$tmp/c" &&
  cmp -s "$tmp/live/adapter_model.safetensors" "$tmp/r/adapter_model.safetensors" &&
  pass "live teacher, cache written, cache read: the same losses and adapter, bit for bit" ||
  fail "cached and live paths differ" "$(diff "$tmp/a" "$tmp/c" | head -4)"

# The reverse KL, continuing from the distilled adapter (at a learning rate it is stable at:
# mode-seeking, it wants the student's unlisted mass down to the teacher's rounded-to-zero
# tail): the last step's KL is below the first's and near 0, and the answers stay the teacher's. Full fine-tuning of
# a smaller student from the cache (the soft-target head's weight gradient): it answers a
# held-out prompt alone.
out="$("$H" distill -m "$tmp/student.gguf" --data "$tmp/data.jsonl" -o "$tmp/rv" --teacher-cache "$tmp/cache.st" \
  --kd-loss reverse --lora-init "$tmp/live/adapter.gguf" --epochs 2 --batch 4 --lr 1e-3 --warmup 0 --kd-ratio 1 \
  --top-k 16 --seed 3 --log-jsonl "$tmp/rv.log" -t 2 2>&1)" || fail "--kd-loss reverse" "$out"
kls="$(sed 's/.*"kd_kl": \([0-9.e+-]*\).*/\1/' "$tmp/rv.log" | tr '\n' ' ')"
s1="$(answer "$tmp/student.gguf" "Count to three." "$tmp/rv/adapter.gguf")"
echo "$kls" | awk '{ exit !(NF == 6 && $6 < $1 && $6 < 0.01) }' && [ "$s1" = "$sentence" ] &&
  pass "--kd-loss reverse from the distilled adapter: KL(q || p) per step $kls, answers '$s1'" ||
  fail "reverse KL: $kls, '$s1'" "$out"
"$H" make-model --shape d_model=64,n_layers=2,n_heads=2,n_kv_heads=1,d_ff=128 --dtype f16 --seed 1 -q \
  -o "$tmp/small.gguf" >/dev/null 2>&1
out="$("$H" distill -m "$tmp/small.gguf" --data "$tmp/data.jsonl" -o "$tmp/fd" --full --teacher-cache "$tmp/cache.st" \
  --top-k 16 --kd-ratio 1 --epochs 6 --batch 4 --lr 3e-3 --warmup 0 --seed 3 -t 2 2>&1)" || fail "distill --full" "$out"
s1="$(answer "$tmp/fd/model.gguf" "Count to three.")"
[ "$s1" = "$sentence" ] && pass "distill --full: the student model answers a held-out prompt as the teacher" ||
  fail "distill --full: '$s1'" "$out"
out="$(distill "$tmp/x" "$tmp/x.log" --teacher-cache "$tmp/cache.st" --kd-loss sideways 2>&1)"
[ $? -eq 2 ] && echo "$out" | grep -q "forward or reverse" && pass "an unknown --kd-loss is a usage error" ||
  fail "--kd-loss sideways" "$out"

# Refusals.
out="$(distill "$tmp/x" "$tmp/x.log" --teacher-cache "$tmp/cache.st" --top-k 8 2>&1)"
echo "$out" | grep -q "top-16" && pass "a cache of another top-k is refused" || fail "top-k mismatch" "$out"
head -3 "$tmp/data.jsonl" > "$tmp/other.jsonl"
out="$("$H" distill -m "$tmp/student.gguf" --data "$tmp/other.jsonl" -o "$tmp/x" --teacher-cache "$tmp/cache.st" \
  --top-k 16 -t 2 2>&1)"
echo "$out" | grep -q "other data" && pass "a cache made for other data is refused" || fail "data mismatch" "$out"
"$H" make-model --shape tiny --dtype f32 --seed 1 -q --format hf -o "$tmp/hf" >/dev/null 2>&1
/usr/bin/python3 "$(dirname "$0")/rename_special_token.py" "$tmp/hf/tokenizer.json"
out="$("$H" distill -m "$tmp/hf" --data "$tmp/data.jsonl" -o "$tmp/x" --teacher-cache "$tmp/cache.st" --top-k 16 -t 2 2>&1)"
echo "$out" | grep -q "tokenizer differs" && pass "a student with another tokenizer is refused" || fail "tokenizer mismatch" "$out"
out="$("$H" distill -m "$tmp/student.gguf" --data "$tmp/data.jsonl" -o "$tmp/x" --teacher-cache "$tmp/none.st" 2>&1)"
[ $? -eq 2 ] && echo "$out" | grep -q "does not exist" && pass "a missing cache without --teacher is a usage error" ||
  fail "missing cache" "$out"
[ ! -e "$tmp/x/adapter.gguf" ] && pass "no adapter written by a refused run" || fail "a refused run wrote an adapter"

[ "$fails" -eq 0 ] && echo "test_distill: ok" || echo "test_distill: $fails failure(s)"
exit $((fails > 0))
