#!/usr/bin/env bash
# ctest "e2e": `herd chat` driven through a pseudo-terminal (chat_pty_driver.py, Python
# stdlib only) on a made tiny model: multi-turn with per-turn prefill counts checked
# against `herd template --ids`, /save and /load, /reset, /help, Ctrl-C during a reply
# and at the prompt, Ctrl-D, the context-full message, and tool calls (never run without
# --allow-tools; with it, sandboxed: output, CPU limit, no network), and libedit's line
# editing: keys, history kept across sessions (0600, --no-history), a paste as one turn,
# """ blocks and \ continuation, -p, colors.
# HERD_BIN names the binary.
set -uo pipefail
HERD="${HERD_BIN:?HERD_BIN must name the herd binary}"
PY="${PYTHON:-/usr/bin/python3}"
tmp="$(mktemp -d /tmp/herd-chat.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
"$HERD" make-model --shape tiny --dtype q4_0 -o "$tmp/m.gguf" -q 2>/dev/null || { echo "FAIL make-model"; exit 1; }
# User stop strings (stdin as a pipe): a greedy reply, then the same reply with
# a stop string taken from its middle must end just before that string.
full="$(printf 'hello\n' | "$HERD" chat -m "$tmp/m.gguf" --temp 0 -n 12 --date "26 July 2024" 2>/dev/null)"
stop="$("$PY" -c 'import sys; t=sys.argv[1]; print(t[len(t)//2:len(t)//2+4])' "$full")"
cut="$(printf 'hello\n' | "$HERD" chat -m "$tmp/m.gguf" --temp 0 -n 12 --date "26 July 2024" --stop "$stop" 2>/dev/null)"
if [ -n "$stop" ] && [ "$cut" == "${full%%"$stop"*}" ]; then echo "ok   --stop ends the reply before the stop string"
else echo "FAIL --stop: full [$full] stop [$stop] got [$cut]"; exit 1; fi
# Piped input takes the same multi-line forms as a terminal.
printf '"""one\ntwo"""\nthree\\\nfour\n/save %s\n' "$tmp/pipe.json" |
  "$HERD" chat -m "$tmp/m.gguf" -n 2 --date "26 July 2024" >/dev/null 2>&1
if "$PY" -c 'import json,sys; u=[m["content"] for m in json.load(open(sys.argv[1])) if m["role"]=="user"]; sys.exit(u!=["one\ntwo","three\nfour"])' "$tmp/pipe.json"
then echo "ok   piped \"\"\" blocks and \\ continuation"
else echo "FAIL piped multi-line turns: $(cat "$tmp/pipe.json" 2>&1)"; exit 1; fi
if "$PY" "$(dirname "$0")/chat_pty_driver.py" "$HERD" "$tmp/m.gguf" "$tmp"; then
  echo "all chat checks passed"
else
  echo "chat checks failed"
  exit 1
fi
