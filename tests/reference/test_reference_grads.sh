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
# late, must fail).
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
for t in f16 q8_0 q4_0 q4_k_s q6_k; do
  mkdir -p "$dir/$t"
  "$HERD_BIN" make-model --shape tiny --seed 11 -q --dtype "$t" -o "$dir/$t/model" >/dev/null 2>&1
  # q8_0 also runs llm.c's test (ten AdamW steps give PyTorch's losses), DPO's and distillation's losses.
  "$DUMP" "$dir/$t/model" "$dir/$t" $([ "$t" = q8_0 ] && echo --steps --dpo --kd --dropout)
  echo "== gguf $t"
  "$PY" "$here/grad_check.py" "$dir/$t/model" "$dir/$t"
done
for loss in sigmoid ipo; do
  echo "== gguf q8_0, DPO $loss"
  "$PY" "$here/grad_check.py" "$dir/q8_0/model" "$dir/q8_0/dpo_$loss" --dpo
done
echo "== gguf q8_0, LoRA dropout 0.3"
"$PY" "$here/grad_check.py" "$dir/q8_0/model" "$dir/q8_0/dropout"
echo "== LoRA dropout negative control"
if "$PY" "$here/grad_check.py" "$dir/q8_0/model" "$dir/q8_0/dropout" --negative-control; then
  echo "test_reference_grads: the dropout negative control passed: the comparison cannot fail"
  exit 1
fi
echo "== gguf q8_0, distillation"
"$PY" "$here/grad_check.py" "$dir/q8_0/model" "$dir/q8_0/kd" --kd
echo "== gguf q8_0, distillation with the reverse KL"
"$PY" "$here/grad_check.py" "$dir/q8_0/model" "$dir/q8_0/kd_reverse" --kd
echo "== distillation negative control"
if "$PY" "$here/grad_check.py" "$dir/q8_0/model" "$dir/q8_0/kd" --kd --negative-control; then
  echo "test_reference_grads: the distillation negative control passed: the comparison cannot fail"
  exit 1
fi
echo "== DPO negative control"
if "$PY" "$here/grad_check.py" "$dir/q8_0/model" "$dir/q8_0/dpo_sigmoid" --dpo --negative-control; then
  echo "test_reference_grads: the DPO negative control passed: the comparison cannot fail"
  exit 1
fi
mkdir -p "$dir/hf"
"$HERD_BIN" make-model --shape tiny --seed 11 -q --dtype bf16 --format hf -o "$dir/hf/model" >/dev/null 2>&1
"$DUMP" "$dir/hf/model" "$dir/hf"
echo "== hf bf16"
"$PY" "$here/grad_check.py" "$dir/hf/model" "$dir/hf"
# Full fine-tuning (every weight's gradient): a tied GGUF model (the table gets the lookup's and
# the head's gradients) and the untied HF one (q/k rows in HF order).
mkdir -p "$dir/full-tied" "$dir/full-hf"
"$HERD_BIN" make-model --shape d_model=128,n_layers=2,n_heads=4,n_kv_heads=2,d_ff=256,tied=1 --seed 11 -q \
  --dtype f16 -o "$dir/full-tied/model" >/dev/null 2>&1
"$DUMP" "$dir/full-tied/model" "$dir/full-tied" --full
echo "== full fine-tuning, gguf f16 tied"
"$PY" "$here/grad_check.py" "$dir/full-tied/model" "$dir/full-tied" --full
"$DUMP" "$dir/hf/model" "$dir/full-hf" --full
echo "== full fine-tuning, hf bf16"
"$PY" "$here/grad_check.py" "$dir/hf/model" "$dir/full-hf" --full
echo "== full fine-tuning negative control"
if "$PY" "$here/grad_check.py" "$dir/full-tied/model" "$dir/full-tied" --full --negative-control; then
  echo "test_reference_grads: the full fine-tuning negative control passed: the comparison cannot fail"
  exit 1
fi
echo "== negative control"
if "$PY" "$here/grad_check.py" "$dir/q8_0/model" "$dir/q8_0" --negative-control; then
  echo "test_reference_grads: the negative control passed: the comparison cannot fail"
  exit 1
fi
echo "test_reference_grads: ok"
