#!/usr/bin/env bash
# herd perplexity beside llama.cpp's llama-perplexity on the same GGUF and text: both final
# estimates, with f16 and f32 KV caches, and each tool's seconds. Not a test (llama.cpp is
# built outside the project).
#   LLAMA_PERPLEXITY=/path/to/llama-perplexity bash bench/perplexity_peer.sh [MODEL.gguf] [TEXT] [CTX]
# Without MODEL, a random-weight tiny f32 model and a 3,000-word text are made.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HERD="${HERD_BIN:-$root/build/herd}"
LP="${LLAMA_PERPLEXITY:?set LLAMA_PERPLEXITY to the llama-perplexity binary}"
tmp="$(mktemp -d /tmp/herd-pplpeer.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
model="${1:-}"
text="${2:-}"
ctx="${3:-128}"
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
echo "host: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads; model $model; -c $ctx"
for kv in f16 f32; do
  s=$(date +%s.%N)
  l=$("$LP" -m "$model" -f "$text" -c "$ctx" -t "$threads" -ctk $kv -ctv $kv 2>&1 | grep "Final estimate")
  m=$(date +%s.%N)
  h=$("$HERD" perplexity -m "$model" -f "$text" -c "$ctx" -t "$threads" -ctk $kv -ctv $kv -q 2>/dev/null)
  e=$(date +%s.%N)
  printf "KV %s | llama.cpp: %s (%.2f s) | herd: %s (%.2f s)\n" $kv "${l#*Final estimate: }" "$(echo "$m - $s" | bc)" \
    "${h#Final estimate: }" "$(echo "$e - $m" | bc)"
done
