#!/usr/bin/env bash
# ctest "e2e" (Release) and tools/test.sh (under ASan + UBSan): a bounded load test of
# `herd serve` on 127.0.0.1 with the tiny q4_0 model. tests/peers/serve_load.mjs runs
# 64 clients x 20 requests (chat, completions, streams, n>1, stops, logprobs, tool_choice
# required, json_schema, malformed and oversize bodies, raw-socket garbage, aborts before
# the first byte and mid-response, same-seed probes) and checks every answer; see its
# header. This script then checks that the server is still alive, stops it with SIGTERM,
# and requires a clean exit (status 0 within 30 s) with no sanitizer report in its log.
#
# HERD_BIN names the binary (an ASan build is detected and given ASAN_OPTIONS).
# LOAD_CLIENTS / LOAD_REQUESTS / LOAD_SEED override the mix (defaults 64 / 20 / fixed).
set -uo pipefail
HERD="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")" && pwd)"
peers="$here/../peers"
tmp="$(mktemp -d /tmp/herd-load.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=missing_tool.sh
source "$(dirname "$0")/missing_tool.sh"
command -v node >/dev/null || missing_tool "node not installed"
start=$(date +%s)
"$HERD" make-model --shape tiny --dtype q4_0 -o "$tmp/m.gguf" -q 2>/dev/null || { echo "FAIL make-model"; exit 1; }

# Sanitizer reports go to the log; leaks are checked at exit. halt_on_error keeps the
# first report (and the non-zero status) rather than a cascade.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# --parallel 8 with a KV pool of 512 tokens (32 blocks) is short on purpose: the
# tool prompts (~320 tokens) and n>1 force preemption (herd_preemptions_total).
# --max-queue 56 (< 64 clients x up to 3 choices) makes 429s part of the mix.
"$HERD" serve -m "$tmp/m.gguf" --host 127.0.0.1 --port 0 --parallel 8 --ctx-size 512 --max-seq-len 512 \
  --max-queue 56 --max-body 65536 --threads 2 -q --strict-model-names >"$tmp/out" 2>"$tmp/log" &
pid=$!
port=""
for _ in $(seq 1 300); do
  port="$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")"
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { echo "FAIL: server did not start"; cat "$tmp/log"; exit 1; }
base="http://127.0.0.1:$port"
fail=0
(cd "$peers" && LOAD_MAX_SEQ=512 LOAD_MAX_BODY=65536 timeout 900 node serve_load.mjs "$base" \
  "${LOAD_CLIENTS:-64}" "${LOAD_REQUESTS:-20}") || fail=1

kill -0 "$pid" 2>/dev/null || { echo "FAIL: the server died"; fail=1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/health")
[ "$code" = 200 ] || { echo "FAIL: /health gave $code after the load"; fail=1; }

# Clean shutdown: SIGTERM, exit status 0, no sanitizer report.
kill -TERM "$pid" 2>/dev/null
status=""
for _ in $(seq 1 300); do
  if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; status=$?; break; fi
  sleep 0.1
done
if [ -z "$status" ]; then echo "FAIL: the server did not exit within 30 s of SIGTERM"; fail=1
elif [ "$status" != 0 ]; then echo "FAIL: the server exited with status $status after SIGTERM"; fail=1; fi
pid=""
if grep -qE 'Sanitizer|runtime error:|check failed at|Assertion' "$tmp/log"; then
  echo "FAIL: sanitizer or check report in the server log"; fail=1
fi
if [ $fail -ne 0 ]; then echo "--- server log (tail)"; tail -60 "$tmp/log"; exit 1; fi
echo "serve load test passed in $(( $(date +%s) - start )) s"
