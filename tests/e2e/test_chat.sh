#!/usr/bin/env bash
# ctest "e2e": `herd chat` driven through a pseudo-terminal (chat_pty_driver.py, Python
# stdlib only) on a made tiny model: multi-turn with per-turn prefill counts checked
# against `herd template --ids`, /save and /load, /reset, /help, Ctrl-C during a reply
# and at the prompt, Ctrl-D, the context-full message, and tool calls (never run without
# --allow-tools; with it, sandboxed: output, CPU limit, no network).
# HERD_BIN names the binary.
set -uo pipefail
HERD="${HERD_BIN:?HERD_BIN must name the herd binary}"
PY="${PYTHON:-/usr/bin/python3}"
tmp="$(mktemp -d /tmp/herd-chat.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
"$HERD" make-model --shape tiny --dtype q4_0 -o "$tmp/m.gguf" -q 2>/dev/null || { echo "FAIL make-model"; exit 1; }
if "$PY" "$(dirname "$0")/chat_pty_driver.py" "$HERD" "$tmp/m.gguf" "$tmp"; then
  echo "all chat checks passed"
else
  echo "chat checks failed"
  exit 1
fi
