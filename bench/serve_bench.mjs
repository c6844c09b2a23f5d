// Serving benchmark client for bench/serve_bench.sh (printed, never asserted).
//
// Usage: node serve_bench.mjs BASE_URL [CONCURRENCY,...] [MAX_TOKENS] [ROUNDS]
//
// For each concurrency c: ROUNDS rounds of c streamed /v1/completions requests
// sent at once (a round starts when the previous one has finished), each with a
// 32-word prompt, distinct per request so the prefix cache does not help,
// max_tokens MAX_TOKENS, temperature 1, top_p 1 (the OpenAI defaults). So within a
// round the c sequences are prefilled, then decode together. One warm-up request
// runs first. Per request it records:
//   TTFT  time from sending to the first SSE chunk with text;
//   ITL   gaps between consecutive text chunks (a token whose text is held back,
//         e.g. a partial UTF-8 character, merges into the next chunk: rare);
//   its decode interval [first chunk, last chunk] and completion_tokens.
// Per concurrency it prints output tokens/s (all completion tokens / wall time of
// the phase, prefill included), aggregate decode tokens/s (the decode tokens,
// completion_tokens - 1 per request, over the time at least one request was
// decoding: the union of the decode intervals; prefill steps of requests that
// join meanwhile stay in, as they delay everyone's next token) and its ratio to
// concurrency 1; the steady decode rate c / (ITL p50), what the engine sustains
// once all c sequences decode together (no prefill in the step), and its ratio;
// TTFT and ITL p50/p90/p99 in milliseconds.
// Environment: CHAT=1 sends the prompt as one user message to /v1/chat/completions
// instead; RESPONSE_FORMAT (a JSON object, e.g. a json_schema response_format) adds
// it to each chat request (CHAT implied), for the cost of constrained decoding.
// Output: a markdown table on stdout.
const [base, concArg, maxTokArg, roundsArg] = process.argv.slice(2);
const CONC = (concArg ?? "1,4,16").split(",").map(Number);
const MAX_TOKENS = Number(maxTokArg ?? 64);
const ROUNDS = Number(roundsArg ?? 3);

const WORDS = "the a river stone quiet seven blue window morning letter garden silver road cloud paper green light".split(" ");
let salt = 0;
function prompt() {
  salt++;
  const w = [];
  for (let i = 0; i < 32; i++) w.push(WORDS[(i * 7 + salt * 13 + ((salt * i) % 5)) % WORDS.length]);
  return `Request ${salt}: ${w.join(" ")}`;
}

const RESPONSE_FORMAT = process.env.RESPONSE_FORMAT ? JSON.parse(process.env.RESPONSE_FORMAT) : null;
const CHAT = process.env.CHAT === "1" || RESPONSE_FORMAT !== null;

async function one() {
  const t0 = performance.now();
  const common = { max_tokens: MAX_TOKENS, temperature: 1, top_p: 1, stream: true, stream_options: { include_usage: true } };
  const body = CHAT
    ? { messages: [{ role: "user", content: prompt() }], ...common, ...(RESPONSE_FORMAT ? { response_format: RESPONSE_FORMAT } : {}) }
    : { prompt: prompt(), ...common };
  const res = await fetch(base + (CHAT ? "/v1/chat/completions" : "/v1/completions"), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error("status " + res.status + ": " + (await res.text()));
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "", first = null, last = null, tokens = 0;
  const gaps = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let k;
    while ((k = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) { tokens = j.usage.completion_tokens; continue; }
      if (!(CHAT ? j.choices?.[0]?.delta?.content : j.choices?.[0]?.text)) continue;
      const now = performance.now();
      if (first === null) first = now;
      else gaps.push(now - last);
      last = now;
    }
  }
  return { ttft: first - t0, gaps, tokens, first, last };
}

// Total length (ms) of the union of [first, last] intervals.
function unionMs(xs) {
  const iv = xs.filter((x) => x.first !== null && x.last > x.first).map((x) => [x.first, x.last]).sort((a, b) => a[0] - b[0]);
  let total = 0, cur = null;
  for (const [a, b] of iv) {
    if (cur && a <= cur[1]) cur[1] = Math.max(cur[1], b);
    else { if (cur) total += cur[1] - cur[0]; cur = [a, b]; }
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

await one();  // warm-up
const rows = [];
for (const c of CONC) {
  const t0 = performance.now();
  const all = [];
  for (let r = 0; r < ROUNDS; r++) all.push(...(await Promise.all(Array.from({ length: c }, () => one()))));
  const wall = (performance.now() - t0) / 1000;
  const tokens = all.reduce((s, x) => s + x.tokens, 0);
  const decodeTokens = all.reduce((s, x) => s + Math.max(0, x.tokens - 1), 0);
  const agg = decodeTokens / (unionMs(all) / 1000);
  rows.push({ c, tokens, wall, out: tokens / wall, agg, ttft: all.map((x) => x.ttft), itl: all.flatMap((x) => x.gaps) });
  process.stderr.write(`concurrency ${c}: ${tokens} tokens in ${wall.toFixed(1)} s\n`);
}
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
console.log(`| concurrency | requests | output tok/s | aggregate decode tok/s | vs c=1 | steady decode tok/s (c / ITL p50) | vs c=1 | TTFT p50 / p90 / p99 (ms) | ITL p50 / p90 / p99 (ms) |`);
console.log(`|---:|---:|---:|---:|---:|---:|---:|---|---|`);
for (const r of rows) r.steady = (r.c * 1000) / pct(r.itl, 50);
const r1 = rows.find((r) => r.c === 1);
const vs = (x, b) => (b ? f(x / b, 2) + "x" : "-");
for (const r of rows) {
  console.log(`| ${r.c} | ${r.c * ROUNDS} | ${f(r.out)} | ${f(r.agg)} | ${vs(r.agg, r1?.agg)} | ${f(r.steady)} | ${vs(r.steady, r1?.steady)} | ${f(pct(r.ttft, 50), 0)} / ${f(pct(r.ttft, 90), 0)} / ${f(pct(r.ttft, 99), 0)} | ${f(pct(r.itl, 50), 0)} / ${f(pct(r.itl, 90), 0)} / ${f(pct(r.itl, 99), 0)} |`);
}
