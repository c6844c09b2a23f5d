#!/usr/bin/env bash
# herd's main job, from a fresh clone: set up, build, and run a model.
#
# herd does not ship trained weights yet and this machine cannot download
# any, so this makes a random-weight model with the exact shape, tensors and
# tokenizer of Llama 3.2 1B (Q4_0, ~0.8 GB) and generates from it. The
# pipeline is real; the text is noise, because the weights are random.
# Pass your own model with MODEL=/path/to/model.gguf (or an HF directory).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/setup.sh
HERD_BUILD_TARGETS=herd bash tools/build.sh build  # the binary only, not the tests
model="${MODEL:-}"
if [ -z "$model" ]; then
  model="$root/build/models/llama-3.2-1b-random-q4_0.gguf"
  if [ ! -f "$model" ]; then
    mkdir -p "$(dirname "$model")"
    ./build/herd make-model --shape 3.2-1b --dtype q4_0 -o "$model" --quiet
  fi
  echo
  echo "NOTE: this model has RANDOM weights (Llama 3.2 1B shape). Its output is noise."
  echo
fi
./build/herd run -m "$model" -p "${PROMPT:-The capital of France is}" -n "${N:-48}" --seed 42
