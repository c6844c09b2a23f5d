#!/usr/bin/env bash
# ctest "e2e": `herd serve` on 127.0.0.1 with a made tiny model, driven by the official
# openai npm package (tests/peers/serve_client.mjs): chat (plain and streamed), stops,
# n>1, seeds alone and concurrent, logprobs, tools round trip, structured output
# (tool_choice required with parallel calls / parallel_tool_calls false / named; streamed
# tool-call deltas through the client's stream helper and runTools; response_format
# json_schema with anyOf, $ref recursion, ranges, patterns, formats, strict vs lenient;
# json_object), completions, errors (field paths, 401, context overflow, 404 model under
# --strict-model-names, 413, 429), disconnect burst -> idle; Ollama's API through the
# official ollama npm package (tests/peers/ollama_client.mjs); then a second server with
# --date (the prompt's token count equals `herd template --date` of the same
# conversation), --temp 0 (requests that set no temperature are greedy) and lenient model
# names (any "model" reaches the served one).
# HERD_BIN names the binary. The server is always killed at exit.
set -uo pipefail
HERD="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")" && pwd)"
peers="$here/../peers"
tmp="$(mktemp -d /tmp/herd-serve.XXXXXX)"
pid=""
pid2=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  if [ -n "$pid2" ]; then kill "$pid2" 2>/dev/null; wait "$pid2" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
# shellcheck source=missing_tool.sh
source "$(dirname "$0")/missing_tool.sh"
command -v node >/dev/null || missing_tool "node not installed"
for pkg in openai ollama; do
  [ -d "$peers/node_modules/$pkg" ] || { echo "FAIL: tests/peers/node_modules/$pkg missing (run tools/setup.sh)"; exit 1; }
done
"$HERD" make-model --shape tiny --dtype q4_0 -o "$tmp/m.gguf" -q 2>/dev/null || { echo "FAIL make-model"; exit 1; }
echo "test-key-$$" > "$tmp/key"
"$HERD" serve -m "$tmp/m.gguf" --host 127.0.0.1 --port 0 --parallel 2 --max-queue 4 --max-seq-len 1024 \
  --threads 2 --api-key-file "$tmp/key" --strict-model-names >"$tmp/out" 2>"$tmp/log" &
pid=$!
port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")"
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { echo "FAIL: server did not start"; cat "$tmp/log"; exit 1; }
base="http://127.0.0.1:$port"
fail=0
curl -sf "$base/health" >/dev/null || { echo "FAIL /health"; fail=1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/models")
[ "$code" = 401 ] || { echo "FAIL: /v1/models without a key gave $code, want 401"; fail=1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: evil.example' "$base/health")
[ "$code" = 403 ] || { echo "FAIL: rebinding Host gave $code, want 403"; fail=1; }
# Read the whole page first: `curl | grep -q` under pipefail fails when grep
# exits early and curl gets SIGPIPE.
page="$(curl -s "$base/")"
grep -q '<title>herd chat</title>' <<<"$page" || { echo "FAIL: web page"; fail=1; }
(cd "$peers" && timeout 300 node serve_client.mjs "$base" "$(cat "$tmp/key")") || fail=1
(cd "$peers" && timeout 300 node ollama_client.mjs "$base" "$(cat "$tmp/key")") || fail=1
kill -0 "$pid" 2>/dev/null || { echo "FAIL: the server died"; fail=1; }
lines=$(grep -c ' /v1/chat/completions ' "$tmp/log")
[ "$lines" -gt 10 ] || { echo "FAIL: expected one log line per request, got $lines"; fail=1; }
# A log line: UTC time, client, method, path, status, body bytes, duration, and for
# generations the prompt and generated token counts.
if grep -Eq '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z 127\.0\.0\.1 POST /api/chat 200 [0-9]+B [0-9.]+ms prompt=[1-9][0-9]* gen=[0-9]+$' "$tmp/log" &&
   grep -Eq ' POST /v1/chat/completions 200 [0-9]+B [0-9.]+ms prompt=[1-9][0-9]* gen=12$' "$tmp/log"; then
  echo "ok   log lines: time, status, bytes, duration, tokens"
else
  echo "FAIL: log line format"; grep -m3 'POST' "$tmp/log"; fail=1
fi

# --date: "Today Date:" of the system lines. A date far longer than any real one makes the
# prompt's token count show which date was rendered.
date_str="the 26th of July in the year 2024"
"$HERD" serve -m "$tmp/m.gguf" --host 127.0.0.1 --port 0 --parallel 1 --max-seq-len 512 --threads 2 -q \
  --date "$date_str" --temp 0 >"$tmp/out2" 2>"$tmp/log2" &
pid2=$!
port2=""
for _ in $(seq 1 100); do
  port2="$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out2")"
  [ -n "$port2" ] && break
  kill -0 "$pid2" 2>/dev/null || break
  sleep 0.1
done
echo '[{"role": "user", "content": "Hello"}]' >"$tmp/msgs.json"
got=$(curl -s "http://127.0.0.1:$port2/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "{\"messages\": $(cat "$tmp/msgs.json"), \"max_tokens\": 1}" |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).usage.prompt_tokens)}catch{console.log("none")}})')
want=$("$HERD" template -m "$tmp/m.gguf" --messages "$tmp/msgs.json" --date "$date_str" --ids | wc -w)
today=$("$HERD" template -m "$tmp/m.gguf" --messages "$tmp/msgs.json" --ids | wc -w)
if [ -n "$port2" ] && [ "$got" = "$want" ] && [ "$want" != "$today" ]; then
  echo "ok   serve --date: prompt has the given date ($got tokens)"
else
  echo "FAIL serve --date: prompt tokens $got, want $want (today's date gives $today)"; fail=1
fi

# --temp 0: two unseeded requests without a temperature are the same greedy reply; any
# model name (a client's "llama3.1:8b") reaches the served model on both APIs.
reply() {
  curl -s "http://127.0.0.1:$port2$1" -H 'Content-Type: application/json' -d "$2" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const j=JSON.parse(s);console.log(JSON.stringify(j.choices?j.choices[0].message.content:j.message.content))}catch{console.log("none: "+s)}})'
}
r1=$(reply /v1/chat/completions '{"model": "llama3.1:8b", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}')
r2=$(reply /v1/chat/completions '{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}')
r3=$(reply /api/chat '{"model": "llama3.1:8b", "messages": [{"role": "user", "content": "Hi"}], "stream": false, "options": {"num_predict": 16}}')
if [ "$r1" = "$r2" ] && [ "$r1" = "$r3" ] && [ "${r1#none}" = "$r1" ]; then
  echo "ok   serve --temp 0 and any model name: the same greedy reply on both APIs"
else
  echo "FAIL --temp 0 / model names: $r1 / $r2 / $r3"; fail=1
fi

if [ $fail -ne 0 ]; then echo "--- server log (tail)"; tail -20 "$tmp/log"; exit 1; fi
echo "all serve checks passed"
