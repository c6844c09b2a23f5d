#!/usr/bin/env bash
# ctest "e2e": herd dpo end to end on a tiny random model.
#  - at the start the policy is the reference: the first step's loss is ln 2 (printed to 9
#    digits) and every reward 0, for a new adapter and for one started from an SFT adapter
#    (--lora-init: the reference is then base + that adapter); IPO starts at 1 / (4 beta^2);
#  - learning works: on a toy preference set the reward accuracy reaches 1 and the margin
#    rises from 0 to above 2 while the loss falls below 0.1;
#  - the adapter is written in both formats and `herd run --lora` loads it;
#  - --full (every weight trained, the frozen base as the reference) starts at ln 2, learns,
#    and writes a model herd runs;
#  - a run stopped with Ctrl-C and continued with --resume gives the same losses and adapter
#    as an uninterrupted one (the reference log-probs are recomputed the same way);
#  - --ref-model: the base file gives the default run, another model another start, another
#    tokenizer is refused;
#  - bad preference data is refused naming the file, line and field;
#  - --activation-checkpointing auto sizes a step's kept intermediates for a pair's two
#    sequences: twice what herd finetune reports at the same --batch and --seq-len.
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
tmp="$(mktemp -d /tmp/herd-dpo.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }
field() { sed -n "${2}p" "$1" | sed "s|.*\"$3\": \([-0-9.e+]*\).*|\1|"; }

"$H" make-model --shape tiny --dtype q8_0 --seed 1 -q -o "$tmp/base.gguf" 2>/dev/null || { fail "make-model"; exit 1; }
cat > "$tmp/prefs.jsonl" <<'JSONL'
{"prompt": [{"role": "user", "content": "Is the sky blue?"}], "chosen": [{"role": "assistant", "content": "Yes."}], "rejected": [{"role": "assistant", "content": "No, it is green."}]}
{"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5"}

{"chosen": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}], "rejected": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Go away."}]}
{"prompt": "Name a fruit.", "chosen": "Apple.", "rejected": "A rock."}
JSONL
dpo() {  # output dir, log, extra args...
  local o="$1" l="$2"; shift 2
  "$H" dpo -m "$tmp/base.gguf" --data "$tmp/prefs.jsonl" -o "$o" --epochs 8 --batch 2 --lr 1e-2 --warmup 0 \
    --seed 2 --log-jsonl "$l" -t 2 "$@"
}
out="$(dpo "$tmp/a" "$tmp/a.log" 2>&1)" && pass "herd dpo" || fail "herd dpo" "$out"
l1="$(field "$tmp/a.log" 1 loss)"; m1="$(field "$tmp/a.log" 1 rewards/margins)"
c1="$(field "$tmp/a.log" 1 rewards/chosen)"; r1="$(field "$tmp/a.log" 1 rewards/rejected)"
[ "$l1" = "0.693147181" ] && [ "$m1" = "0" ] && [ "$c1" = "0" ] && [ "$r1" = "0" ] &&
  pass "step 1: loss ln 2 ($l1), rewards and margin 0" || fail "step 1: loss $l1, margin $m1, rewards $c1 $r1"
# The last epoch (steps 15 and 16): accuracy 1, margin above 2, loss below 0.1.
acc="$(tail -2 "$tmp/a.log" | sed 's/.*"rewards\/accuracies": \([-0-9.e+]*\).*/\1/' | sort -n | head -1)"
mar="$(tail -2 "$tmp/a.log" | sed 's/.*"rewards\/margins": \([-0-9.e+]*\).*/\1/' | sort -n | head -1)"
los="$(tail -2 "$tmp/a.log" | sed 's/.*"loss": \([-0-9.e+]*\).*/\1/' | sort -n | tail -1)"
awk -v a="$acc" -v m="$mar" -v l="$los" 'BEGIN { exit !(a == 1 && m > 2 && l < 0.1) }' &&
  pass "last epoch: accuracy $acc, margin >= $mar, loss <= $los" || fail "no learning: accuracy $acc, margin $mar, loss $los" "$out"
[ -f "$tmp/a/adapter_model.safetensors" ] && [ -f "$tmp/a/adapter.gguf" ] && pass "PEFT files and the GGUF LoRA written" ||
  fail "adapter files"
out="$("$H" run -m "$tmp/base.gguf" --lora "$tmp/a/adapter.gguf" -p "Name a fruit." -n 4 --temp 0 -t 2 2>&1)" &&
  pass "herd run --lora loads the DPO adapter" || fail "run --lora" "$out"

# Full fine-tuning (--full): every weight trained, the reference the frozen base (its own copy):
# step 1 is ln 2 again, the margin grows, and the model is written as a GGUF that herd runs.
out="$(dpo "$tmp/full" "$tmp/full.log" --full --lr 1e-3 --max-steps 6 2>&1)" || fail "dpo --full" "$out"
lf="$(field "$tmp/full.log" 1 loss)"; mf="$(tail -1 "$tmp/full.log" | sed 's/.*"rewards\/margins": \([-0-9.e+]*\).*/\1/')"
[ "$lf" = "0.693147181" ] && awk -v m="$mf" 'BEGIN { exit !(m > 0) }' &&
  pass "dpo --full: step 1 at ln 2, margin $mf after 6 steps" || fail "dpo --full: step 1 $lf, last margin $mf" "$out"
out="$("$H" run -m "$tmp/full/model.gguf" -p "Name a fruit." -n 4 --temp 0 -t 2 2>&1)" &&
  pass "dpo --full writes model.gguf, which herd run loads" || fail "run the dpo --full model" "$out"

# IPO: h = 0 at the start, loss (0 - 1/(2 beta))^2 = 25 for beta 0.1.
out="$(dpo "$tmp/ipo" "$tmp/ipo.log" --loss ipo --max-steps 2 2>&1)" || fail "dpo --loss ipo" "$out"
[ "$(field "$tmp/ipo.log" 1 loss)" = "25" ] && pass "IPO step 1: loss 1 / (4 beta^2) = 25" ||
  fail "IPO step 1: $(head -1 "$tmp/ipo.log")"

# From an SFT adapter: the reference is base + that adapter, so the start is ln 2 again.
cat > "$tmp/sft.jsonl" <<'JSONL'
{"messages": [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Apple."}]}
JSONL
"$H" finetune -m "$tmp/base.gguf" --data "$tmp/sft.jsonl" -o "$tmp/sft" --epochs 3 --lr 1e-2 --warmup 0 -t 2 \
  >/dev/null 2>&1 || fail "finetune for --lora-init"
out="$(dpo "$tmp/b" "$tmp/b.log" --lora-init "$tmp/sft" --max-steps 2 2>&1)" || fail "dpo --lora-init" "$out"
[ "$(field "$tmp/b.log" 1 loss)" = "0.693147181" ] && [ "$(field "$tmp/b.log" 1 rewards/margins)" = "0" ] &&
  pass "--lora-init: step 1 at ln 2 (the reference is the SFT policy)" || fail "--lora-init step 1: $(head -1 "$tmp/b.log")"

# --ref-model: the base file itself as the reference gives the same run as the default; another
# model's reference moves the start away from ln 2; another tokenizer is refused.
out="$(dpo "$tmp/rm" "$tmp/rm.log" --ref-model "$tmp/base.gguf" 2>&1)" || fail "dpo --ref-model" "$out"
cmp -s <(cut -d, -f1-4 "$tmp/a.log") <(cut -d, -f1-4 "$tmp/rm.log") &&
  pass "--ref-model BASE: the same losses as the default reference" || fail "--ref-model base differs"
"$H" make-model --shape tiny --dtype q8_0 --seed 2 -q -o "$tmp/other.gguf" 2>/dev/null
out="$(dpo "$tmp/ro" "$tmp/ro.log" --ref-model "$tmp/other.gguf" --max-steps 1 2>&1)" || fail "dpo --ref-model other" "$out"
l="$(field "$tmp/ro.log" 1 loss)"
[ -n "$l" ] && [ "$l" != "0.693147181" ] && pass "--ref-model OTHER: the start is not ln 2 ($l)" || fail "--ref-model other: $l"
"$H" make-model --shape tiny --dtype f32 --seed 1 -q --format hf -o "$tmp/hf" >/dev/null 2>&1
/usr/bin/python3 "$(dirname "$0")/rename_special_token.py" "$tmp/hf/tokenizer.json"
out="$(dpo "$tmp/rt" "$tmp/rt.log" --ref-model "$tmp/hf" 2>&1)"
echo "$out" | grep -q "tokenizer differs" && pass "--ref-model with another tokenizer is refused" || fail "ref tokenizer" "$out"

# Ctrl-C, then --resume: the same losses and the same adapter as a run never stopped.
"$H" dpo -m "$tmp/base.gguf" --data "$tmp/prefs.jsonl" -o "$tmp/part" --epochs 8 --batch 2 --lr 1e-2 --warmup 0 \
  --seed 2 --log-jsonl "$tmp/part.log" -t 2 --save-every 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 3000); do [ "$(cat "$tmp/part.log" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.02; done
kill -INT "$pid"; wait "$pid"; rc=$?
stopped="$(wc -l < "$tmp/part.log")"
out="$(dpo "$tmp/part" "$tmp/part.log" --resume 2>&1)" || fail "--resume" "$out"
cut -d, -f1-4 "$tmp/a.log" > "$tmp/f1"; cut -d, -f1-4 "$tmp/part.log" > "$tmp/f2"
if [ "$rc" -eq 130 ] && [ "$stopped" -lt 16 ] && cmp -s "$tmp/f1" "$tmp/f2" &&
  cmp -s "$tmp/a/adapter_model.safetensors" "$tmp/part/adapter_model.safetensors"; then
  pass "stopped after step $stopped (exit $rc), --resume: the same losses and adapter as an uninterrupted run"
else
  fail "resume (exit $rc, stopped after $stopped)" "$(diff "$tmp/f1" "$tmp/f2" | head -5)"
fi
out="$(dpo "$tmp/part" "$tmp/x.log" --resume --beta 0.2 2>&1)"
echo "$out" | grep -q "other options" && pass "resuming with another beta is refused" || fail "resume options" "$out"

# Bad data: the file, line and field named; nothing trained.
printf '%s\n' '{"prompt": "Hi", "chosen": "A", "rejected": "B"}' '{"prompt": "Hi", "chosen": "A"}' > "$tmp/bad1.jsonl"
printf '%s\n' '{"prompt": "Hi", "chosen": "Same.", "rejected": "Same."}' > "$tmp/bad2.jsonl"
printf '%s\n' '{"prompt": "Hi", "chosen": [{"role": "user", "content": "x"}], "rejected": "B"}' > "$tmp/bad3.jsonl"
for c in "bad1.jsonl:2|\"rejected\"" "bad2.jsonl:1|are the same" "bad3.jsonl:1|no assistant message"; do
  f="${c%%:*}"; want="${c#*|}"; where="${c%%|*}"
  out="$("$H" dpo -m "$tmp/base.gguf" --data "$tmp/$f" -o "$tmp/bad" -t 2 2>&1)"; rc=$?
  if [ "$rc" -ne 0 ] && echo "$out" | grep -qF "$where" && echo "$out" | grep -qF "$want" && [ ! -e "$tmp/bad/adapter.gguf" ]; then
    pass "refused: $where ($want)"
  else
    fail "bad data $f (exit $rc)" "$out"
  fi
done
out="$("$H" dpo -m "$tmp/base.gguf" --data "$tmp/prefs.jsonl" -o "$tmp/bad" --loss kto 2>&1)"
[ $? -eq 2 ] && echo "$out" | grep -q "sigmoid" && pass "an unknown --loss is a usage error" || fail "--loss kto" "$out"

# The automatic checkpointing choice counts a pair's two sequences (the first line's size).
kept() { sed -n 's/.*intermediates: up to \([0-9.]*\) GiB.*/\1/p' <<<"$1" | head -1; }
python3 -c "import json; print(json.dumps({'text': 'hello world ' * 40}))" > "$tmp/text.jsonl"
ft="$("$H" finetune -m "$tmp/base.gguf" --data "$tmp/text.jsonl" -o "$tmp/kft" --batch 2 --seq-len 8192 --max-steps 1 -t 2 2>&1)"
dp="$("$H" dpo -m "$tmp/base.gguf" --data "$tmp/prefs.jsonl" -o "$tmp/kdpo" --batch 2 --seq-len 8192 --max-steps 1 -t 2 2>&1)"
kf="$(kept "$ft")"; kd="$(kept "$dp")"
[ -n "$kf" ] && [ -n "$kd" ] && python3 -c "import sys; f, d = map(float, sys.argv[1:]); sys.exit(0 if f > 0 and abs(d - 2 * f) <= 0.011 else 1)" "$kf" "$kd" &&
  pass "auto checkpointing: dpo sizes a step's intermediates for two sequences per pair ($kd GiB vs finetune's $kf)" ||
  fail "dpo's kept-intermediates size" "finetune: $(head -1 <<<"$ft")
dpo: $(head -1 <<<"$dp")"

[ "$fails" -eq 0 ] && echo "test_dpo: ok" || echo "test_dpo: $fails failure(s)"
exit $((fails > 0))
