#!/usr/bin/env bash
# ctest "e2e": herd posttrain, two rounds of rejection sampling -> SFT -> DPO on a tiny
# random model where a verifier defines the task (the reply starts with a space and a
# lower-case letter):
#  - the task's success rate rises over the rounds (round 1 at least 30 points above
#    round 0, both recomputed here from the samples), every step exits 0 and the manifest
#    lists each step's command line and metrics (DPO's first step at ln 2 from its SFT
#    adapter);
#  - the artefacts are where the manifest says; the final adapter runs with herd run;
#  - running the same recipe again reuses every step (also written as YAML); another recipe in the same folder,
#    an unknown recipe key and a bad step option are refused (the failing step's exit
#    status recorded).
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
PY=/usr/bin/python3
tmp="$(mktemp -d /tmp/herd-posttrain.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

"$H" make-model --shape tiny --dtype q8_0 --seed 1 -q -o "$tmp/base.gguf" 2>/dev/null || { fail "make-model"; exit 1; }
for q in "Say something." "Tell me a word." "Write anything." "Give me text." "Speak." "Reply now." "Answer me." "Go on."; do
  printf '{"prompt": "%s"}\n' "$q"
done > "$tmp/prompts.jsonl"
cat > "$tmp/recipe.json" <<EOF
{"model": "$tmp/base.gguf", "prompts": "$tmp/prompts.jsonl", "rounds": 2,
 "synth": {"judge": "regex:^ [a-z]", "samples": 8, "max_tokens": 4, "temp": 1, "seed": 5},
 "sft": {"epochs": 20, "batch": 4, "lr": 0.01, "warmup": 0},
 "dpo": {"epochs": 2, "batch": 2, "lr": 0.005, "warmup": 0}}
EOF
out="$("$H" posttrain "$tmp/recipe.json" -o "$tmp/run" -t 2 2>&1)" && pass "herd posttrain (2 rounds)" || fail "posttrain" "$out"
check="$("$PY" - "$tmp/run" <<'PY'
import json, sys, os
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
errors = []
names = [s["name"] for s in m["steps"]]
want = ["round%d/%s" % (r, k) for r in range(2) for k in ("synth", "sft", "dpo")]
if names != want: errors.append("steps %r" % names)
if any(s["exit"] != 0 for s in m["steps"]): errors.append("a step failed")
rates = []
for r in range(2):
    rows = [json.loads(l) for l in open("%s/round%d/synth/samples.jsonl" % (d, r))]
    rates.append(sum(x["score"] * x["count"] for x in rows) / sum(x["count"] for x in rows))
    if abs(m["summary"][r]["pass_rate"] - rates[-1]) > 1e-9: errors.append("summary rate %d" % r)
if not rates[1] >= rates[0] + 0.3: errors.append("no rise: %.3f -> %.3f" % tuple(rates))
first_dpo = json.loads(open(d + "/round0/dpo.log.jsonl").readline())
if "%.9g" % first_dpo["loss"] != "0.693147181": errors.append("DPO step 1 loss %r" % first_dpo["loss"])
if "--lora-init" not in m["steps"][2]["command"] or "round0/sft" not in m["steps"][2]["command"]:
    errors.append("dpo did not start from the SFT adapter")
if not os.path.exists(m["adapter"] + "/adapter.gguf"): errors.append("final adapter missing")
print("; ".join(errors) or "ok: success rate %.3f -> %.3f" % tuple(rates))
PY
)"
[[ "$check" == ok* ]] && pass "manifest, metrics and artefacts; $check" || fail "$check" "$out"
out="$("$H" run -m "$tmp/base.gguf" --lora "$tmp/run/round1/dpo" -p "Speak." -n 4 --temp 0 -t 2 2>&1)" &&
  pass "the final adapter runs" || fail "run --lora final" "$out"

out="$("$H" posttrain "$tmp/recipe.json" -o "$tmp/run" -t 2 2>&1)"
[ "$(grep -c "done before" <<<"$out")" -eq 6 ] && pass "the same recipe again reuses all six steps" || fail "rerun" "$out"
# The same recipe written in YAML (block style, comments, quoting) is read as the same
# recipe: every step is reused. A YAML error names its line.
cat > "$tmp/recipe.yaml" <<EOF
# the recipe above, in YAML
model: $tmp/base.gguf
prompts: "$tmp/prompts.jsonl"
rounds: 2
synth:
  judge: "regex:^ [a-z]"   # a word after a space
  samples: 8
  max_tokens: 4
  temp: 1
  seed: 5
sft:
  epochs: 20
  batch: 4
  lr: 0.01
  warmup: 0
dpo:
  epochs: 2
  batch: 2
  lr: 5e-3
  warmup: 0
EOF
out="$("$H" posttrain "$tmp/recipe.yaml" -o "$tmp/run" -t 2 2>&1)"
[ "$(grep -c "done before" <<<"$out")" -eq 6 ] && pass "the recipe in YAML is the same recipe: all six steps reused" ||
  fail "YAML recipe" "$out"
printf 'model: m.gguf\nsynth:\n  samples: &a 8\n' > "$tmp/bad.yaml"
out="$("$H" posttrain "$tmp/bad.yaml" -o "$tmp/bad0" 2>&1)"
[ $? -ne 0 ] && grep -q "bad.yaml:3: anchors" <<<"$out" && pass "a YAML construct outside the subset names its line" ||
  fail "bad YAML" "$out"
sed 's/"rounds": 2/"rounds": 3/' "$tmp/recipe.json" > "$tmp/recipe3.json"
out="$("$H" posttrain "$tmp/recipe3.json" -o "$tmp/run" -t 2 2>&1)"
[ $? -ne 0 ] && grep -q "another recipe" <<<"$out" && pass "another recipe in the same folder is refused" || fail "recipe change" "$out"
echo '{"model": "m", "prompts": "p", "synth": {}, "epochs": 3}' > "$tmp/badkey.json"
out="$("$H" posttrain "$tmp/badkey.json" -o "$tmp/bad1" 2>&1)"
[ $? -ne 0 ] && grep -q 'unknown key "epochs"' <<<"$out" && pass "an unknown recipe key is refused" || fail "bad key" "$out"
sed 's/"samples": 8/"samplez": 8/' "$tmp/recipe.json" > "$tmp/badopt.json"
out="$("$H" posttrain "$tmp/badopt.json" -o "$tmp/bad2" -t 2 2>&1)"; rc=$?
[ "$rc" -ne 0 ] && "$PY" -c "
import json, sys; m = json.load(open(sys.argv[1])); sys.exit(0 if m['steps'][0]['exit'] != 0 else 1)" "$tmp/bad2/manifest.json" &&
  pass "a bad step option fails the step (exit $rc), recorded in the manifest" || fail "bad option (exit $rc)" "$out"

[ "$fails" -eq 0 ] && echo "test_posttrain: ok" || echo "test_posttrain: $fails failure(s)"
exit $((fails > 0))
