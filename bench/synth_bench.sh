#!/usr/bin/env bash
# herd synth throughput (printed, not asserted, not in CI): generated tokens/s of rejection
# sampling on a random-weight model, one completion at a time (--parallel 1 -n 1 over
# PROMPTS prompts, single stream) against N completions per prompt sampled together
# (continuous batching: N sequences share each step), same model, same tokens per
# completion, the judge a cheap regex (its cost is not what is measured). Then the same two
# runs with the model as its own LLM judge (--judge llm:RUBRIC): completions judged per second,
# one judge request at a time against a group's judge requests submitted together.
#
#   bench/synth_bench.sh [SHAPE] [DTYPE] [N] [MAX_TOKENS] [PROMPTS]
#   defaults: 3.2-1b q4_0 16 64 4
# Environment: HERD_BIN (default build/herd), THREADS (default: all cores).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HERD="${HERD_BIN:-$root/build/herd}"
shape="${1:-3.2-1b}"; dtype="${2:-q4_0}"; n="${3:-16}"; max_tokens="${4:-64}"; prompts="${5:-4}"
threads="${THREADS:-$(nproc)}"
tmp="$(mktemp -d /tmp/herd-synthbench.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
"$HERD" make-model --shape "$shape" --dtype "$dtype" -q -o "$tmp/m.gguf" >/dev/null 2>&1
for i in $(seq "$prompts"); do printf '{"prompt": "Write a short story number %d."}\n' "$i"; done > "$tmp/p.jsonl"
run() {  # label, samples per prompt, parallel prompts
  local out
  out="$("$HERD" synth -m "$tmp/m.gguf" --prompts "$tmp/p.jsonl" --judge 'regex:a' -n "$2" --parallel "$3" \
    --max-tokens "$max_tokens" --temp 1 -o "$tmp/o-$1" -t "$threads" 2>&1 | tail -1)"
  echo "| $1 | $2 | $3 | $(sed -E 's/.* ([0-9]+) tokens in ([0-9.]+) s \(([0-9.]+) tok\/s\).*/\1 | \2 | \3/' <<<"$out") |"
}
echo "herd synth, $shape $dtype, $max_tokens tokens per completion, $threads threads, $(lscpu | sed -n 's/^Model name: *//p')"
echo "| run | samples per prompt | prompts together | tokens | seconds | tokens/s |"
echo "|---|---|---|---|---|---|"
run single-stream 1 1
run batched "$n" 1
printf 'Rate the response from 1 to 10. Reply as "Score: N".\n\nQuestion: {prompt}\nResponse: {completion}\n' > "$tmp/rubric.txt"
judge_run() {  # label, samples per prompt
  local out
  out="$("$HERD" synth -m "$tmp/m.gguf" --prompts "$tmp/p.jsonl" --judge "llm:$tmp/rubric.txt" -n "$2" --parallel 1 \
    --max-tokens "$max_tokens" --temp 1 -o "$tmp/j-$1" -t "$threads" 2>&1 | tail -1)"
  echo "| $1 | $2 | $(sed -E 's/.*; ([0-9]+) distinct completions judged in ([0-9.]+) s.*/\1 | \2/' <<<"$out") | $(
    sed -E 's/.*; ([0-9]+) distinct completions judged in ([0-9.]+) s.*/\1 \2/' <<<"$out" | awk '{printf "%.2f", $1 / $2}') |"
}
echo
echo "| LLM judge (the model itself, 32 reply tokens at most) | samples per prompt | completions judged | judge seconds | completions/s |"
echo "|---|---|---|---|---|"
judge_run one-at-a-time 1
judge_run batched "$n"
