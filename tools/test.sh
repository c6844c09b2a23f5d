#!/usr/bin/env bash
# Sets up, builds and runs every test herd has: the README's test command and
# what CI runs.
#   1. setup (Debian packages, idempotent) and a Release build
#   2. ctest: unit, reference (herd vs the numpy float64 reference), e2e (the CLI)
#   3. the unit tests and a reference subset again under ASan + UBSan
#   4. each fuzz target for a bounded time (FUZZ_SECONDS, default 30)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
start=$(date +%s)
bash tools/setup.sh
bash tools/build.sh build

echo "== ctest (unit, reference, e2e)"
ctest --test-dir build --output-on-failure -j 2

echo "== ASan + UBSan: unit tests and a reference subset"
bash tools/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DHERD_SANITIZE=address,undefined
ctest --test-dir build-asan --output-on-failure -L unit -j 2
HERD_BIN="$root/build-asan/herd" /usr/bin/python3 tests/reference/check_models.py --quick

echo "== fuzz (${FUZZ_SECONDS:-30} s per target)"
bash tools/run_fuzz.sh "${FUZZ_SECONDS:-30}"

echo "== all tests passed in $(( $(date +%s) - start )) s"
