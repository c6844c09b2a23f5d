#!/usr/bin/env bash
# herd quantize beside llama.cpp's llama-quantize, side by side on the same
# input: for each file type, whether the two output files are byte-identical
# and each tool's seconds and MB/s of input. Not a test (llama-quantize is not
# part of herd's CI; build it outside the project).
#   LLAMA_QUANTIZE=/path/to/llama-quantize bash bench/quantize_peer.sh [SHAPE] [SRC_DTYPE] [TYPES...]
# SHAPE is a make-model --shape (default: 16 layers of a small width, so the
# use_more_bits layer choices show); SRC_DTYPE f16 (default), bf16 or f32.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HERD="${HERD_BIN:-$root/build/herd}"
LQ="${LLAMA_QUANTIZE:?set LLAMA_QUANTIZE to the llama-quantize binary}"
shape="${1:-d_model=512,n_layers=16,n_heads=8,n_kv_heads=2,d_ff=1024}"
src="${2:-f16}"
shift $(( $# > 2 ? 2 : $# ))
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K F16 BF16)
threads="${THREADS:-$(nproc)}"
tmp="$(mktemp -d /tmp/herd-qpeer.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
"$HERD" make-model --shape "$shape" --dtype "$src" -o "$tmp/in.gguf" -q >/dev/null 2>&1
mb=$(( $(stat -c %s "$tmp/in.gguf") / 1000000 ))
echo "input: $shape, $src, ${mb} MB; $threads threads; host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
printf '%-8s %-10s %10s %10s %10s %10s\n' type same herd_s llama_s herd_MB/s llama_MB/s
for t in "${types[@]}"; do
  s0=$(date +%s.%N); "$HERD" quantize "$tmp/in.gguf" "$tmp/h.gguf" "$t" "$threads" -q 2>/dev/null; s1=$(date +%s.%N)
  "$LQ" "$tmp/in.gguf" "$tmp/l.gguf" "$t" "$threads" >/dev/null 2>&1; s2=$(date +%s.%N)
  same=differs; cmp -s "$tmp/h.gguf" "$tmp/l.gguf" && same=identical
  awk -v t="$t" -v s="$same" -v a="$s0" -v b="$s1" -v c="$s2" -v mb="$mb" \
    'BEGIN { printf "%-8s %-10s %10.2f %10.2f %10.0f %10.0f\n", t, s, b-a, c-b, mb/(b-a), mb/(c-b) }'
  rm -f "$tmp/h.gguf" "$tmp/l.gguf"
done
