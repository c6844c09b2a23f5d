#!/usr/bin/env bash
# ctest "e2e": the herd command line on small made models, as a user drives it.
# Each check prints what it ran; the first failure stops the script with the
# command's output. HERD_BIN names the binary.
set -uo pipefail
HERD="${HERD_BIN:?HERD_BIN must name the herd binary}"
tmp="$(mktemp -d /tmp/herd-e2e.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -n "${2:-}" ] && echo "$2"; fails=$((fails + 1)); }

# expect_rc RC NAME CMD... : runs CMD, checks its exit status.
expect_rc() {
  local want="$1" name="$2"; shift 2
  out="$("$@" 2>&1)"; local rc=$?
  if [ "$rc" -eq "$want" ]; then pass "$name"; else fail "$name (exit $rc, wanted $want)" "$out"; fi
}
# expect_err RC NAME PATTERN CMD... : CMD must fail with exit RC (2: the command line is
# wrong; 1: a failure while running, e.g. a bad file) and an error naming PATTERN.
expect_err() {
  local want="$1" name="$2" pat="$3"; shift 3
  out="$("$@" 2>&1)"; local rc=$?
  if [ "$rc" -eq "$want" ] && grep -q -- "$pat" <<<"$out"; then pass "$name"
  else fail "$name (exit $rc, wanted $want and an error matching '$pat')" "$out"; fi
}

m="$tmp/tiny.gguf"
expect_rc 0 "make-model tiny q4_0" "$HERD" make-model --shape tiny --dtype q4_0 -o "$m" -q
expect_rc 0 "make-model hf bf16" "$HERD" make-model --shape tiny --dtype bf16 --format hf -o "$tmp/hf" -q
for f in config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors; do
  [ -f "$tmp/hf/$f" ] && pass "hf dir has $f" || fail "hf dir has $f"
done

# run: text prompt, streaming, reproducible with --seed.
a="$("$HERD" run -m "$m" -p "Hello world" -n 12 --seed 5 2>/dev/null)"
b="$("$HERD" run -m "$m" -p "Hello world" -n 12 --seed 5 2>/dev/null)"
c="$("$HERD" run -m "$m" -p "Hello world" -n 12 --seed 6 2>/dev/null)"
[ -n "$a" ] && [ "$a" == "$b" ] && pass "same seed, same text" || fail "same seed, same text" "$a / $b"
[ "$a" != "$c" ] && pass "different seed, different text" || fail "different seed, different text"
g1="$("$HERD" run -m "$m" --tokens 128000,9906 -n 8 --temp 0 2>/dev/null)"
g2="$("$HERD" run -m "$m" --tokens 128000,9906 -n 8 --temp 0 --seed 99 -t 1 2>/dev/null)"
[ "$g1" == "$g2" ] && pass "greedy ignores seed and thread count" || fail "greedy ignores seed and thread count"
expect_rc 0 "sampling options" "$HERD" run -m "$m" -p "x" -n 4 --temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.05 \
  --repeat-penalty 1.1 --frequency-penalty 0.2 --presence-penalty 0.1 --repeat-last-n 16 --seed 1
# Each truncation option, pushed to keeping one token, must give the greedy text at any
# temperature and seed (an option parsed but not applied would sample instead).
for opt in "--top-k 1" "--top-p 0.000001" "--min-p 1"; do
  # shellcheck disable=SC2086  # opt is two words
  t="$("$HERD" run -m "$m" --tokens 128000,9906 -n 8 --temp 1.5 --seed 3 $opt 2>/dev/null)"
  [ "$t" == "$g1" ] && pass "$opt at temp 1.5 is greedy" || fail "$opt at temp 1.5 is greedy" "$t / $g1"
done
hot="$("$HERD" run -m "$m" --tokens 128000,9906 -n 8 --temp 1.5 --seed 3 2>/dev/null)"
[ "$hot" != "$g1" ] && pass "temp 1.5 alone is not greedy (the control)" || fail "temp 1.5 alone is not greedy (the control)"
expect_rc 0 "run an HF directory" "$HERD" run -m "$tmp/hf" -p "Hi" -n 4 --seed 1
# generation_config.json supplies the defaults: do_sample false means greedy,
# so the seed no longer matters; --temp on the command line still wins.
sed -i 's/"do_sample": true/"do_sample": false/' "$tmp/hf/generation_config.json"
g1="$("$HERD" run -m "$tmp/hf" -p "Hi" -n 8 --seed 1 2>/dev/null)"
g2="$("$HERD" run -m "$tmp/hf" -p "Hi" -n 8 --seed 2 2>/dev/null)"
[ "$g1" == "$g2" ] && pass "generation_config.json do_sample=false is greedy" || fail "generation_config.json defaults" "$g1 / $g2"
s1="$("$HERD" run -m "$tmp/hf" -p "Hi" -n 8 --seed 1 --temp 1.5 2>/dev/null)"
s2="$("$HERD" run -m "$tmp/hf" -p "Hi" -n 8 --seed 2 --temp 1.5 2>/dev/null)"
[ "$s1" != "$s2" ] && pass "--temp overrides generation_config.json" || fail "--temp overrides generation_config.json"
out="$("$HERD" run -m "$m" -p "Hello" -n 0 2>&1 >/dev/null)"
grep -q "stop: prompt only" <<<"$out" && pass "-n 0 only processes the prompt" || fail "-n 0" "$out"

# logits-out shape [n_positions, vocab]
"$HERD" run -m "$m" --tokens 128000,9906,1917 -n 0 --logits-out "$tmp/l.npy" 2>/dev/null
shape="$(/usr/bin/python3 -c "import numpy as np; print(np.load('$tmp/l.npy').shape)")"
[ "$shape" == "(3, 128256)" ] && pass "logits-out shape $shape" || fail "logits-out shape" "$shape"

# KV cache types: f16 by default, f32 on request; inspect's plan halves with f16.
out="$("$HERD" run -m "$m" --tokens 128000,9906 -n 2 --temp 0 2>&1 >/dev/null)"
grep -q "KV f16/f16" <<<"$out" && pass "the KV cache is f16 by default" || fail "default KV cache type" "$out"
out="$("$HERD" run -m "$m" --tokens 128000,9906 -n 2 --temp 0 -ctk f32 --cache-type-v f32 2>&1 >/dev/null)"
grep -q "KV f32/f32" <<<"$out" && pass "-ctk/--cache-type-v f32" || fail "-ctk f32" "$out"
kv16="$("$HERD" inspect "$m" --no-tensors | grep -o 'KV cache (f16/f16) *[0-9.]* MiB per token' | grep -o '[0-9.]* MiB')"
kv32="$("$HERD" inspect "$m" --no-tensors -ctk f32 -ctv f32 | grep -o 'KV cache (f32/f32) *[0-9.]* MiB per token' | grep -o '[0-9.]* MiB')"
/usr/bin/python3 -c "import sys; a, b = float('${kv16% MiB}'), float('${kv32% MiB}'); sys.exit(0 if a > 0 and abs(2 * a - b) < 1e-3 else 1)" 2>/dev/null \
  && pass "inspect: f16 KV is half of f32 ($kv16 vs $kv32 per token)" || fail "inspect KV plan" "'$kv16' '$kv32'"
expect_err 2 "bad KV cache type" "cache-type-k" "$HERD" run -m "$m" -p x -ctk q9
# q8_0: 34 bytes per 32 elements (34/64 of f16), for models whose head size is a multiple of 32.
out="$("$HERD" run -m "$m" --tokens 128000,9906 -n 2 --temp 0 -ctk q8_0 -ctv q8_0 2>&1 >/dev/null)"
grep -q "KV q8_0/q8_0" <<<"$out" && pass "-ctk/-ctv q8_0" || fail "-ctk q8_0" "$out"
kvat() { "$HERD" inspect "$m" --no-tensors "$@" | grep -o 'ctx 131072 *KV *[0-9.]* MiB' | grep -o '[0-9.]* MiB$'; }
k16="$(kvat)"; k8="$(kvat -ctk q8_0 -ctv q8_0)"
/usr/bin/python3 -c "import sys; a, b = float('${k16% MiB}'), float('${k8% MiB}'); sys.exit(0 if a > 0 and abs(a * 34 / 64 - b) < 0.1 else 1)" 2>/dev/null \
  && pass "inspect: q8_0 KV is 34/64 of f16 ($k8 vs $k16 at 131072)" || fail "inspect q8_0 KV plan" "'$k16' '$k8'"
"$HERD" make-model --shape d_model=64,n_layers=1,n_heads=4,n_kv_heads=2,d_ff=128 --dtype f16 -o "$tmp/hd16.gguf" -q 2>/dev/null
expect_err 2 "q8_0 KV cache with head size 16" "multiple of 32" "$HERD" run -m "$tmp/hd16.gguf" --tokens 128000 -n 1 -ctk q8_0

# inspect and tokenize
out="$("$HERD" inspect "$m" 2>&1)"
grep -q "memory plan" <<<"$out" && grep -q "blk.1.ffn_down.weight" <<<"$out" && grep -q "q6_k" <<<"$out" \
  && pass "inspect shows tensors, dtype mix, memory plan" || fail "inspect" "$out"
grep -q "chat format: Llama 3.1 (herd's native renderer" <<<"$out" && pass "inspect names the chat format" \
  || fail "inspect names the chat format" "$out"
out="$("$HERD" tokenize -m "$m" "Hello world" 2>&1)"
grep -q "9906" <<<"$out" && pass "tokenize from a GGUF" || fail "tokenize from a GGUF" "$out"

# bench: comma lists run one test per value (as llama-bench); -o csv has a header and one row each.
bc="$("$HERD" bench -m "$m" -p 8,16 -n 2 -r 1 -t 1 --bw-mib 16 -o csv 2>/dev/null)"
/usr/bin/python3 - "$bc" <<'PY' && pass "bench -p 8,16 -n 2 -o csv" || fail "bench -p 8,16 -n 2 -o csv" "$bc"
import csv, io, sys
rows = list(csv.DictReader(io.StringIO(sys.argv[1])))
assert [(r["n_prompt"], r["n_gen"]) for r in rows] == [("8", "0"), ("16", "0"), ("0", "2")], rows
assert all(float(r["avg_ts"]) > 0 for r in rows)
PY
# bench: llama-bench's JSON fields, and peak RSS beside its budget (the file
# plus the KV cache of a context of max(p, n) + 1 = 9 tokens).
bj="$("$HERD" bench -m "$m" -p 8 -n 4 -r 2 -t 1 --bw-mib 16 -o json 2>/dev/null)"
bj32="$("$HERD" bench -m "$m" -p 8 -n 0 -r 1 -t 1 --bw-mib 16 -ctk f32 -ctv f32 -o json 2>/dev/null)"
python3 - "$(stat -c %s "$m")" "$bj" "$bj32" <<'PY' && pass "bench -o json" || fail "bench -o json" "$bj"
import json, sys
size, j, j32 = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
assert [(r["n_prompt"], r["n_gen"]) for r in j] == [(8, 0), (0, 4)], j
for r in j:
    for k in ("avg_ts", "stddev_ts", "avg_ns", "stddev_ns", "model_type", "model_size", "n_depth", "type_v"):
        assert k in r, k
    assert len(r["samples_ts"]) == 2 and all(t > 0 for t in r["samples_ts"]), r
    assert r["n_threads"] == 1 and r["type_k"] == "f16", r
    assert r["model_file_bytes"] == size, (r["model_file_bytes"], size)
    assert r["kv_cache_bytes"] > 0 and r["kv_cache_bytes"] % 9 == 0, r["kv_cache_bytes"]
    assert r["peak_rss_bytes"] > 0
assert "roofline_share" in j[1] and "roofline_share" not in j[0]
assert j32[0]["kv_cache_bytes"] == 2 * j[0]["kv_cache_bytes"], (j32[0]["kv_cache_bytes"], j[0]["kv_cache_bytes"])
PY
out="$("$HERD" bench -m "$m" -p 8 -n 4 -r 1 -t 1 --bw-mib 16 2>/dev/null)"
grep -q '| pp8 |' <<<"$out" && grep -q '| tg4 |' <<<"$out" && grep -q 'peak RSS .* = model file .* + KV cache' <<<"$out" \
  && pass "bench markdown" || fail "bench markdown" "$out"
expect_err 2 "bench -o xml" "must be md, json or csv" "$HERD" bench -m "$m" -p 8 -n 0 -o xml

# Bad input: clear errors, never a crash.
expect_err 1 "missing model" "does not exist" "$HERD" run -m "$tmp/nope.gguf" -p x
expect_err 2 "token out of range" "outside the vocabulary" "$HERD" run -m "$m" --tokens 128000,999999 -n 0

# run for instruct models (llama-cli's habits).
# -cnv renders the Llama 3.1 chat format: the same logits as the ids `herd template` gives.
printf '[{"role": "system", "content": "Be brief.\\nReally."}, {"role": "user", "content": "Hello"}]' >"$tmp/cnv.json"
ids="$("$HERD" template -m "$m" --messages "$tmp/cnv.json" --date "26 July 2024" --ids | tr -s ' \n' ',' | sed 's/,$//')"
"$HERD" run -m "$m" -cnv -sys 'Be brief.\nReally.' -e -p Hello --date "26 July 2024" -n 0 --logits-out "$tmp/cnv.npy" >/dev/null 2>&1
"$HERD" run -m "$m" --tokens "$ids" -n 0 --logits-out "$tmp/tmpl.npy" >/dev/null 2>&1
if [ -s "$tmp/cnv.npy" ] && cmp -s "$tmp/cnv.npy" "$tmp/tmpl.npy"; then pass "run -cnv -sys -e: the chat template's prompt (same logits)"
else fail "run -cnv -sys -e: the chat template's prompt (same logits)"; fi
cnv_nosys="$("$HERD" run -m "$m" -cnv -sys 'Be brief.\nReally.' -p Hello --date "26 July 2024" -n 0 2>&1 | grep -o 'prompt [0-9]* tokens')"
cnv_esc="$("$HERD" run -m "$m" -cnv -sys 'Be brief.\nReally.' -e -p Hello --date "26 July 2024" -n 0 2>&1 | grep -o 'prompt [0-9]* tokens')"
[ "$cnv_nosys" != "$cnv_esc" ] && pass "-e turns \\n into a newline" || fail "-e turns \\n into a newline" "$cnv_nosys / $cnv_esc"
# --stop: the output is cut before the stop string.
full="$("$HERD" run -m "$m" -p "Hello world" -n 30 --temp 0 2>/dev/null)"
stop="${full:12:3}"
if [ -n "${stop// /}" ]; then
  cut="$("$HERD" run -m "$m" -p "Hello world" -n 30 --temp 0 --stop "$stop" 2>"$tmp/stop.err")"
  want="${full%%"$stop"*}"
  [ "$cut" == "$want" ] && grep -q "stop: stop string" "$tmp/stop.err" && pass "--stop cuts before the stop string" ||
    fail "--stop cuts before the stop string" "stop '$stop': got '$cut', want '$want'"
fi
# -f - reads the prompt from standard input.
piped="$(printf 'Hello world' | "$HERD" run -m "$m" -f - -n 12 --temp 0 2>/dev/null)"
direct="$("$HERD" run -m "$m" -p "Hello world" -n 12 --temp 0 2>/dev/null)"
[ -n "$piped" ] && [ "$piped" == "$direct" ] && pass "-f - reads stdin" || fail "-f - reads stdin" "$piped / $direct"
# --json-schema: the output is JSON that validates, and the run ends when it is complete.
echo '{"type": "object", "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"}}, "required": ["n", "ok"], "additionalProperties": false}' >"$tmp/schema.json"
js="$("$HERD" run -m "$m" -cnv -p "json" -jf "$tmp/schema.json" -n -1 --seed 3 2>"$tmp/js.err")"
if /usr/bin/python3 -c 'import json,sys; v=json.loads(sys.argv[1]); assert set(v)=={"n","ok"} and type(v["n"]) is int and type(v["ok"]) is bool' "$js" 2>/dev/null &&
   grep -q "stop: JSON complete" "$tmp/js.err"; then pass "--json-schema-file: valid JSON, ends when complete"
else fail "--json-schema-file: valid JSON, ends when complete" "$js $(cat "$tmp/js.err")"; fi
expect_err 2 "--grammar-file (GBNF) refused" "json-schema" "$HERD" run -m "$m" -p x --grammar-file "$tmp/g.gbnf"
expect_err 2 "--json-schema not a schema" "json-schema" "$HERD" run -m "$m" -p x -j '[1'
# -n -1: until the end of the turn or of the context (-c).
"$HERD" run -m "$m" -p "Hello world" -n -1 -c 24 --temp 0 --ignore-eos >/dev/null 2>"$tmp/n1.err"
# 3 prompt tokens + 21 evaluated fill -c 24; the 22nd is shown, not evaluated.
grep -q "generated 22 tokens.*stop: context full" "$tmp/n1.err" && pass "-n -1 runs to the end of the context" ||
  fail "-n -1 runs to the end of the context" "$(cat "$tmp/n1.err")"
# Ctrl-C ends the generation; the stats are printed and the exit status is 130.
"$HERD" run -m "$m" -p "Hello" -n -1 -c 100000 --ignore-eos >/dev/null 2>"$tmp/int.err" &
rpid=$!
for _ in $(seq 1 100); do grep -q "seed" "$tmp/int.err" && break; sleep 0.1; done
sleep 0.5
kill -INT "$rpid"; wait "$rpid"; rc=$?
[ "$rc" -eq 130 ] && grep -q "stop: interrupted" "$tmp/int.err" && pass "SIGINT: stats printed, exit 130" ||
  fail "SIGINT: stats printed, exit 130" "exit $rc: $(cat "$tmp/int.err")"
# llama.cpp options that do not apply on a CPU are accepted with a note.
out="$("$HERD" run -m "$m" -p Hi -n 2 -ngl 99 -fa on --mlock --no-mmap 2>&1 >/dev/null)"
grep -q "note: --n-gpu-layers, --flash-attn, --mlock, --no-mmap ignored" <<<"$out" && pass "-ngl -fa --mlock --no-mmap accepted with a note" ||
  fail "-ngl -fa --mlock --no-mmap accepted with a note" "$out"
expect_rc 0 "make-model takes llama-quantize's Q4_K_M spelling" "$HERD" make-model --shape tiny --dtype Q4_K_M -o "$tmp/qkm.gguf" -q
expect_rc 0 "herd --version" "$HERD" --version
# make-model: a progress line when it takes a while; Ctrl-C leaves no file and no *.tmp.
"$HERD" make-model --shape 3.2-1b --dtype f16 -o "$tmp/big.gguf" 2>"$tmp/mm.err" &
mpid=$!
for _ in $(seq 1 100); do grep -q "writing .* MiB .*%" "$tmp/mm.err" && break; sleep 0.1; done
kill -INT "$mpid"; wait "$mpid"; rc=$?
if [ "$rc" -eq 130 ] && grep -q "writing .* / .* MiB .*%" "$tmp/mm.err" && grep -q "interrupted; no file written" "$tmp/mm.err" &&
   [ ! -e "$tmp/big.gguf" ] && [ ! -e "$tmp/big.gguf.tmp" ]; then pass "make-model: progress, Ctrl-C leaves no partial file"
else fail "make-model: progress, Ctrl-C leaves no partial file" "exit $rc; $(ls "$tmp" | grep big); $(cat "$tmp/mm.err")"; fi
a1="$("$HERD" inspect "$m" --no-tensors 2>&1)"; a2="$("$HERD" inspect -m "$m" --no-tensors 2>&1)"
[ -n "$a1" ] && [ "$a1" == "$a2" ] && pass "inspect -m MODEL == inspect MODEL" || fail "inspect -m MODEL == inspect MODEL"

expect_err 2 "bad token list" "not a token id" "$HERD" run -m "$m" --tokens 1,x -n 0
expect_err 2 "bad temperature" "temperature" "$HERD" run -m "$m" -p x --temp -1
expect_err 2 "unknown option" "unknown option" "$HERD" run -m "$m" -p x --bogus
expect_err 2 "unknown dtype" "unknown --dtype" "$HERD" make-model --shape tiny --dtype q3_x -o "$tmp/x.gguf"
expect_err 2 "unknown shape" "unknown shape" "$HERD" make-model --shape 9b --dtype f16 -o "$tmp/x.gguf"
head -c 100000 "$m" > "$tmp/trunc.gguf"
expect_err 1 "truncated GGUF" "offset" "$HERD" run -m "$tmp/trunc.gguf" -p x
printf 'GGUF\x01\x00\x00\x00' > "$tmp/v1.gguf"
expect_err 1 "GGUF version 1" "version" "$HERD" inspect "$tmp/v1.gguf"
echo '{"model_type": "llama"}' > "$tmp/hf/config.json"
expect_err 1 "config.json missing keys" "config.json" "$HERD" run -m "$tmp/hf" -p x
expect_err 2 "context too small" "context" "$HERD" run -m "$m" -p "one two three four" -c 2
# The same convention in every command: 2 for the command line, 1 for what running met.
expect_err 2 "an unknown command" "unknown command" "$HERD" frobnicate
expect_err 2 "chat --color purple" "color" "$HERD" chat -m "$m" --color purple
expect_err 1 "chat: missing model" "does not exist" "$HERD" chat -m "$tmp/nope.gguf"
expect_err 1 "bench: missing model" "does not exist" "$HERD" bench -m "$tmp/nope.gguf" -p 8 -n 0
expect_err 2 "bench -p 0,x" "-p" "$HERD" bench -m "$m" -p 8,x
expect_err 2 "serve --api-key ''" "api-key is empty" "$HERD" serve -m "$m" --port 0 --api-key ""
expect_err 1 "serve: missing model" "does not exist" "$HERD" serve -m "$tmp/nope.gguf" --port 0
expect_err 1 "inspect: missing model" "does not exist" "$HERD" inspect "$tmp/nope.gguf"
expect_err 2 "tokenize: no input" "exactly one" "$HERD" tokenize
expect_err 1 "template: missing messages file" "nope.json" "$HERD" template --messages "$tmp/nope.json"
expect_err 2 "make-model: no -o" "required" "$HERD" make-model --shape tiny

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
