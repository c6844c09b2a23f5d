# Sourced by e2e scripts that run `herd serve` on a made tiny model (test_web_page.sh,
# test_serve_hostile.sh). Needs $HERD. Sets up:
#   $tmp        a temporary folder, removed at exit with the server ($pid) killed
#   $tmp/m.gguf the tiny q4_0 model
#   start_server OUT LOG ARGS...  starts `herd serve -m $tmp/m.gguf --host 127.0.0.1
#               --port 0 ARGS...` writing stdout to OUT and stderr to LOG; sets $pid and
#               $port, or prints the log and returns 1 if it did not start.
tmp="$(mktemp -d /tmp/herd-e2e.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
"$HERD" make-model --shape tiny --dtype q4_0 -o "$tmp/m.gguf" -q 2>/dev/null || { echo "FAIL make-model"; exit 1; }

start_server() {
  local out="$1" log="$2"
  shift 2
  "$HERD" serve -m "$tmp/m.gguf" --host 127.0.0.1 --port 0 "$@" >"$out" 2>"$log" &
  pid=$!
  port=""
  for _ in $(seq 1 100); do
    port="$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")"
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: server did not start"
  cat "$log"
  return 1
}
