#!/usr/bin/env bash
# ctest "e2e": `herd template` renders the chat goldens (tests/golden/chat) byte for byte
# and gives their token ids, with a made tiny model's tokenizer as a user would.
# HERD_BIN names the binary; HERD_SOURCE_DIR the repository root.
set -uo pipefail
HERD="${HERD_BIN:?HERD_BIN must name the herd binary}"
SRC="${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
G="$SRC/tests/golden/chat"
tmp="$(mktemp -d /tmp/herd-template.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

m="$tmp/m.gguf"
"$HERD" make-model --shape tiny --dtype q4_0 -o "$m" -q 2>/dev/null && pass "make-model tiny" || fail "make-model tiny"

# check NAME ARGS...: text and ids of golden NAME through the CLI.
check() {
  local name="$1"; shift
  local d="$G/$name"
  if "$HERD" template -m "$m" --messages "$d/messages.json" "$@" > "$tmp/$name.txt" 2> "$tmp/err" &&
     cmp -s "$tmp/$name.txt" "$d/expected.txt"; then
    pass "$name text"
  else
    fail "$name text" "$(cat "$tmp/err"; cmp "$tmp/$name.txt" "$d/expected.txt" 2>&1)"
  fi
  if "$HERD" template -m "$m" --ids --messages "$d/messages.json" "$@" > "$tmp/$name.ids" 2> "$tmp/err" &&
     cmp -s "$tmp/$name.ids" "$d/expected_ids.txt"; then
    pass "$name ids"
  else
    fail "$name ids" "$(cat "$tmp/err"; head -c 400 "$tmp/$name.ids")"
  fi
}

check spec_example2_tool_result --no-preamble
check meta_builtin_tool_calling --tools "$G/meta_builtin_tool_calling/tools.json" --date "21 September 2024"
check meta_json_tool_calling --tools "$G/meta_json_tool_calling/tools.json" --date "21 September 2024"
check meta_function_tag_tool_calling --tools "$G/meta_function_tag_tool_calling/tools.json" \
  --date "21 September 2024" --tool-format function_tag

# Clean errors: a bad field names its path; a bad flag value is a usage error.
echo '[{"role": "user", "content": 3}]' > "$tmp/bad.json"
out="$("$HERD" template --messages "$tmp/bad.json" 2>&1)"; rc=$?
[ "$rc" -eq 1 ] && grep -q "messages\[0\].content: expected string" <<<"$out" && pass "field path in error" \
  || fail "field path in error (exit $rc)" "$out"
out="$("$HERD" template --messages "$G/meta_user_assistant/messages.json" --tool-format yaml 2>&1)"; rc=$?
[ "$rc" -eq 2 ] && pass "bad --tool-format is a usage error" || fail "bad --tool-format (exit $rc)" "$out"

# Without --date the Today Date line is today's, in Meta's format.
today="$(LC_ALL=C date +'%d %B %Y')"
rendered="$("$HERD" template --messages "$G/meta_user_assistant/messages.json")"
grep -q "^Today Date: $today\$" <<<"$rendered" \
  && pass "default date is today" || fail "default date is today"

[ "$fails" -eq 0 ] && echo "all template checks passed" || { echo "$fails template check(s) failed"; exit 1; }
