#!/usr/bin/env bash
# Configures and builds herd (Release) in build/, or in $1 with extra cmake args.
#   tools/build.sh                      -> build/herd and all test binaries
#   HERD_BUILD_TARGETS=herd tools/build.sh  -> only the herd binary (tools/run.sh)
#   tools/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O1 -DHERD_SANITIZE=address,undefined
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-build}"
shift || true
jobs="${JOBS:-$(nproc)}"
source "$root/tools/ccache_env.sh"
cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
# shellcheck disable=SC2086  # a space-separated target list
cmake --build "$root/$dir" -j "$jobs" ${HERD_BUILD_TARGETS:+--target $HERD_BUILD_TARGETS}
