#!/usr/bin/env bash
# ctest "e2e": `herd serve` under hostile requests (tests/e2e/serve_hostile.py: nested
# JSON, exploding schemas, chunked and gzip bodies past the limit, DNS-rebinding Host
# names, header floods, 200 slow clients, log injection), then the listening-socket and
# API-key holes: a second server on a taken port fails before loading its model, and an
# empty --api-key / HERD_API_KEY is refused at startup while a set HERD_API_KEY is
# enforced; last, the graceful stop (serve_shutdown.py: SIGTERM during two streams).
# HERD_BIN names the binary; PYTHON a python3 (standard library only).
set -uo pipefail
HERD="${HERD_BIN:?HERD_BIN must name the herd binary}"
PY="${PYTHON:-/usr/bin/python3}"
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=serve_harness.sh
source "$here/serve_harness.sh"

fail=0
start_server "$tmp/out" "$tmp/log" --parallel 2 --threads 2 --max-seq-len 512 --request-timeout 3 || exit 1
"$PY" "$here/serve_hostile.py" "$port" "$pid" "$tmp/log" 3 || fail=1

# The port is taken: a second server says so, before loading the model (a path that
# does not exist would be the error otherwise), and does not share the port.
if "$HERD" serve -m "$tmp/no-such-model.gguf" --host 127.0.0.1 --port "$port" >"$tmp/out2" 2>"$tmp/log2"; then
  echo "FAIL: a second server on port $port started"; fail=1
elif grep -q "in use" "$tmp/log2" && ! grep -q "no-such-model" "$tmp/log2"; then
  echo "ok   a second server on a taken port fails first, naming the port"
else
  echo "FAIL: second server's error: $(cat "$tmp/log2")"; fail=1
fi
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""

# Empty keys are refused at startup, never served without one.
if "$HERD" serve -m "$tmp/m.gguf" --port 0 --api-key "" >/dev/null 2>"$tmp/log3"; then
  echo "FAIL: --api-key '' started"; fail=1
else
  grep -q "api-key is empty" "$tmp/log3" && echo "ok   --api-key '' refused" || { echo "FAIL: $(cat "$tmp/log3")"; fail=1; }
fi
if HERD_API_KEY="" "$HERD" serve -m "$tmp/m.gguf" --port 0 >/dev/null 2>"$tmp/log4"; then
  echo "FAIL: HERD_API_KEY='' started"; fail=1
else
  grep -q "HERD_API_KEY is set but empty" "$tmp/log4" && echo "ok   HERD_API_KEY='' refused" || { echo "FAIL: $(cat "$tmp/log4")"; fail=1; }
fi
HERD_API_KEY="k-$$" start_server "$tmp/out5" "$tmp/log5" --parallel 2 --threads 2 --max-seq-len 512 -q || exit 1
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/models")
code2=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer k-$$" "http://127.0.0.1:$port/v1/models")
if [ "$code" = 401 ] && [ "$code2" = 200 ]; then echo "ok   HERD_API_KEY enforced"; else
  echo "FAIL: HERD_API_KEY: without key $code (want 401), with key $code2 (want 200)"; fail=1; fi
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null

# Graceful stop: SIGTERM with two long streams running (serve_shutdown.py), then exit 0.
start_server "$tmp/out6" "$tmp/log6" --parallel 2 --threads 2 --max-seq-len 8192 --shutdown-timeout 1 -q || exit 1
"$PY" "$here/serve_shutdown.py" "$port" "$pid" || fail=1
wait "$pid"; rc=$?
pid=""
if [ "$rc" -eq 0 ] && grep -q "stopping: no new requests" "$tmp/log6"; then echo "ok   graceful stop exits 0"
else echo "FAIL: graceful stop: exit $rc; $(tail -3 "$tmp/log6")"; fail=1; fi
[ "$fail" -eq 0 ] && echo "all hostile-request checks passed"
exit "$fail"
