#!/usr/bin/env bash
# herd imatrix beside llama.cpp's llama-imatrix on the same GGUF and text: whether the two
# files hold the same entries and ncall, the largest relative difference of their values
# (tests/reference/imatrix_np.py), and each tool's seconds. Not a test (llama.cpp is built
# outside the project).
#   LLAMA_IMATRIX=/path/to/llama-imatrix bash bench/imatrix_peer.sh [MODEL.gguf] [TEXT] [CTX] [BATCH]
# Without MODEL, a random-weight tiny f32 model and a 3,000-word text are made.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HERD="${HERD_BIN:-$root/build/herd}"
LI="${LLAMA_IMATRIX:?set LLAMA_IMATRIX to the llama-imatrix binary}"
tmp="$(mktemp -d /tmp/herd-imxpeer.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
model="${1:-}"
text="${2:-}"
ctx="${3:-128}"
batch="${4:-$ctx}"
if [ -z "$model" ]; then
  model="$tmp/m.gguf"
  "$HERD" make-model --shape tiny --dtype f32 --seed 3 -q -o "$model" 2>/dev/null
fi
if [ -z "$text" ]; then
  text="$tmp/text.txt"
  /usr/bin/python3 -c "
import random
random.seed(1)
w = 'the of and to in is was for on that with as by at from his her it an were are which this be or has had not'.split()
print(' '.join(random.choice(w) for _ in range(3000)))" > "$text"
fi
threads="${THREADS:-$(nproc)}"
echo "host: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads; model $model; -c $ctx -b $batch"
for extra in "" "--process-output"; do
  s=$(date +%s.%N)
  "$LI" -m "$model" -f "$text" -c "$ctx" -b "$batch" -t "$threads" $extra -o "$tmp/l.dat" >/dev/null 2>&1
  m=$(date +%s.%N)
  "$HERD" imatrix -m "$model" -f "$text" -c "$ctx" -b "$batch" -t "$threads" $extra -o "$tmp/h.dat" -q 2>/dev/null
  e=$(date +%s.%N)
  printf "%s | llama.cpp %.2f s | herd %.2f s | %s\n" "${extra:-layers only}" "$(echo "$m - $s" | bc)" "$(echo "$e - $m" | bc)" \
    "$(/usr/bin/python3 "$root/tests/reference/imatrix_np.py" "$tmp/h.dat" "$tmp/l.dat" --rtol 1 2>&1)"
done
