#!/usr/bin/env bash
# Builds every libFuzzer target (src/*/*_fuzz.cpp, apps/server/*_fuzz.cpp) with clang in a separate
# build directory and runs each for a bounded time.
#
#   tools/run_fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
#
# Environment: HERD_FUZZ_BUILD_DIR (default build-fuzz), JOBS (default 1), FUZZ_PARALLEL
# (targets run at once, default the core count),
# HERD_FUZZ_MAX_LEN (default 65536).
# Each target gets a corpus in $BUILD/fuzz/corpus/<target>, seeded from
# tests/fuzz_seeds/<target>/ where that exists and by the target itself
# (HERD_FUZZ_SEED_DIR=dir <target> -runs=0; targets that have no
# seed mode ignore it) and kept between runs. Crashes land in
# $BUILD/fuzz/artifacts/<target>/ and make the script exit non-zero.
set -euo pipefail

secs="${1:-60}"
shift || true
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${HERD_FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${JOBS:-1}"
max_len="${HERD_FUZZ_MAX_LEN:-65536}"
source "$root/tools/ccache_env.sh"

if ! command -v clang++ >/dev/null; then
  echo "run_fuzz: clang++ not found (apt-get install clang)" >&2
  exit 2
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  while IFS= read -r f; do
    targets+=("$(basename "$f" .cpp)")
  done < <(cd "$root" && ls src/*/*_fuzz.cpp apps/server/*_fuzz.cpp 2>/dev/null | sort)
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "run_fuzz: no src/*/*_fuzz.cpp files" >&2
  exit 2
fi

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DHERD_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

# One target per core at a time (FUZZ_PARALLEL, default the core count): each still gets
# `secs` seconds of one core, so the campaign is the same and takes 1/cores the time.
parallel="${FUZZ_PARALLEL:-$(nproc)}"
run_one() {
  local t="$1" bin="$build/fuzz/$1" corpus="$build/fuzz/corpus/$1" artifacts="$build/fuzz/artifacts/$1"
  mkdir -p "$corpus" "$artifacts"
  # Committed seeds (tests/fuzz_seeds/<target>/: small, hand-made or from goldens).
  if [ -d "$root/tests/fuzz_seeds/$t" ]; then cp -n "$root/tests/fuzz_seeds/$t"/* "$corpus"/ 2>/dev/null || true; fi
  HERD_FUZZ_SEED_DIR="$corpus" "$bin" -runs=0 >/dev/null 2>&1 || true
  local files
  files=$(ls "$corpus" | wc -l)
  if ! "$bin" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" 2>"$build/fuzz/$t.log"; then
    { echo "!! $t found a failure; see $build/fuzz/$t.log and $artifacts/"; tail -n 40 "$build/fuzz/$t.log"; } >&2
    return 1
  fi
  # One block per target, printed whole so parallel runs do not interleave.
  echo "== $t: ${secs}s, corpus $corpus ($files files at the start)
$(grep -E "^stat::(number_of_executed_units|peak_rss_mb)|cov:" "$build/fuzz/$t.log" | tail -n 3)"
}

status=0
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$parallel" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
