#!/usr/bin/env bash
# ctest "e2e": herd finetune end to end on a tiny random model.
#  - learning works: LoRA on three chat examples drives the training loss from
#    above 5 to below 0.05, and greedy decoding with `herd run --lora` then
#    reproduces each trained answer (and stops on <|eot_id|>); the base alone does not;
#  - the PEFT adapter is format-independent: the same adapter on the HF copy of the
#    base (make-model's same seed; q/k rows in HF order, B's rows permuted in the
#    file) gives the same greedy answers;
#  - two runs with the same seed give the same losses (--log-jsonl), bit for bit; a run
#    stopped with Ctrl-C and continued with --resume gives the same losses and adapter
#    (with --lora-dropout: the same masks; resumed with activation checkpointing, which
#    the uninterrupted run's auto choice left off);
#  - the GGUF LoRA written beside the PEFT files gives the same logits, bit for bit;
#    `herd export-lora` merges it into the GGUF base (checked element by element by
#    tests/reference/lora_merge_check.py) and into the HF base, and both merged models
#    answer as base + adapter;
#  - full fine-tuning (--full): the trained model (GGUF with 8-bit AdamW moments, and HF from an
#    HF base with f32 ones) answers the trained questions alone; Ctrl-C + --resume (8-bit
#    moments) gives the same losses and model bytes; an unknown --optimizer is refused;
#  - bad data is refused naming the file, line and field; a mismatched adapter is refused.
set -uo pipefail
H="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d /tmp/herd-finetune.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

"$H" make-model --shape tiny --dtype q8_0 --seed 1 -q -o "$tmp/base.gguf" 2>/dev/null || { fail "make-model"; exit 1; }
"$H" make-model --shape tiny --dtype f32 --seed 1 -q --format hf -o "$tmp/base-hf" 2>/dev/null || { fail "make-model hf"; exit 1; }
cat > "$tmp/data.jsonl" <<'JSONL'
{"messages": [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris is the capital of France."}]}

{"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a primary colour."}, {"role": "assistant", "content": "Red."}]}
{"messages": [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello there, friend!"}]}
JSONL
train() {  # output dir, log file
  "$H" finetune -m "$tmp/base.gguf" --data "$tmp/data.jsonl" -o "$1" --lora-rank 8 --epochs 25 --batch 3 \
    --lr 1e-2 --warmup 0 --seed 5 --log-jsonl "$2" -t 2 2>&1
}
out="$(train "$tmp/adapter" "$tmp/log1.jsonl")" && pass "herd finetune" || fail "herd finetune" "$out"
first="$(head -1 "$tmp/log1.jsonl" | sed 's/.*"loss": \([0-9.e+-]*\).*/\1/')"
last="$(tail -1 "$tmp/log1.jsonl" | sed 's/.*"loss": \([0-9.e+-]*\).*/\1/')"
awk -v f="$first" -v l="$last" 'BEGIN { exit !(f > 5 && l < 0.05) }' && pass "loss $first -> $last" ||
  fail "the loss did not fall from > 5 to < 0.05: $first -> $last" "$out"
[ -f "$tmp/adapter/adapter_config.json" ] && [ -f "$tmp/adapter/adapter_model.safetensors" ] &&
  [ -f "$tmp/adapter/adapter.gguf" ] && pass "PEFT files and the GGUF LoRA written" || fail "adapter files"

# Each trained question, rendered as in training (the conversation's own messages, no
# Meta preamble), answered greedily with the adapter.
question_ids() {  # question -> its token ids, comma-separated (a file per call: some run at once)
  local q
  q="$(mktemp "$tmp/q.XXXXXX")"
  printf '[{"role":"user","content":"%s"}]' "$1" > "$q"
  "$H" template --messages "$q" --ids --no-preamble | tr -s ' \n' ',' | sed 's/,$//'
}
answer() {  # model, question, [adapter]
  local ids
  ids="$(question_ids "$2")"
  if [ -n "${3:-}" ]; then
    "$H" run -m "$1" --lora "$3" --tokens "$ids" --temp 0 -n 12 -t 2 2>/dev/null
  else
    "$H" run -m "$1" --tokens "$ids" --temp 0 -n 12 -t 2 2>/dev/null
  fi
}
for qa in "What is the capital of France?|Paris is the capital of France." "Say hello.|Hello there, friend!"; do
  q="${qa%%|*}"; a="${qa#*|}"
  got="$(answer "$tmp/base.gguf" "$q" "$tmp/adapter")"
  [ "$got" == "$a" ] && pass "run --lora answers '$q' with the trained '$a'" || fail "run --lora: '$q' -> '$got'"
  got="$(answer "$tmp/base-hf" "$q" "$tmp/adapter")"
  [ "$got" == "$a" ] && pass "the same adapter on the HF base: '$a'" || fail "HF base with the adapter: '$q' -> '$got'"
  got="$(answer "$tmp/base.gguf" "$q")"
  [ "$got" != "$a" ] && pass "the base alone does not answer '$a'" || fail "the base alone already answers '$a'"
done

# --bf16 (the model's products with bf16 operands, f32 sums): the same learning test, on
# the host's bf16 product (AVX512_BF16 or AMX; elsewhere ISA ref's scalar specification).
# Its losses differ from the exact run's (the rounding is really used) and repeat bit for
# bit; --isa avx2 has no bf16 product and refuses with a clear error.
bf16_isa=(); grep -qw avx512_bf16 /proc/cpuinfo || bf16_isa=(--isa ref)
train16() {  # output dir, log file
  "$H" finetune -m "$tmp/base.gguf" --data "$tmp/data.jsonl" -o "$1" --lora-rank 8 --epochs 25 --batch 3 \
    --lr 1e-2 --warmup 0 --seed 5 --log-jsonl "$2" -t 2 --bf16 "${bf16_isa[@]}" 2>&1
}
out="$(train16 "$tmp/adapter16" "$tmp/log16.jsonl")" && pass "herd finetune --bf16 ${bf16_isa[*]}" || fail "finetune --bf16" "$out"
first="$(head -1 "$tmp/log16.jsonl" | sed 's/.*"loss": \([0-9.e+-]*\).*/\1/')"
last="$(tail -1 "$tmp/log16.jsonl" | sed 's/.*"loss": \([0-9.e+-]*\).*/\1/')"
awk -v f="$first" -v l="$last" 'BEGIN { exit !(f > 5 && l < 0.05) }' && pass "--bf16 loss $first -> $last" ||
  fail "--bf16: the loss did not fall from > 5 to < 0.05: $first -> $last" "$out"
cut -d, -f1-4 "$tmp/log1.jsonl" > "$tmp/e1"; cut -d, -f1-4 "$tmp/log16.jsonl" > "$tmp/e2"
! cmp -s "$tmp/e1" "$tmp/e2" && pass "--bf16 losses differ from the exact run's" || fail "--bf16 gave the exact run's losses"
out="$(train16 "$tmp/adapter16b" "$tmp/log16b.jsonl")" || fail "finetune --bf16 again" "$out"
cut -d, -f1-4 "$tmp/log16b.jsonl" > "$tmp/e3"
cmp -s "$tmp/e2" "$tmp/e3" && cmp -s "$tmp/adapter16/adapter_model.safetensors" "$tmp/adapter16b/adapter_model.safetensors" &&
  pass "--bf16 repeats bit for bit (losses and adapter)" || fail "--bf16 runs differ"
for qa in "What is the capital of France?|Paris is the capital of France." "Say hello.|Hello there, friend!"; do
  q="${qa%%|*}"; a="${qa#*|}"
  got="$(answer "$tmp/base.gguf" "$q" "$tmp/adapter16")"
  [ "$got" == "$a" ] && pass "run --lora with the --bf16 adapter answers '$a'" || fail "--bf16 adapter: '$q' -> '$got'"
done
if grep -qw avx2 /proc/cpuinfo; then
  out="$("$H" finetune -m "$tmp/base.gguf" --data "$tmp/data.jsonl" -o "$tmp/x" --bf16 --isa avx2 2>&1)" && rc=0 || rc=$?
  [ "$rc" -ne 0 ] && echo "$out" | grep -q "bf16 needs a CPU with AVX512_BF16 or AMX; ISA avx2" &&
    pass "--bf16 --isa avx2 refused: $(echo "$out" | grep -o 'bf16 needs[^;]*')" || fail "--bf16 on avx2" "$out"
fi

# Logits: the adapter on the f32 GGUF and on the f32 HF copy (the same weights; q/k rows
# in Meta vs HF order, the adapter's B rows of q and k permuted on reading) agree far more
# closely than the adapter moves them (a wrong row order would move them by about as much).
"$H" make-model --shape tiny --dtype f32 --seed 1 -q -o "$tmp/base32.gguf" 2>/dev/null
logits() {  # model, out.npy, [adapter]
  "$H" run -m "$1" ${3:+--lora "$3"} -p "Say hello." -n 0 --logits-out "$2" -t 2 >/dev/null 2>&1
}
logits "$tmp/base32.gguf" "$tmp/g.npy" "$tmp/adapter" && logits "$tmp/base-hf" "$tmp/h.npy" "$tmp/adapter" &&
  logits "$tmp/base32.gguf" "$tmp/b.npy" || fail "run --logits-out"
"${PYTHON:-/usr/bin/python3}" - "$tmp" <<'PY' && pass "GGUF and HF with the adapter: same logits" || fail "GGUF vs HF logits with the adapter"
import sys, numpy as np
d = sys.argv[1]
g, h, b = (np.load(f"{d}/{n}.npy").astype(np.float64) for n in "ghb")
moved, apart = np.abs(g - b).max(), np.abs(g - h).max()
print(f"     adapter moves the logits by {moved:.3g}; GGUF vs HF with it differ by {apart:.3g}")
sys.exit(0 if apart < 1e-3 * moved else 1)
PY

# The GGUF LoRA gives the PEFT adapter's logits bit for bit, on either base.
logits "$tmp/base32.gguf" "$tmp/gg.npy" "$tmp/adapter/adapter.gguf" && logits "$tmp/base-hf" "$tmp/hg.npy" "$tmp/adapter/adapter.gguf" ||
  fail "run --lora adapter.gguf"
"${PYTHON:-/usr/bin/python3}" - "$tmp" <<'PY' && pass "GGUF LoRA and PEFT adapter: identical logits on both bases" || fail "GGUF LoRA vs PEFT logits"
import sys, numpy as np
d = sys.argv[1]
sys.exit(0 if all(np.array_equal(np.load(f"{d}/{a}.npy"), np.load(f"{d}/{b}.npy")) for a, b in (("g", "gg"), ("h", "hg"))) else 1)
PY

# export-lora: merged into the GGUF base (F16 tensors, as llama-export-lora writes them)
# and into the HF base (its own dtype); each merged model answers as base + adapter.
out="$("$H" export-lora -m "$tmp/base.gguf" --lora "$tmp/adapter/adapter.gguf" -o "$tmp/merged.gguf" -q 2>&1)" || fail "export-lora (GGUF)" "$out"
out="$("${PYTHON:-/usr/bin/python3}" "$here/reference/lora_merge_check.py" "$tmp/base.gguf" "$tmp/adapter/adapter.gguf" "$tmp/merged.gguf" 2>&1)" &&
  pass "$out" || fail "merged GGUF tensors" "$out"
"${PYTHON:-/usr/bin/python3}" "$here/reference/lora_merge_check.py" "$tmp/base.gguf" "$tmp/adapter/adapter.gguf" "$tmp/base.gguf" >/dev/null 2>&1 &&
  fail "lora_merge_check accepts the unmerged base" || pass "lora_merge_check refuses the unmerged base"
out="$("$H" export-lora -m "$tmp/base-hf" --lora "$tmp/adapter:0.5" --lora "$tmp/adapter:0.5" -o "$tmp/merged-hf" -q 2>&1)" ||
  fail "export-lora (HF, two halves of the adapter)" "$out"
for qa in "What is the capital of France?|Paris is the capital of France." "Say hello.|Hello there, friend!"; do
  q="${qa%%|*}"; a="${qa#*|}"
  got="$(answer "$tmp/merged.gguf" "$q")"
  [ "$got" == "$a" ] && pass "merged GGUF answers '$q' with '$a'" || fail "merged GGUF: '$q' -> '$got'"
  got="$(answer "$tmp/merged-hf" "$q")"
  [ "$got" == "$a" ] && pass "merged HF answers '$q' with '$a'" || fail "merged HF: '$q' -> '$got'"
done
logits "$tmp/merged-hf" "$tmp/m.npy" || fail "run on the merged HF model"
"${PYTHON:-/usr/bin/python3}" - "$tmp" <<'PY' && pass "merged HF (f32): the logits of base + adapter" || fail "merged HF logits"
import sys, numpy as np
d = sys.argv[1]
h, m, b = (np.load(f"{d}/{n}.npy").astype(np.float64) for n in "hmb")
moved, apart = np.abs(h - b).max(), np.abs(h - m).max()
print(f"     adapter moves the logits by {moved:.3g}; merged vs applied differ by {apart:.3g}")
sys.exit(0 if apart < 1e-3 * moved else 1)
PY
out="$("$H" export-lora -m "$tmp/base-hf" --lora "$tmp/adapter" -o "$tmp/merged-hf" -q 2>&1)"
[ $? -eq 2 ] && echo "$out" | grep -q "not an empty directory" && pass "export-lora does not overwrite a directory" ||
  fail "export-lora over an existing directory" "$out"

# herd serve with the adapter as a module: requests choose it by name and get the
# trained answers; the base and the adapter, asked at once, each answer as alone.
# The same adapter also as --lora with scale 0 (adapter 0): requests without a
# "lora" list get the base; with llama-server's "lora": [{"id": 0, "scale": 1}], the
# trained answers.
"$H" serve -m "$tmp/base.gguf" --host 127.0.0.1 --port 0 --parallel 4 --lora-module "ft=$tmp/adapter/adapter.gguf" \
  --lora "$tmp/adapter/adapter.gguf:0" \
  >"$tmp/srv.out" 2>"$tmp/srv.log" &
spid=$!
port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/srv.out")"; [ -n "$port" ] && break; sleep 0.1
done
serve_answer() {  # model name, question[, extra JSON fields] -> the completion text
  local ids
  ids="$(question_ids "$2")"
  curl -s "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
    -d "{\"model\": \"$1\", \"prompt\": [$ids], \"max_tokens\": 12, \"temperature\": 0${3:+, $3}}" |
    "${PYTHON:-/usr/bin/python3}" -c 'import json, sys; print(json.load(sys.stdin)["choices"][0]["text"])'
}
if [ -n "$port" ]; then
  q="Say hello."; a="Hello there, friend!"
  got="$(serve_answer ft "$q")"
  [ "$got" == "$a" ] && pass "serve --lora-module: \"model\": \"ft\" answers '$a'" || fail "serve with the module: '$got'"
  base_alone="$(serve_answer base "$q")"
  [ "$base_alone" != "$a" ] && pass "the base model on the same server does not" || fail "the base answers '$a' too"
  serve_answer "base.gguf+ft" "$q" > "$tmp/c1" & c1=$!
  serve_answer base "$q" > "$tmp/c2" & c2=$!
  serve_answer ft "$q" > "$tmp/c3" & c3=$!
  wait "$c1" "$c2" "$c3"
  [ "$(cat "$tmp/c1")" == "$a" ] && [ "$(cat "$tmp/c3")" == "$a" ] && [ "$(cat "$tmp/c2")" == "$base_alone" ] &&
    pass "concurrent requests with and without the adapter each answer as alone" ||
    fail "concurrent mixed requests" "$(cat "$tmp/c1" "$tmp/c2" "$tmp/c3")"
  got="$(serve_answer base "$q" '"lora": [{"id": 0, "scale": 1}]')"
  [ "$got" == "$a" ] && pass "serve --lora ADAPTER:0 with \"lora\": [{\"id\": 0, \"scale\": 1}] answers '$a'" ||
    fail "per-request lora weight 1: '$got'"
  serve_answer base "$q" '"lora": [{"id": 0, "scale": 1}]' > "$tmp/c1" & c1=$!
  serve_answer base "$q" > "$tmp/c2" & c2=$!
  wait "$c1" "$c2"
  [ "$(cat "$tmp/c1")" == "$a" ] && [ "$(cat "$tmp/c2")" == "$base_alone" ] &&
    pass "concurrent requests with lora weights 1 and 0 each answer as alone" ||
    fail "concurrent lora weights" "$(cat "$tmp/c1" "$tmp/c2")"
  listed="$(curl -s "http://127.0.0.1:$port/lora-adapters")"
  echo "$listed" | grep -q '"scale":0.0' && pass "GET /lora-adapters lists the adapter at scale 0" ||
    fail "GET /lora-adapters" "$listed"
else
  fail "herd serve --lora-module did not start" "$(cat "$tmp/srv.log")"
fi
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null

# Ctrl-C, then --resume: the same losses and the same adapter file as a run never stopped
# (with LoRA dropout, so the resumed run must also draw the masks the unstopped one did).
ft() {  # output dir, log, extra args...
  local o="$1" l="$2"; shift 2
  "$H" finetune -m "$tmp/base.gguf" --data "$tmp/data.jsonl" -o "$o" --epochs 8 --batch 1 --lr 1e-2 --warmup 2 \
    --lora-dropout 0.1 --seed 3 --log-jsonl "$l" -t 2 "$@"
}
out="$(ft "$tmp/full" "$tmp/full.log" 2>&1)" || fail "uninterrupted run" "$out"
# The tiny model's intermediates fit: auto keeps them (the resumed run below checkpoints,
# so the same losses and adapter also show that the choice changes no bit).
echo "$out" | grep -q "activation checkpointing off (auto;" && pass "auto keeps the intermediates when they fit" ||
  fail "activation checkpointing auto" "$(echo "$out" | head -3)"
grep -q '"lora_dropout": 0.1' "$tmp/full/adapter_config.json" && pass "adapter_config.json records lora_dropout" ||
  fail "lora_dropout in adapter_config.json" "$(cat "$tmp/full/adapter_config.json")"
# (herd itself in the background, not a function: a background subshell would ignore SIGINT)
"$H" finetune -m "$tmp/base.gguf" --data "$tmp/data.jsonl" -o "$tmp/part" --epochs 8 --batch 1 --lr 1e-2 --warmup 2 \
  --lora-dropout 0.1 --seed 3 --log-jsonl "$tmp/part.log" -t 2 --save-every 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 3000); do [ "$(cat "$tmp/part.log" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.02; done
kill -INT "$pid"; wait "$pid"; rc=$?
stopped="$(wc -l < "$tmp/part.log")"
# Two processes, the same seed: the steps the stopped run took have the uninterrupted run's losses.
head -n "$stopped" "$tmp/full.log" | cut -d, -f1-4 > "$tmp/l1"; cut -d, -f1-4 "$tmp/part.log" > "$tmp/l2"
[ "$stopped" -ge 3 ] && cmp -s "$tmp/l1" "$tmp/l2" && pass "the same seed gives the same losses ($stopped steps, two processes)" ||
  fail "runs with the same seed differ" "$(diff "$tmp/l1" "$tmp/l2" | head -4)"
out="$(ft "$tmp/part" "$tmp/part.log" --resume --activation-checkpointing on 2>&1)" || fail "--resume" "$out"
cut -d, -f1-4 "$tmp/full.log" > "$tmp/f1"; cut -d, -f1-4 "$tmp/part.log" > "$tmp/f2"
if [ "$rc" -eq 130 ] && [ "$stopped" -lt 24 ] && cmp -s "$tmp/f1" "$tmp/f2" &&
  cmp -s "$tmp/full/adapter_model.safetensors" "$tmp/part/adapter_model.safetensors"; then
  pass "stopped after step $stopped (exit $rc), --resume (checkpointing on): the same losses and adapter as an uninterrupted run"
else
  fail "resume (exit $rc, stopped after $stopped)" "$(diff "$tmp/f1" "$tmp/f2" | head -5)"
fi
out="$(ft "$tmp/part" "$tmp/x.log" --resume --lr 2e-2 2>&1)"
echo "$out" | grep -q "other options" && pass "resuming with other options is refused" || fail "resume options" "$out"
out="$(ft "$tmp/part" "$tmp/x.log" --activation-checkpointing sometimes 2>&1)"
echo "$out" | grep -q "expected on, off or auto, got 'sometimes'" && pass "a bad --activation-checkpointing is refused" ||
  fail "--activation-checkpointing sometimes" "$out"

# Full fine-tuning (--full): every weight trained from the base's exact values; the model is
# written in the base's format and float type and answers the trained questions with a plain
# `herd run` (no adapter); a run stopped with Ctrl-C and resumed gives the same losses and the
# same model bytes; LoRA options with --full are a usage error.
small="d_model=64,n_layers=2,n_heads=2,n_kv_heads=1,d_ff=128"
"$H" make-model --shape "$small" --dtype f16 --seed 1 -q -o "$tmp/small.gguf" 2>/dev/null
"$H" make-model --shape "$small" --dtype bf16 --seed 1 -q --format hf -o "$tmp/small-hf" 2>/dev/null
fft() {  # base, output dir, log, extra args...
  local b="$1" o="$2" l="$3"; shift 3
  "$H" finetune -m "$b" --data "$tmp/data.jsonl" -o "$o" --full --epochs 8 --batch 1 --lr 3e-3 --warmup 2 \
    --seed 3 --log-jsonl "$l" -t 2 "$@"
}
# The GGUF runs use 8-bit AdamW moments (--optimizer adamw8bit: the resume carries their codes
# and block scales), the HF run PyTorch's f32 AdamW.
out="$(fft "$tmp/small.gguf" "$tmp/ffull" "$tmp/ffull.log" --optimizer adamw8bit 2>&1)" && [ -f "$tmp/ffull/model.gguf" ] &&
  echo "$out" | grep -q "with gradients and 8-bit AdamW" &&
  pass "finetune --full --optimizer adamw8bit writes model.gguf" || fail "finetune --full" "$out"
out="$("$H" inspect "$tmp/ffull/model.gguf" 2>&1)"
echo "$out" | grep -q 'general.file_type  *u32  *1$' && pass "the model keeps the base's f16" || fail "--full model file type" "$out"
"$H" finetune -m "$tmp/small.gguf" --data "$tmp/data.jsonl" -o "$tmp/fpart" --full --epochs 8 --batch 1 --lr 3e-3 \
  --warmup 2 --seed 3 --log-jsonl "$tmp/fpart.log" -t 2 --save-every 1 --optimizer adamw8bit >/dev/null 2>&1 &
pid=$!
for _ in $(seq 3000); do [ "$(cat "$tmp/fpart.log" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.02; done
kill -INT "$pid"; wait "$pid"; rc=$?
stopped="$(wc -l < "$tmp/fpart.log")"
out="$(fft "$tmp/small.gguf" "$tmp/fpart" "$tmp/fpart.log" --resume --optimizer adamw8bit 2>&1)" || fail "--full --resume" "$out"
cut -d, -f1-4 "$tmp/ffull.log" > "$tmp/f1"; cut -d, -f1-4 "$tmp/fpart.log" > "$tmp/f2"
if [ "$rc" -eq 130 ] && [ "$stopped" -lt 24 ] && cmp -s "$tmp/f1" "$tmp/f2" && cmp -s "$tmp/ffull/model.gguf" "$tmp/fpart/model.gguf"; then
  pass "--full stopped after step $stopped, --resume: the same losses and model bytes as an uninterrupted run"
else
  fail "--full resume (exit $rc, stopped after $stopped)" "$(diff "$tmp/f1" "$tmp/f2" | head -5)"
fi
out="$(fft "$tmp/small-hf" "$tmp/ffull-hf" "$tmp/ffull-hf.log" 2>&1)" && [ -f "$tmp/ffull-hf/model/config.json" ] &&
  grep -q '"torch_dtype": "bfloat16"' "$tmp/ffull-hf/model/config.json" &&
  pass "finetune --full on the HF base writes an HF directory (bf16)" || fail "finetune --full (HF)" "$out"
for qa in "What is the capital of France?|Paris is the capital of France." "Say hello.|Hello there, friend!"; do
  q="${qa%%|*}"; a="${qa#*|}"
  got="$(answer "$tmp/ffull/model.gguf" "$q")"
  [ "$got" == "$a" ] && pass "the fully fine-tuned GGUF answers '$q' with '$a'" || fail "--full GGUF: '$q' -> '$got'"
  got="$(answer "$tmp/ffull-hf/model" "$q")"
  [ "$got" == "$a" ] && pass "the fully fine-tuned HF model answers '$q' with '$a'" || fail "--full HF: '$q' -> '$got'"
  got="$(answer "$tmp/small.gguf" "$q")"
  [ "$got" != "$a" ] && pass "the small base alone does not" || fail "the small base already answers '$a'"
done
out="$("$H" finetune -m "$tmp/small.gguf" --data "$tmp/data.jsonl" -o "$tmp/x" --optimizer adam8 2>&1)"
[ $? -eq 2 ] && echo "$out" | grep -q "expected adamw or adamw8bit" && pass "an unknown --optimizer is a usage error" ||
  fail "--optimizer adam8" "$out"
out="$("$H" finetune -m "$tmp/small.gguf" --data "$tmp/data.jsonl" -o "$tmp/x" --full --lora-rank 4 2>&1)"
[ $? -eq 2 ] && echo "$out" | grep -q "no --lora" && pass "--full with --lora-rank is a usage error" || fail "--full + LoRA" "$out"

printf '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n{"messages": [{"role": "user"}]\n' > "$tmp/bad.jsonl"
out="$("$H" finetune -m "$tmp/base.gguf" --data "$tmp/bad.jsonl" -o "$tmp/x" 2>&1)"
[ $? -eq 1 ] && echo "$out" | grep -q "bad.jsonl:2: " && pass "bad JSON names its line" || fail "bad JSON" "$out"
printf '{"messages": [{"role": "user", "content": "hi"}]}\n' > "$tmp/noasst.jsonl"
out="$("$H" finetune -m "$tmp/base.gguf" --data "$tmp/noasst.jsonl" -o "$tmp/x" 2>&1)"
echo "$out" | grep -q "noasst.jsonl:1: .*no assistant message" && pass "no assistant turn is an error" || fail "no assistant" "$out"
printf '{"text": 5}\n' > "$tmp/badtext.jsonl"
out="$("$H" finetune -m "$tmp/base.gguf" --data "$tmp/badtext.jsonl" -o "$tmp/x" 2>&1)"
echo "$out" | grep -q 'badtext.jsonl:1: field "text"' && pass "a non-string text names the field" || fail "text field" "$out"
"$H" make-model --shape "d_model=128,n_layers=2,n_heads=4,n_kv_heads=2,d_ff=256" --dtype f32 -q -o "$tmp/other.gguf" 2>/dev/null
out="$("$H" run -m "$tmp/other.gguf" --lora "$tmp/adapter" -p hi -n 1 2>&1)"
[ $? -eq 1 ] && echo "$out" | grep -q "another base model" && pass "an adapter for another base is refused" ||
  fail "mismatched adapter" "$out"
[ "$fails" -eq 0 ] && echo "test_finetune: all passed" || echo "test_finetune: $fails failed"
[ "$fails" -eq 0 ]
