#!/bin/bash
# ctest "reference": herd's training gradients (model/llama_train.h: loss, every LoRA dA/dB,
# the input gradient) against PyTorch autograd in float64 (grad_check.py, which says how its
# tolerance is derived), on frozen bases of several stored dtypes, GGUF and HF; ten AdamW
# steps against torch.optim.AdamW (llm.c's test); DPO's sigmoid (with label smoothing and
# the chosen-NLL term) and IPO losses and gradients over two preference pairs (train/dpo.h);
# distillation's loss (top-k teacher bins with a tail, temperature, CE mix; train/distill.h);
# full fine-tuning's gradients of every weight (train/full_weights.h), tied and untied; LoRA
# dropout's (herd's masks dumped, applied to the adapters' inputs in torch);
# and negative controls (one adapter's gradient judged as another's, a DPO step with each
# pair's reference log-probs swapped, a distillation step with the teacher's rows one position
# late, must fail); and the same with --bf16 (the bf16 products). The 22 comparisons run in one python process (grad_check.py --batch: torch
# is imported once, not 22 times).
set -euo pipefail
PY="${PYTHON:-/usr/bin/python3}"
DUMP="${HERD_TRAIN_DUMP:?set by ctest: the herd_train_dump tool}"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "test_reference_grads: python3-torch is missing (tools/setup.sh installs it)"
  [ "${CI:-}" = "true" ] && exit 1
  exit 77
fi
# The dumps first (herd's side), then every comparison in one python process (torch imported once:
# grad_check.py --batch; "fail" lines are negative controls, which must fail).
checks="$dir/checks.txt"
: > "$checks"
check() { echo "$1 $2|${*:3}" >> "$checks"; }  # check pass|fail TITLE MODEL DUMPDIR [options]
for t in f16 q8_0 q4_0 q4_k_s q6_k; do
  mkdir -p "$dir/$t"
  "$HERD_BIN" make-model --shape tiny --seed 11 -q --dtype "$t" -o "$dir/$t/model" >/dev/null 2>&1
  # q8_0 also runs llm.c's test (ten AdamW steps give PyTorch's losses), DPO's and distillation's losses.
  "$DUMP" "$dir/$t/model" "$dir/$t" $([ "$t" = q8_0 ] && echo --steps --dpo --kd --dropout)
  check pass "gguf $t" "$dir/$t/model" "$dir/$t"
done
Q="$dir/q8_0"
for loss in sigmoid ipo; do check pass "gguf q8_0, DPO $loss" "$Q/model" "$Q/dpo_$loss" --dpo; done
check pass "gguf q8_0, LoRA dropout 0.3" "$Q/model" "$Q/dropout"
check fail "LoRA dropout negative control" "$Q/model" "$Q/dropout" --negative-control
check pass "gguf q8_0, distillation" "$Q/model" "$Q/kd" --kd
check pass "gguf q8_0, distillation with the reverse KL" "$Q/model" "$Q/kd_reverse" --kd
check fail "distillation negative control" "$Q/model" "$Q/kd" --kd --negative-control
check fail "DPO negative control" "$Q/model" "$Q/dpo_sigmoid" --dpo --negative-control
mkdir -p "$dir/hf"
"$HERD_BIN" make-model --shape tiny --seed 11 -q --dtype bf16 --format hf -o "$dir/hf/model" >/dev/null 2>&1
"$DUMP" "$dir/hf/model" "$dir/hf"
check pass "hf bf16" "$dir/hf/model" "$dir/hf"
# Full fine-tuning (every weight's gradient): a tied GGUF model (the table gets the lookup's and
# the head's gradients) and the untied HF one (q/k rows in HF order).
mkdir -p "$dir/full-tied" "$dir/full-hf"
"$HERD_BIN" make-model --shape d_model=128,n_layers=2,n_heads=4,n_kv_heads=2,d_ff=256,tied=1 --seed 11 -q \
  --dtype f16 -o "$dir/full-tied/model" >/dev/null 2>&1
"$DUMP" "$dir/full-tied/model" "$dir/full-tied" --full
check pass "full fine-tuning, gguf f16 tied" "$dir/full-tied/model" "$dir/full-tied" --full
"$DUMP" "$dir/hf/model" "$dir/full-hf" --full
check pass "full fine-tuning, hf bf16" "$dir/hf/model" "$dir/full-hf" --full
# --bf16 (the model's products in bf16; grad_check.py --bf16 emulates the rounding and derives
# its budget): a Q4_0 LoRA step with ten AdamW steps, the HF bf16 base, full fine-tuning of the
# tied model; herd_train_dump runs ISA ref's scalar specification where the host has no bf16
# product. Each also checks that herd rounded (its gradients farther from the exact reference
# than that reference's budget).
mkdir -p "$dir/bf16-q4" "$dir/bf16-hf" "$dir/bf16-full"
"$DUMP" "$dir/q4_0/model" "$dir/bf16-q4" --bf16 --steps
check pass "gguf q4_0 --bf16" "$dir/q4_0/model" "$dir/bf16-q4" --bf16
check fail "--bf16 negative control" "$dir/q4_0/model" "$dir/bf16-q4" --bf16 --negative-control
"$DUMP" "$dir/hf/model" "$dir/bf16-hf" --bf16
check pass "hf bf16 --bf16" "$dir/hf/model" "$dir/bf16-hf" --bf16
"$DUMP" "$dir/full-tied/model" "$dir/bf16-full" --full --bf16
check pass "full fine-tuning --bf16, gguf f16 tied" "$dir/full-tied/model" "$dir/bf16-full" --full --bf16
check fail "full fine-tuning negative control" "$dir/full-tied/model" "$dir/full-tied" --full --negative-control
check fail "negative control" "$Q/model" "$Q" --negative-control
"$PY" "$here/grad_check.py" --batch "$checks" || { echo "test_reference_grads: FAILED"; exit 1; }
echo "test_reference_grads: ok"
