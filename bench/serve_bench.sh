#!/usr/bin/env bash
# Serving benchmark (printed, not asserted, not in CI): starts `herd serve` on a
# 3.2-1B-shaped model and drives it with bench/serve_bench.mjs at concurrency 1, 4
# and 16 (ROUNDS rounds of c streamed /v1/completions requests sent together,
# MAX_TOKENS tokens each; see the .mjs header for the definitions). Prints a
# markdown table: output tokens/s, aggregate decode tokens/s and its ratio to
# concurrency 1, TTFT and inter-token latency p50/p90/p99.
#
#   bench/serve_bench.sh [MODEL] [CONCURRENCIES] [MAX_TOKENS] [ROUNDS]
#   defaults: /tmp/m/1b-q4_0.gguf (made with `herd make-model --shape 3.2-1b --dtype
#   q4_0` if missing), 1,4,16, 64, 3.
# Environment: HERD_BIN (default build/herd), THREADS (default: all cores),
# PARALLEL (--parallel, default 16), SERVE_ARGS (extra `herd serve` flags); CHAT=1 and
# RESPONSE_FORMAT='{"type":"json_schema",...}' go to the client (chat route; constrained
# decoding), e.g. the same run with and without RESPONSE_FORMAT for its overhead.
# Run it on an otherwise idle machine: other load skews every figure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HERD="${HERD_BIN:-$root/build/herd}"
model="${1:-/tmp/m/1b-q4_0.gguf}"
conc="${2:-1,4,16}"
max_tokens="${3:-64}"
rounds="${4:-3}"
threads="${THREADS:-$(nproc)}"
[ -x "$HERD" ] || { echo "no herd binary at $HERD (build first, or set HERD_BIN)"; exit 1; }
command -v node >/dev/null || { echo "node is needed"; exit 1; }
if [ ! -f "$model" ]; then
  mkdir -p "$(dirname "$model")"
  "$HERD" make-model --shape 3.2-1b --dtype q4_0 -o "$model"
fi
tmp="$(mktemp -d /tmp/herd-bench.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck disable=SC2086
"$HERD" serve -m "$model" --port 0 --parallel "${PARALLEL:-16}" --max-seq-len 1024 --threads "$threads" -q \
  ${SERVE_ARGS:-} >"$tmp/out" 2>"$tmp/log" &
pid=$!
port=""
for _ in $(seq 1 600); do
  port="$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")"
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/log"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start"; cat "$tmp/log"; exit 1; }
echo "model $(basename "$model"), $threads threads, --parallel ${PARALLEL:-16}, max_tokens $max_tokens, $rounds requests per client"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; herd: $HERD"
echo
node "$root/bench/serve_bench.mjs" "http://127.0.0.1:$port" "$conc" "$max_tokens" "$rounds"
echo
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^herd_(engine_steps_total|generated_tokens_total) ' || true
