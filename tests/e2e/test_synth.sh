#!/usr/bin/env bash
# ctest "e2e": herd synth (rejection sampling) end to end on a tiny random model.
#  - deterministic for a seed: the same files with --parallel 4 and 1;
#  - the verifier keeps exactly the completions that pass: every sample's score is the
#    task's check redone here by Python's re, sft.jsonl holds one passing completion per
#    prompt that has one, prefs.jsonl pairs a passing with a failing one; a command judge
#    (grep) gives the regex judge's scores;
#  - (the loop, synth -> finetune -> synth --lora raising the success rate: test_posttrain.sh)
#  - --resume after a stop (progress rolled back, a half-written row left) gives the files
#    of an uninterrupted run; an existing run is not overwritten without it;
#  - an LLM as judge (judges built to answer "Score: 7" and no number): the score parsed, an
#    unscored completion never kept; the model as its own judge, its requests batched, gives
#    the same scores with --parallel 4 and 1;
#  - Llama Guard as a filter: completions it flags are dropped (and marked), a guard that
#    answers "safe" changes nothing;
#  - a Python test as the judge: a model built to answer a right add() passes the rows' asserts in
#    the sandbox and is kept, one with a wrong add() fails them;
#  - bad prompt files are refused naming the line; an unknown judge is a usage error.
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
PY=/usr/bin/python3
tmp="$(mktemp -d /tmp/herd-synth.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

"$H" make-model --shape tiny --dtype q8_0 --seed 1 -q -o "$tmp/base.gguf" 2>/dev/null || { fail "make-model"; exit 1; }
for q in "Say something." "Tell me a word." "Write anything." "Give me text." "Speak." "Reply now." "Answer me." "Go on."; do
  printf '{"prompt": "%s"}\n' "$q"
done > "$tmp/prompts.jsonl"
# The task: the reply starts with a space and a lower-case letter.
synth() {  # output dir, extra args...
  local o="$1"; shift
  "$H" synth -m "$tmp/base.gguf" --prompts "$tmp/prompts.jsonl" --judge 'regex:^ [a-z]' -n 8 --max-tokens 4 \
    --temp 1 --seed 5 -o "$o" -t 2 "$@"
}
# The success rate over all samples (each distinct completion counted as often as it was sampled).
rate() { "$PY" -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print('%.3f' % (sum(x['score']*x['count'] for x in r)/sum(x['count'] for x in r)))" "$1"; }

out="$(synth "$tmp/r0" 2>&1)" && pass "herd synth" || fail "herd synth" "$out"
out="$(synth "$tmp/r0p1" --parallel 1 2>&1)" || fail "synth --parallel 1" "$out"
cmp -s "$tmp/r0/samples.jsonl" "$tmp/r0p1/samples.jsonl" && cmp -s "$tmp/r0/sft.jsonl" "$tmp/r0p1/sft.jsonl" &&
  cmp -s "$tmp/r0/prefs.jsonl" "$tmp/r0p1/prefs.jsonl" && pass "deterministic: --parallel 4 and 1 give the same files" ||
  fail "runs differ with --parallel"
check="$("$PY" - "$tmp/r0" <<'PY'
import json, re, sys
d = sys.argv[1]
ok = lambda c: re.match(r"^ [a-z]", c) is not None
samples = [json.loads(l) for l in open(d + "/samples.jsonl")]
bad = [s for s in samples if s["score"] != (1.0 if ok(s["completion"]) else 0.0)]
passing = {s["prompt_index"] for s in samples if ok(s["completion"])}
sft = [json.loads(l) for l in open(d + "/sft.jsonl")]
prefs = [json.loads(l) for l in open(d + "/prefs.jsonl")]
errors = []
if bad: errors.append("scores differ from re: %r" % bad[:2])
if sorted(r["provenance"]["prompt_index"] for r in sft) != sorted(passing): errors.append("sft rows are not the passing prompts")
if any(not ok(r["messages"][-1]["content"]) or r["messages"][-1]["role"] != "assistant" for r in sft): errors.append("an sft row fails")
if any(not ok(r["chosen"][0]["content"]) or ok(r["rejected"][0]["content"]) for r in prefs): errors.append("a pair is wrong")
print("; ".join(errors) or "ok %d samples, %d passing prompts, %d pairs" % (len(samples), len(passing), len(prefs)))
PY
)"
[[ "$check" == ok* ]] && pass "the verifier keeps exactly the passing completions ($check)" || fail "$check"
out="$("$H" synth -m "$tmp/base.gguf" --prompts "$tmp/prompts.jsonl" --judge "cmd:head -c 2 | grep -q '^ [a-z]'" -n 8 \
  --max-tokens 4 --temp 1 --seed 5 -o "$tmp/cmd" -t 2 2>&1)" || fail "synth --judge cmd" "$out"
"$PY" -c "
import json, sys
a = [json.loads(l)['score'] for l in open(sys.argv[1])]; b = [json.loads(l)['score'] for l in open(sys.argv[2])]
sys.exit(0 if a == b and len(a) > 0 else 1)" "$tmp/r0/samples.jsonl" "$tmp/cmd/samples.jsonl" &&
  pass "a command judge (head | grep) gives the regex judge's scores" || fail "cmd and regex judges differ"

# Resume: roll the finished run back to 4 prompts with a half-written row left behind.
cp -r "$tmp/r0" "$tmp/res"
"$PY" - "$tmp/res/progress.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["done"] = 4; json.dump(p, open(sys.argv[1], "w"))
PY
printf '{"prompt_index": 5, "completion": "half' >> "$tmp/res/samples.jsonl"
out="$(synth "$tmp/res" 2>&1)"
echo "$out" | grep -q "resume" && pass "an existing run is not overwritten without --resume" || fail "overwrite" "$out"
out="$(synth "$tmp/res" --resume 2>&1)" || fail "--resume" "$out"
cmp -s "$tmp/r0/samples.jsonl" "$tmp/res/samples.jsonl" && cmp -s "$tmp/r0/sft.jsonl" "$tmp/res/sft.jsonl" &&
  cmp -s "$tmp/r0/prefs.jsonl" "$tmp/res/prefs.jsonl" && pass "--resume gives the files of an uninterrupted run" ||
  fail "resume differs" "$(diff "$tmp/r0/samples.jsonl" "$tmp/res/samples.jsonl" | head -4)"
out="$(synth "$tmp/res" --resume --temp 0.5 2>&1)"
echo "$out" | grep -q "other options" && pass "resuming with other options is refused" || fail "resume options" "$out"

# Llama Guard as a filter: a guard built to answer "unsafe\nS1" drops every completion (each
# marked in samples.jsonl); one built to answer "safe" changes nothing.
for verdict in unsafe safe; do
  reply='safe'; [ "$verdict" = unsafe ] && reply='unsafe\nS1'
  "$H" make-model --shape tiny --dtype q8_0 --guard 1b --reply "$reply" -o "$tmp/g-$verdict.gguf" -q 2>/dev/null
  out="$(synth "$tmp/g$verdict" --guard "$tmp/g-$verdict.gguf" 2>&1)" || fail "synth --guard ($verdict)" "$out"
done
n_unsafe="$(grep -c '"unsafe":true' "$tmp/gunsafe/samples.jsonl")"; n_all="$(wc -l < "$tmp/gunsafe/samples.jsonl")"
[ "$n_unsafe" -eq "$n_all" ] && [ ! -s "$tmp/gunsafe/sft.jsonl" ] && [ ! -s "$tmp/gunsafe/prefs.jsonl" ] &&
  pass "--guard: every completion flagged unsafe is dropped ($n_unsafe of $n_all marked)" ||
  fail "--guard unsafe: $n_unsafe of $n_all marked, sft $(wc -l < "$tmp/gunsafe/sft.jsonl") rows"
cmp -s "$tmp/r0/sft.jsonl" "$tmp/gsafe/sft.jsonl" && cmp -s "$tmp/r0/prefs.jsonl" "$tmp/gsafe/prefs.jsonl" &&
  ! grep -q '"unsafe":true' "$tmp/gsafe/samples.jsonl" && pass "--guard: a guard that answers safe keeps the same rows" ||
  fail "--guard safe changed the rows"

# An LLM as judge: judges built to answer "Score: 7" and "I cannot say." (make-model --reply).
printf 'Rate the response from 1 to 10. Reply as "Score: N".\n\nQuestion: {prompt}\nResponse: {completion}\n' > "$tmp/rubric.txt"
for j in "Score: 7" "I cannot say."; do
  name=j7; [ "$j" != "Score: 7" ] && name=jno
  "$H" make-model --shape tiny --dtype q8_0 --seed 4 -q --reply "$j" -o "$tmp/$name.gguf" 2>/dev/null
  out="$("$H" synth -m "$tmp/base.gguf" --prompts "$tmp/prompts.jsonl" --judge "llm:$tmp/rubric.txt" \
    --judge-model "$tmp/$name.gguf" --min-score 5 -n 4 --max-tokens 4 -o "$tmp/$name" -t 2 2>&1)" || fail "llm judge $name" "$out"
done
[ "$(grep -c '"score":7.0' "$tmp/j7/samples.jsonl")" -eq "$(wc -l < "$tmp/j7/samples.jsonl")" ] &&
  [ "$(wc -l < "$tmp/j7/sft.jsonl")" -eq 8 ] && [ "$(grep -c '"score":null' "$tmp/jno/samples.jsonl")" -eq "$(wc -l < "$tmp/jno/samples.jsonl")" ] &&
  [ ! -s "$tmp/jno/sft.jsonl" ] && [ ! -s "$tmp/jno/prefs.jsonl" ] &&
  pass "--judge llm: 'Score: 7' scores every completion 7 (all kept at --min-score 5); a reply with no number leaves them unscored and unkept" ||
  fail "llm judge" "$(head -2 "$tmp/j7/samples.jsonl" "$tmp/jno/samples.jsonl")"

# The sampling model as its own LLM judge (random weights: its replies hold numbers for
# some completions, none for others): the judge requests of a group are submitted together,
# 32 with --parallel 4 and 8 with --parallel 1, and give the same scores (the engine's
# tokens do not depend on what shares a step).
for par in 4 1; do
  out="$(synth "$tmp/self$par" --judge "llm:$tmp/rubric.txt" --parallel "$par" 2>&1)" || fail "llm judge on the model itself" "$out"
done
n_scored="$(grep -c '"score":[0-9]' "$tmp/self4/samples.jsonl")"
cmp -s "$tmp/self4/samples.jsonl" "$tmp/self1/samples.jsonl" && [ "$n_scored" -gt 0 ] &&
  [ "$n_scored" -lt "$(wc -l < "$tmp/self4/samples.jsonl")" ] &&
  pass "--judge llm on the model itself: batched judge requests give the same scores with --parallel 4 and 1 ($n_scored scored)" ||
  fail "llm judge batched" "$(diff "$tmp/self4/samples.jsonl" "$tmp/self1/samples.jsonl" | head -4)"

# A Python test as the judge (--judge python): models built to answer with a right and a wrong
# add(); each prompt row carries its asserts (a list, and one string of lines). The right one
# passes every test in the sandbox, the wrong one none.
printf '%s\n' '{"prompt": "Write add(a, b).", "tests": ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]}' \
  '{"prompt": "Write add again.", "tests": "assert add(0, 0) == 0\nassert add(1, 2) == 3"}' > "$tmp/code.jsonl"
for v in 'right:add=lambda p,q:p+q' 'wrong:add=lambda p,q:p-q'; do
  "$H" make-model --shape tiny --dtype q8_0 --seed 4 -q --reply "${v#*:}" -o "$tmp/${v%%:*}.gguf" 2>/dev/null
  out="$("$H" synth -m "$tmp/${v%%:*}.gguf" --prompts "$tmp/code.jsonl" --judge python -n 2 --max-tokens 16 --temp 0 \
    -o "$tmp/py-${v%%:*}" -t 2 2>&1)" || fail "--judge python, ${v%%:*}" "$out"
done
[ "$(grep -c '"score":1.0' "$tmp/py-right/samples.jsonl")" -eq 2 ] && [ "$(wc -l < "$tmp/py-right/sft.jsonl")" -eq 2 ] &&
  [ "$(grep -c '"score":0.0' "$tmp/py-wrong/samples.jsonl")" -eq 2 ] && [ ! -s "$tmp/py-wrong/sft.jsonl" ] &&
  pass "--judge python: the right add() passes its asserts in the sandbox and is kept, the wrong one fails them" ||
  fail "--judge python" "$(cat "$tmp/py-right/samples.jsonl" "$tmp/py-wrong/samples.jsonl" 2>&1)"

# Bad input.
printf '%s\n' '{"prompt": "ok"}' '{"promt": "typo"}' > "$tmp/bad.jsonl"
out="$("$H" synth -m "$tmp/base.gguf" --prompts "$tmp/bad.jsonl" --judge json -o "$tmp/bad" -t 2 2>&1)"
[ $? -ne 0 ] && echo "$out" | grep -q "bad.jsonl:2" && pass "a bad prompt line is refused naming it" || fail "bad prompts" "$out"
out="$("$H" synth -m "$tmp/base.gguf" --prompts "$tmp/prompts.jsonl" --judge vibes -o "$tmp/bad2" 2>&1)"
[ $? -eq 2 ] && echo "$out" | grep -q "regex:PATTERN" && pass "an unknown judge is a usage error" || fail "judge" "$out"

[ "$fails" -eq 0 ] && echo "test_synth: ok" || echo "test_synth: $fails failure(s)"
exit $((fails > 0))
