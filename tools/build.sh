#!/usr/bin/env bash
# Configures and builds herd (Release) in build/, or in $1 with extra cmake args.
#   tools/build.sh                      -> build/herd and all test binaries
#   tools/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O1 -DHERD_SANITIZE=address,undefined
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-build}"
shift || true
jobs="${JOBS:-$(nproc)}"
source "$root/tools/ccache_env.sh"
cmake -S "$root" -B "$root/$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$root/$dir" -j "$jobs"
