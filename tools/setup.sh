#!/usr/bin/env bash
# Installs exactly the Debian 12 packages herd needs to build and test, and
# nothing when they are already there (idempotent). Run as root (or with sudo).
#
#   g++ cmake make          the build
#   ccache                  compiler cache for every build (tools/ccache_env.sh: kept in
#                           ~/.cache/herd-ccache, shared by fresh clones in any folder)
#   libgtest-dev libgmock-dev googletest   unit tests
#   libbenchmark-dev        kernel micro-benchmarks (bench/kernels_bench.cpp; built in CI, not run)
#   nlohmann-json3-dev      JSON (config.json, tokenizer.json, safetensors headers)
#   python3-numpy           the float64 reference (runs under /usr/bin/python3)
#   python3-torch           autograd in float64: the reference for herd's training gradients
#                           (tests/reference/grad_check.py)
#   libopenblas0-pthread    numpy's BLAS (Debian's alternatives pick it over the reference
#                           BLAS that python3-numpy pulls in): the reference's matmuls run
#                           ~4x faster, and the reference tests with them
#   clang libclang-rt-14-dev   libFuzzer targets and their sanitizer runtimes
#   libmicrohttpd-dev       the HTTP transport of `herd serve` (apps/server/http_server.h:
#                           header/body limits and per-connection threads it can enforce)
#   libcpp-httplib-dev      the HTTP client of the server's unit tests
#   sentencepiece python3-sentencepiece   spm_train and Google's SentencePiece for Python: the
#                           reference for herd's unigram tokenizer (Prompt Guard; tests/e2e/test_prompt_guard.sh)
#   libedit-dev             herd chat's line editing and history file (BSD-licensed;
#                           apps/cli/turn_reader.h says why not readline or replxx)
#   pkgconf                 pkg-config, with which tests/e2e/test_install.sh builds the C API
#                           example against the installed herd.pc
#   bubblewrap              the file-system and network sandbox of `herd chat --allow-tools`
#   chromium                headless browser for the web page test (tests/e2e/test_web_page.sh,
#                           driven by playwright-core from tests/peers; no browser is downloaded)
#   nodejs npm              only when node is absent: independent peers from the npm
#                           registry (tests/peers/package.json, pinned by its lock file)
set -euo pipefail

packages=(g++ cmake make ccache libgtest-dev libgmock-dev googletest libbenchmark-dev nlohmann-json3-dev python3-numpy
  python3-torch  libopenblas0-pthread clang libclang-rt-14-dev bubblewrap libmicrohttpd-dev libcpp-httplib-dev chromium libedit-dev
  pkgconf sentencepiece python3-sentencepiece)

command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages present"
else
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm peers: reinstall only when the lock file changed since the last install.
# playwright-core drives Debian's /usr/bin/chromium; never let it fetch a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
peers="$(cd "$(dirname "$0")/.." && pwd)/tests/peers"
stamp="$peers/node_modules/.herd-lock-installed"
if [ ! -f "$stamp" ] || ! cmp -s "$peers/package-lock.json" "$stamp"; then
  echo "setup: npm ci in tests/peers"
  (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$peers/package-lock.json" "$stamp"
else
  echo "setup: npm peers present"
fi
