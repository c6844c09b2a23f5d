#!/usr/bin/env bash
# Prompt Guard speed: `herd guard --prompt-guard --bench` on a random-weight 86M directory in
# F32 (as released; also with --prompt-guard-bf16) and BF16, beside the same forward in PyTorch float32
# (bench/prompt_guard_bench.py) on the same threads. Prints ms per 512-token window and
# windows/s (batches of 8) for each. Not a test.
#   bash bench/prompt_guard_bench.sh [VARIANT=86m] [THREADS=nproc]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HERD="${HERD_BIN:-$root/build/herd}"
variant="${1:-86m}"
threads="${2:-$(nproc)}"
tmp="$(mktemp -d /tmp/herd-pgbench.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
echo "host: $(lscpu | sed -n 's/^Model name: *//p'), $threads threads; Prompt Guard $variant"
for dt in f32 bf16; do
  "$HERD" make-model --prompt-guard "$variant" --dtype "$dt" -o "$tmp/$dt" 2>/dev/null
  echo "== herd, $dt weights"
  "$HERD" guard --prompt-guard "$tmp/$dt" --bench -t "$threads"
  if [ "$dt" = f32 ]; then
    echo "== herd, f32 weights with --prompt-guard-bf16 (rounded to bf16 at load)"
    "$HERD" guard --prompt-guard "$tmp/$dt" --prompt-guard-bf16 --bench -t "$threads" ||
      echo "(no bf16 path on this host)"
  fi
  [ "$dt" = f32 ] && { echo "== PyTorch"; /usr/bin/python3 "$root/bench/prompt_guard_bench.py" "$tmp/$dt" --threads "$threads"; }
  rm -rf "$tmp/$dt"
done
