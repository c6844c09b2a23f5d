#!/usr/bin/env bash
# ctest "e2e": herd guard (Llama Guard 3).
#  * The prompt: `herd guard --print-prompt` against the released chat
#    templates of Llama-Guard-3-8B and -1B (tests/golden/guard/*.jinja, as in
#    each model's tokenizer_config.json) rendered by @huggingface/jinja
#    (tests/peers/guard_template_peer.mjs), byte for byte, for every case in
#    tests/golden/guard/*.json (prompt and response classification, several
#    turns, whitespace to strip, non-ASCII, excluded categories on the 1B); the
#    ids are the rendered text's tokens with control tokens parsed, as
#    transformers' apply_chat_template(tokenize=True) gives them.
#  * A model run on a random-weight model: a score in [0, 1] and, since such a
#    model writes no verdict, an error (exit 1) that quotes the reply, never a
#    "safe"; and on models built to answer a given reply (make-model --reply):
#    each verdict, its categories, exclusions, the score and the threshold, a
#    code the variant lacks and a non-verdict reply as errors, an HF guard.
#  * herd serve --guard: /v1/moderations, the input shield of
#    /v1/chat/completions (plain and streamed) and the output shield
#    (non-streamed and streamed replies) through the openai npm client, with an unsafe and a
#    safe guard; blocked prompts never reach the chat model.
#  * Clean errors for bad conversations and options.
# HERD_BIN names the binary; HERD_SOURCE_DIR the repository root.
set -uo pipefail
HERD="${HERD_BIN:?HERD_BIN must name the herd binary}"
SRC="${HERD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
G="$SRC/tests/golden/guard"
PEERS="$SRC/tests/peers"
source "$SRC/tests/e2e/missing_tool.sh"
command -v node >/dev/null || missing_tool "node"
[ -d "$PEERS/node_modules/@huggingface/jinja" ] || missing_tool "the npm peers (@huggingface/jinja)"
tmp="$(mktemp -d /tmp/herd-guard.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

for case_file in "$G"/*.json; do
  name="$(basename "$case_file" .json)"
  excluded="$(/usr/bin/python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1])).get("excluded", [])))' "$case_file")"
  for v in 8b 1b; do
    # The 8B template has no exclusion variable: its cases with exclusions are 1B-only.
    [ "$v" = 8b ] && [ -n "$excluded" ] && continue
    want="$tmp/$name.$v.want"
    got="$tmp/$name.$v.got"
    if ! node "$PEERS/guard_template_peer.mjs" "$G/llama_guard_3_$v.jinja" "$case_file" > "$want" 2> "$tmp/err"; then
      fail "$name $v: the peer could not render" "$(cat "$tmp/err")"
      continue
    fi
    args=(guard --variant "$v" --messages "$case_file" --print-prompt)
    [ -n "$excluded" ] && args+=(--exclude "$excluded")
    if "$HERD" "${args[@]}" > "$got" 2> "$tmp/err" && cmp -s "$got" "$want"; then
      pass "$name $v prompt"
    else
      fail "$name $v prompt" "$(cat "$tmp/err"; diff <(cat "$want"; echo) <(cat "$got"; echo) | head -20)"
    fi
    # Ids: the peer's text tokenized with control tokens parsed and no BOS added.
    if "$HERD" tokenize --special --no-bos --file "$want" > "$tmp/want_ids" 2> "$tmp/err" &&
       "$HERD" "${args[@]}" --ids > "$tmp/got_ids" 2>> "$tmp/err" && cmp -s "$tmp/got_ids" "$tmp/want_ids"; then
      pass "$name $v ids"
    else
      fail "$name $v ids" "$(cat "$tmp/err"; head -c 300 "$tmp/want_ids"; echo; head -c 300 "$tmp/got_ids")"
    fi
  done
done
# The 8B prompt starts with the template's space (token 220) before <|begin_of_text|>.
"$HERD" guard --variant 8b --messages "$G/user_only.json" --print-prompt --ids | grep -q '^220 128000 128006 ' &&
  pass "8B prompt ids start 220 128000" || fail "8B prompt ids start 220 128000"

# A model run: random weights write no verdict, which must be an error with a score.
m="$tmp/guard.gguf"
"$HERD" make-model --shape tiny --dtype q8_0 -o "$m" -q 2>/dev/null && pass "make-model tiny" || fail "make-model tiny"
out="$("$HERD" guard -m "$m" --variant 1b --messages "$G/agent_reply.json" -t 2 2> "$tmp/err")"; rc=$?
if [ "$rc" -eq 1 ] && grep -q "unexpected Llama Guard reply\|did not end" "$tmp/err" &&
   /usr/bin/python3 -c 'import json,sys; j=json.loads(sys.argv[1]); s=j["unsafe_score"]; assert 0 <= s <= 1 and "verdict" not in j and j["role"] == "Agent", j' "$out"; then
  pass "no verdict from a random model is an error, with a score"
else
  fail "random model (exit $rc)" "$out $(cat "$tmp/err")"
fi
out="$("$HERD" guard -m "$m" --messages "$G/user_only.json" 2>&1)"; rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--variant" <<<"$out" && pass "an unrecognised guard asks for --variant" \
  || fail "unrecognised guard (exit $rc)" "$out"

# Verdicts forced by construction (make-model --reply: a bigram chain that
# writes the reply after the header's "\n\n"; docs/guard.md).
# verdict MODEL_ARGS -- GUARD_ARGS: runs both, leaves the JSON in $out, the exit in $rc.
verdict() {
  local margs=() gargs=()
  while [ "$1" != "--" ]; do margs+=("$1"); shift; done
  shift
  gargs=("$@")
  rm -rf "$tmp/forced.gguf" "$tmp/forced-hf/"*
  "$HERD" make-model --shape tiny -q "${margs[@]}" > /dev/null 2>&1 || { out="make-model failed"; rc=99; return; }
  out="$("$HERD" guard "${gargs[@]}" -t 2 2> "$tmp/err")"; rc=$?
}
check_json() {  # NAME PYTHON_ASSERTION (j is the JSON)
  if [ "$rc" -eq 0 ] && /usr/bin/python3 -c "import json,sys; j=json.loads(sys.argv[1]); assert $2, j" "$out" 2> "$tmp/perr"; then
    pass "$1"
  else
    fail "$1 (exit $rc)" "$out $(cat "$tmp/err" "$tmp/perr" 2>/dev/null)"
  fi
}
verdict --dtype q8_0 --guard 1b --reply 'unsafe\nS1' -o "$tmp/forced.gguf" -- -m "$tmp/forced.gguf" --messages "$G/agent_reply.json"
check_json "1B forced unsafe S1: verdict, category, score, flag" \
  'j["variant"] == "1b" and j["role"] == "Agent" and j["verdict"] == "unsafe" and [c["code"] for c in j["categories"]] == ["S1"] and j["categories"][0]["name"] == "Violent Crimes" and j["unsafe_score"] > 0.99 and j["flagged"] and j["reply_tokens"] == 4'
verdict --dtype f16 --guard 8b --reply 'safe' -o "$tmp/forced.gguf" -- -m "$tmp/forced.gguf" --messages "$G/user_only.json"
check_json "8B forced safe: verdict safe, score near 0, not flagged" \
  'j["variant"] == "8b" and j["verdict"] == "safe" and j["categories"] == [] and j["unsafe_score"] < 0.01 and not j["flagged"] and j["reply_tokens"] == 1'
verdict --dtype q4_0 --guard 8b --reply 'unsafe\nS1,S2' -o "$tmp/forced.gguf" -- -m "$tmp/forced.gguf" --messages "$G/user_only.json" --exclude S2 --threshold 1
check_json "an excluded code is marked; --threshold 1 does not flag" \
  '[(c["code"], c["excluded"]) for c in j["categories"]] == [("S1", False), ("S2", True)] and not j["flagged"] and j["threshold"] == 1'
mkdir -p "$tmp/forced-hf"; verdict --dtype f16 --format hf --guard 1b --reply 'unsafe\nS10' -o "$tmp/forced-hf/Llama-Guard-3-1B" -- -m "$tmp/forced-hf/Llama-Guard-3-1B" --messages "$G/three_turns_multiline.json"
check_json "an HF directory named Llama-Guard-3-1B is the 1B guard" \
  'j["variant"] == "1b" and j["verdict"] == "unsafe" and [c["code"] for c in j["categories"]] == ["S10"]'
verdict --dtype q8_0 --guard 1b --reply 'unsafe\nS14' -o "$tmp/forced.gguf" -- -m "$tmp/forced.gguf" --messages "$G/user_only.json"
[ "$rc" -eq 1 ] && grep -q 'S14' "$tmp/err" && grep -q '"error"' <<<"$out" && ! grep -q '"verdict"' <<<"$out" &&
  pass "a code the 1B does not have is an error, not a verdict" || fail "1B replying S14 (exit $rc)" "$out $(cat "$tmp/err")"
verdict --dtype q8_0 --guard 8b --reply 'Sure, here it is' -o "$tmp/forced.gguf" -- -m "$tmp/forced.gguf" --messages "$G/user_only.json"
[ "$rc" -eq 1 ] && grep -q 'unexpected Llama Guard reply "Sure, here it is"' "$tmp/err" &&
  pass "a reply that is no verdict is an error quoting it" || fail "non-verdict reply (exit $rc)" "$out $(cat "$tmp/err")"
out="$("$HERD" make-model --shape tiny --reply 'no no no' -o "$tmp/x.gguf" 2>&1)"; rc=$?
[ "$rc" -ne 0 ] && grep -q "two different tokens" <<<"$out" && pass "make-model --reply refuses a chain it cannot build" \
  || fail "make-model --reply conflict (exit $rc)" "$out"

# herd serve --guard: /v1/moderations and the input shield through the openai
# npm client, with guards built to answer "unsafe\nS1" and "safe"; a blocked
# prompt never reaches the chat model (its prompt-token counter stays 0).
chat_model="$tmp/chat.gguf"
"$HERD" make-model --shape tiny --dtype q4_0 -o "$chat_model" -q 2>/dev/null
for expect in unsafe safe output; do
  reply='safe'; [ "$expect" != safe ] && reply='unsafe\nS1'
  shields=input,output; [ "$expect" = output ] && shields=output
  "$HERD" make-model --shape tiny --dtype q8_0 --guard 1b --reply "$reply" -o "$tmp/g-$expect.gguf" -q 2>/dev/null
  "$HERD" serve -m "$chat_model" --guard "$tmp/g-$expect.gguf" --guard-shields "$shields" --host 127.0.0.1 --port 0 -t 2 -q \
    > "$tmp/serve.out" 2> "$tmp/serve.log" &
  spid=$!
  port=""
  for _ in $(seq 1 200); do
    port="$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/serve.out")"
    [ -n "$port" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    fail "serve --guard ($expect) did not start" "$(cat "$tmp/serve.log")"
    kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    continue
  fi
  if (cd "$PEERS" && node guard_client.mjs "http://127.0.0.1:$port" "$expect") > "$tmp/client.out" 2>&1; then
    pass "serve --guard ($expect guard): moderations and the input shield (openai client)"
  else
    # With the server's state and log: a server gone before its first request
    # (connection refused) was seen once in CI and not reproduced since.
    state="running"; kill -0 "$spid" 2>/dev/null || { wait "$spid"; state="exited with status $?"; }
    fail "serve --guard ($expect guard)" "$(grep -v '^ok' "$tmp/client.out" | head -20)
server on port $port: $state; its log:
$(tail -20 "$tmp/serve.log")"
  fi
  if [ "$expect" = unsafe ]; then
    # Ollama's /api/chat: one NDJSON record (streamed by default), and one JSON body.
    o="$(curl -s -H 'Content-Type: application/json' "http://127.0.0.1:$port/api/chat" -d '{"model": "m", "messages": [{"role": "user", "content": "Hi"}]}')"
    o2="$(curl -s -H 'Content-Type: application/json' "http://127.0.0.1:$port/api/generate" -d '{"model": "m", "prompt": "Hi", "stream": false}')"
    /usr/bin/python3 -c '
import json, sys
a = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
b = json.loads(sys.argv[2])
assert len(a) == 1 and a[0]["done"] and a[0]["done_reason"] == "content_filter" and a[0]["message"]["content"].startswith("I can"), a
assert b["done_reason"] == "content_filter" and b["response"].startswith("I can") and b["guard"]["categories"][0]["code"] == "S1", b
' "$o" "$o2" 2> "$tmp/perr" && pass "Ollama /api/chat and /api/generate: blocked with done_reason content_filter" \
      || fail "Ollama routes blocked" "$o $o2 $(cat "$tmp/perr")"
  fi
  metrics="$(curl -s "http://127.0.0.1:$port/metrics")"
  if [ "$expect" = unsafe ]; then
    grep -q '^herd_prompt_tokens_total 0$' <<<"$metrics" &&
      grep -q 'herd_guard_checks_total{where="input",outcome="flagged"} 4' <<<"$metrics" &&
      grep -q 'herd_guard_checks_total{where="moderation",outcome="flagged"} 4' <<<"$metrics" &&
      pass "metrics: blocked prompts counted, no prompt token reached the chat model" ||
      fail "metrics after blocking" "$(grep -E 'prompt_tokens_total|guard' <<<"$metrics")"
  elif [ "$expect" = output ]; then
    grep -q 'herd_guard_checks_total{where="output",outcome="flagged"} 2' <<<"$metrics" &&
      ! grep -q 'where="input"' <<<"$metrics" && ! grep -q '^herd_prompt_tokens_total 0$' <<<"$metrics" &&
      pass "metrics: the output shield flagged the streamed and the non-streamed reply; no input check" ||
      fail "metrics with --guard-shields output" "$(grep -E 'prompt_tokens_total|guard' <<<"$metrics")"
    # A streamed reply is held until judged: only the refusal and content_filter go out.
    o="$(curl -sN -H 'Content-Type: application/json' "http://127.0.0.1:$port/v1/chat/completions" \
      -d '{"model": "m", "stream": true, "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]}')"
    /usr/bin/python3 -c '
import json, sys
ev = [l[6:] for l in sys.argv[1].splitlines() if l.startswith("data: ")]
assert ev[-1] == "[DONE]", ev
chunks = [json.loads(e) for e in ev[:-1]]
text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
assert text.startswith("I can") and chunks[-1]["choices"][0]["finish_reason"] == "content_filter", chunks
assert chunks[-1]["guard"]["categories"][0]["code"] == "S1", chunks[-1]
' "$o" 2> "$tmp/perr" && pass "a streamed reply is held until judged: only the refusal is sent (content_filter)" \
      || fail "streamed output shield" "$o $(cat "$tmp/perr")"
    # Ollama's routes: /api/chat streamed (held, then the refusal) and /api/generate plain,
    # whose returned context holds the prompt only, never the withheld reply.
    o="$(curl -s -H 'Content-Type: application/json' "http://127.0.0.1:$port/api/chat" \
      -d '{"model": "m", "options": {"num_predict": 4}, "messages": [{"role": "user", "content": "Hi"}]}')"
    o2="$(curl -s -H 'Content-Type: application/json' "http://127.0.0.1:$port/api/generate" \
      -d '{"model": "m", "prompt": "Hi", "stream": false, "options": {"num_predict": 4}}')"
    /usr/bin/python3 -c '
import json, sys
a = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
text = "".join(r["message"]["content"] for r in a)
assert text.startswith("I can") and a[-1]["done_reason"] == "content_filter" and a[-1]["guard"]["flagged"], a
b = json.loads(sys.argv[2])
assert b["done_reason"] == "content_filter" and b["response"].startswith("I can") and b["eval_count"] == 4, b
assert b["context"][-1] == 271, b["context"][-4:]  # ends at the assistant header, no reply token
' "$o" "$o2" 2> "$tmp/perr" && pass "Ollama /api/chat (streamed) and /api/generate: a flagged reply is withheld" \
      || fail "Ollama output shield" "$o $o2 $(cat "$tmp/perr")"
  else
    grep -q 'herd_guard_checks_total{where="input",outcome="pass"} 2' <<<"$metrics" &&
      grep -q 'herd_guard_checks_total{where="output",outcome="pass"} 2' <<<"$metrics" &&
      ! grep -q '^herd_prompt_tokens_total 0$' <<<"$metrics" &&
      pass "metrics: passed prompts counted and served" || fail "metrics after passing" "$(grep -E 'prompt_tokens_total|guard' <<<"$metrics")"
  fi
  kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
done
out="$("$HERD" serve -m "$chat_model" --guard-exclude S1 --port 0 2>&1)"; rc=$?
[ "$rc" -eq 2 ] && grep -q "need --guard" <<<"$out" && pass "serve: --guard-exclude without --guard is a usage error" \
  || fail "serve --guard-exclude alone (exit $rc)" "$out"

# herd chat --guard (stdin as a pipe; the conversation read back with /save): an unsafe guard
# keeps the turn from the model (input shield) or, output shield only, replaces the reply with
# the refusal, and the next turn still works (the cache is rebuilt); a safe guard changes nothing.
chat_guard() {  # NAME GUARD SHIELDS EXPECTED_ROLES NOTE_PATTERN
  printf 'hello\nagain\n/save %s\n' "$tmp/chat-$1.json" |
    "$HERD" chat -m "$chat_model" --guard "$2" --guard-shields "$3" -n 4 -t 2 > "$tmp/chat-$1.out" 2>&1
  roles=$(/usr/bin/python3 -c "import json,sys; print(' '.join(m['role'] + ('*' if m['content'].startswith('I can') else '') for m in json.load(open(sys.argv[1]))))" "$tmp/chat-$1.json" 2>&1)
  if [ "$roles" = "$4" ] && grep -q "$5" "$tmp/chat-$1.out"; then pass "chat --guard ($1): $roles"
  else fail "chat --guard ($1): roles '$roles'" "$(cat "$tmp/chat-$1.out")"; fi
}
chat_guard input "$tmp/g-unsafe.gguf" input,output "" "blocked; the model did not see this turn: Llama Guard says unsafe (S1)"
chat_guard output "$tmp/g-output.gguf" output "user assistant* user assistant*" "reply withheld: Llama Guard says unsafe (S1)"
chat_guard safe "$tmp/g-safe.gguf" input,output "user assistant user assistant" "saved 4 messages"

# Errors.
echo '[{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]' > "$tmp/sys.json"
out="$("$HERD" guard --variant 8b --messages "$tmp/sys.json" --print-prompt 2>&1)"; rc=$?
[ "$rc" -eq 1 ] && grep -q "messages\[0\]: role 'system'" <<<"$out" && pass "a system message is refused, named" \
  || fail "system message (exit $rc)" "$out"
out="$("$HERD" guard --variant 1b --messages "$G/user_only.json" --print-prompt --exclude S14 2>&1)"; rc=$?
[ "$rc" -eq 2 ] && grep -q "S14" <<<"$out" && pass "--exclude of a category the 1B lacks is a usage error" \
  || fail "--exclude S14 on 1b (exit $rc)" "$out"
out="$("$HERD" guard --variant 8b --messages "$G/user_only.json" --role agent --print-prompt 2>&1)"; rc=$?
[ "$rc" -eq 1 ] && grep -q "no assistant message" <<<"$out" && pass "--role agent without a reply is an error" \
  || fail "--role agent (exit $rc)" "$out"
"$HERD" guard --variant 8b --messages "$G/agent_reply.json" --role user --print-prompt > "$tmp/cut.txt" 2>&1 &&
  grep -q "ONLY THE LAST User message" "$tmp/cut.txt" && ! grep -q "^Agent:" "$tmp/cut.txt" &&
  pass "--role user classifies the last user turn" || fail "--role user" "$(cat "$tmp/cut.txt")"

[ "$fails" -eq 0 ] && echo "all guard checks passed" || { echo "$fails guard check(s) failed"; exit 1; }
