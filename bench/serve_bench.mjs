// Serving benchmark client for bench/serve_bench.sh (printed, never asserted).
//
// Usage: node serve_bench.mjs BASE_URL [CONCURRENCY,...] [MAX_TOKENS] [ROUNDS]
//
// For each concurrency c: c clients each send ROUNDS streamed /v1/completions
// requests back to back (a 32-word prompt, distinct per request so the prefix
// cache does not help, max_tokens MAX_TOKENS, temperature 1, top_p 1: the OpenAI
// defaults). One warm-up request runs first. Per request it records:
//   TTFT  time from sending to the first SSE chunk with text;
//   ITL   gaps between consecutive text chunks (a token whose text is held back,
//         e.g. a partial UTF-8 character, merges into the next chunk: rare);
//   decode rate (completion_tokens - 1) / (last chunk - first chunk).
// Per concurrency it prints output tokens/s (all completion tokens / wall time of
// the phase, prefill included), aggregate decode tokens/s (the sum over clients of
// their decode rates, i.e. tokens/s while everyone is decoding), and that
// aggregate's ratio to concurrency 1; TTFT and ITL p50/p90/p99 in milliseconds.
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

async function one() {
  const t0 = performance.now();
  const res = await fetch(base + "/v1/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt: prompt(), max_tokens: MAX_TOKENS, temperature: 1, top_p: 1, stream: true, stream_options: { include_usage: true } }),
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
      if (!j.choices?.[0]?.text) continue;
      const now = performance.now();
      if (first === null) first = now;
      else gaps.push(now - last);
      last = now;
    }
  }
  return { ttft: first - t0, gaps, tokens, decodeRate: tokens > 1 && last > first ? (tokens - 1) / ((last - first) / 1000) : 0 };
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
  const per = await Promise.all(Array.from({ length: c }, async () => {
    const rs = [];
    for (let r = 0; r < ROUNDS; r++) rs.push(await one());
    return rs;
  }));
  const wall = (performance.now() - t0) / 1000;
  const all = per.flat();
  const tokens = all.reduce((s, x) => s + x.tokens, 0);
  // Each client's mean decode rate, summed: the aggregate while all decode together.
  const agg = per.reduce((s, rs) => s + rs.reduce((a, x) => a + x.decodeRate, 0) / rs.length, 0);
  rows.push({ c, tokens, wall, out: tokens / wall, agg, ttft: all.map((x) => x.ttft), itl: all.flatMap((x) => x.gaps) });
  process.stderr.write(`concurrency ${c}: ${tokens} tokens in ${wall.toFixed(1)} s\n`);
}
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
console.log(`| concurrency | requests | output tok/s | aggregate decode tok/s | vs c=1 | TTFT p50 / p90 / p99 (ms) | ITL p50 / p90 / p99 (ms) |`);
console.log(`|---:|---:|---:|---:|---:|---|---|`);
const base1 = rows.find((r) => r.c === 1)?.agg;
for (const r of rows) {
  console.log(`| ${r.c} | ${r.c * ROUNDS} | ${f(r.out)} | ${f(r.agg)} | ${base1 ? f(r.agg / base1, 2) + "x" : "-"} | ${f(pct(r.ttft, 50), 0)} / ${f(pct(r.ttft, 90), 0)} / ${f(pct(r.ttft, 99), 0)} | ${f(pct(r.itl, 50), 0)} / ${f(pct(r.itl, 90), 0)} / ${f(pct(r.itl, 99), 0)} |`);
}
