#!/usr/bin/env bash
# ctest "e2e": the web chat page of `herd serve` (GET /) in Debian's headless chromium,
# driven by playwright-core (tests/peers/web_page_check.mjs) against a made tiny model
# with an API key: load, key field, settings in the request, a streamed answer,
# markdown (escaped, tables, code copy), a tool call shown as such and answered, stop
# (UI ready, server idle), conversations kept across reloads (list, open, rename,
# delete), Copy / Regenerate / Edit, TTFT and tok/s under replies, dark mode, phone
# width, no request to any other host, no console errors. HERD_SCREENSHOTS=DIR also
# writes the screenshots of docs/serving.md.
# Needs /usr/bin/chromium and tests/peers/node_modules/playwright-core (tools/setup.sh
# installs both); without them it is skipped (exit 77), except under CI=true where it fails.
# HERD_BIN names the binary. The server is always killed at exit.
set -uo pipefail
HERD="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")" && pwd)"
peers="$here/../peers"
chromium="${HERD_CHROMIUM:-/usr/bin/chromium}"
# shellcheck source=missing_tool.sh
source "$here/missing_tool.sh"
command -v node >/dev/null || missing_tool "node not installed"
[ -x "$chromium" ] || missing_tool "$chromium not installed"
[ -d "$peers/node_modules/playwright-core" ] || missing_tool "tests/peers/node_modules/playwright-core missing"

# shellcheck source=serve_harness.sh
source "$here/serve_harness.sh"
echo "web-key-$$" > "$tmp/key"
start_server "$tmp/out" "$tmp/log" --parallel 2 --max-seq-len 4096 --threads 2 --api-key-file "$tmp/key" || exit 1
fail=0
# The browser's profile and crash dumps go to $tmp, never to $HOME.
(cd "$peers" && HOME="$tmp" XDG_CONFIG_HOME="$tmp" XDG_CACHE_HOME="$tmp" \
  timeout 120 node web_page_check.mjs "http://127.0.0.1:$port" "$(cat "$tmp/key")") || fail=1
kill -0 "$pid" 2>/dev/null || { echo "FAIL: the server died"; fail=1; }
if [ $fail -ne 0 ]; then echo "--- server log (tail)"; tail -20 "$tmp/log"; exit 1; fi
echo "all web page checks passed"
