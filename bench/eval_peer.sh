#!/usr/bin/env bash
# herd perplexity and herd imatrix beside llama.cpp's llama-perplexity and llama-imatrix on
# the same GGUF and text: both final perplexity estimates with f16 and f32 KV caches;
# whether the two imatrix files hold the same entries and ncall and how far their values
# are apart (tests/reference/imatrix_np.py); the KL-divergence base files each tool writes
# read by the other (the model against a Q4_0 round trip of itself: each tool's mean KLD and
# same-top share on either file); each tool's seconds. Not a test (llama.cpp is built
# outside the project).
#   LLAMA_BIN=/path/to/llama.cpp/build/bin bash bench/eval_peer.sh [MODEL.gguf] [TEXT] [CTX] [BATCH]
# Without MODEL, a random-weight tiny f32 model is made; without TEXT, 3,000 random words
# (tests/reference/random_words.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HERD="${HERD_BIN:-$root/build/herd}"
LB="${LLAMA_BIN:?set LLAMA_BIN to the directory of llama-perplexity and llama-imatrix}"
tmp="$(mktemp -d /tmp/herd-evalpeer.XXXXXX)"
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
  /usr/bin/python3 "$root/tests/reference/random_words.py" 3000 1 > "$text"
fi
threads="${THREADS:-$(nproc)}"
secs() { echo "$2 - $1" | bc; }
echo "host: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads; model $model; -c $ctx -b $batch"
for kv in f16 f32; do
  s=$(date +%s.%N)
  l=$("$LB/llama-perplexity" -m "$model" -f "$text" -c "$ctx" -b "$batch" -t "$threads" -ctk $kv -ctv $kv 2>&1 |
    grep "Final estimate" || echo "(failed)")
  m=$(date +%s.%N)
  h=$("$HERD" perplexity -m "$model" -f "$text" -c "$ctx" -b "$batch" -t "$threads" -ctk $kv -ctv $kv -q 2>/dev/null)
  e=$(date +%s.%N)
  printf "perplexity, KV %s | llama.cpp: %s (%.2f s) | herd: %s (%.2f s)\n" $kv "${l#*Final estimate: }" \
    "$(secs "$s" "$m")" "${h#Final estimate: }" "$(secs "$m" "$e")"
done
for extra in "" "--process-output"; do
  s=$(date +%s.%N)
  "$LB/llama-imatrix" -m "$model" -f "$text" -c "$ctx" -b "$batch" -t "$threads" $extra -o "$tmp/l.dat" >/dev/null 2>&1
  m=$(date +%s.%N)
  "$HERD" imatrix -m "$model" -f "$text" -c "$ctx" -b "$batch" -t "$threads" $extra -o "$tmp/h.dat" -q 2>/dev/null
  e=$(date +%s.%N)
  printf "imatrix %s | llama.cpp %.2f s | herd %.2f s | %s\n" "${extra:-(layers only)}" "$(secs "$s" "$m")" \
    "$(secs "$m" "$e")" "$(/usr/bin/python3 "$root/tests/reference/imatrix_np.py" "$tmp/h.dat" "$tmp/l.dat" --rtol 1 2>&1)"
done
# KL divergence: base files from both tools, each read by both, against the model's Q4_0
# round trip (quantized and written back as F32).
"$HERD" quantize "$model" "$tmp/q.gguf" q4_0 -q 2>/dev/null
"$HERD" quantize "$tmp/q.gguf" "$tmp/back.gguf" f32 -q --allow-requantize 2>/dev/null
"$LB/llama-perplexity" -m "$model" -f "$text" -c "$ctx" -b "$batch" -t "$threads" --kl-divergence-base "$tmp/l.kld" >/dev/null 2>&1
"$HERD" perplexity -m "$model" -f "$text" -c "$ctx" -b "$batch" -t "$threads" -q --kl-divergence-base "$tmp/h.kld" >/dev/null 2>&1
kld_line() { grep -E '^(Mean    KLD|Same top p)' | tr '\n' ' '; }
for base in l h; do
  l=$("$LB/llama-perplexity" -m "$tmp/back.gguf" -c "$ctx" -b "$batch" -t "$threads" --kl-divergence-base "$tmp/$base.kld" \
    --kl-divergence 2>/dev/null | kld_line)
  h=$("$HERD" perplexity -m "$tmp/back.gguf" -t "$threads" --kl-divergence-base "$tmp/$base.kld" --kl-divergence 2>/dev/null |
    kld_line)
  printf "KL divergence, base file by %s | llama.cpp: %s | herd: %s\n" "$([ $base = l ] && echo llama.cpp || echo herd)" "$l" "$h"
done
