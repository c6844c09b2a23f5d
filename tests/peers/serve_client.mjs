// Drives `herd serve` with the official openai npm package (tests/e2e/test_serve.sh).
// Usage: node serve_client.mjs BASE_URL API_KEY. The model has random weights, so
// checks are about the API (shapes, streaming, stops, seeds, errors), not the text.
import OpenAI from "openai";

const [base, key] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey: key, maxRetries: 0, timeout: 60000 });
let failures = 0;
function check(cond, what, detail) {
  if (cond) console.log("ok   " + what);
  else { failures++; console.log("FAIL " + what + (detail !== undefined ? ": " + JSON.stringify(detail).slice(0, 400) : "")); }
}
const user = (t) => [{ role: "user", content: t }];
async function expectError(p) { try { await p; return null; } catch (e) { return e; } }
async function streamText(params, signal) {
  const s = await client.chat.completions.create({ ...params, stream: true }, { signal });
  let text = "", finish = null, usage = null, chunks = 0;
  for await (const c of s) {
    chunks++;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) { text += ch.delta?.content ?? ""; if (ch.finish_reason) finish = ch.finish_reason; }
  }
  return { text, finish, usage, chunks };
}

// Non-streaming chat.
const a = await client.chat.completions.create({ model: "m.gguf", messages: user("Hello"), max_tokens: 12, seed: 1, temperature: 0 });
check(a.object === "chat.completion" && a.choices.length === 1, "chat: shape", a);
check(typeof a.choices[0].message.content === "string" && a.choices[0].message.role === "assistant", "chat: assistant message");
check(a.usage.completion_tokens === 12 && a.choices[0].finish_reason === "length", "chat: max_tokens -> length", a.usage);

// Streaming equals non-streaming (greedy), with usage at the end.
const s = await streamText({ model: "m.gguf", messages: user("Hello"), max_tokens: 12, seed: 1, temperature: 0, stream_options: { include_usage: true } });
check(s.text === a.choices[0].message.content, "stream: same text as non-streaming", [s.text, a.choices[0].message.content]);
check(s.finish === "length" && s.usage?.completion_tokens === 12, "stream: finish_reason and usage", s);

// max_completion_tokens.
const mc = await client.chat.completions.create({ messages: user("Hi"), max_completion_tokens: 3, model: "m.gguf" });
check(mc.usage.completion_tokens === 3, "max_completion_tokens");

// Stop strings: the output is cut before the first occurrence.
const long = await client.chat.completions.create({ model: "m.gguf", messages: user("Tell me"), max_tokens: 40, temperature: 0 });
const full = long.choices[0].message.content;
const chars = [...full];
const stopStr = chars.slice(10, 12).join("");
if (stopStr.trim().length > 0 && !stopStr.includes("\uFFFD")) {
  const expected = full.slice(0, full.indexOf(stopStr));
  const st = await client.chat.completions.create({ model: "m.gguf", messages: user("Tell me"), max_tokens: 40, temperature: 0, stop: [stopStr] });
  check(st.choices[0].message.content === expected && st.choices[0].finish_reason === "stop", "stop: cut before the stop string", [stopStr, expected, st.choices[0].message.content]);
  const sst = await streamText({ model: "m.gguf", messages: user("Tell me"), max_tokens: 40, temperature: 0, stop: stopStr });
  check(sst.text === expected && sst.finish === "stop", "stop: streamed, held back while partial", [sst.text, expected]);
} else {
  console.log("skip stop (no usable substring in " + JSON.stringify(full) + ")");
}

// n > 1 with seeds seed, seed+1, ...; choice i equals a single request with seed+i.
const n3 = await client.chat.completions.create({ model: "m.gguf", messages: user("Pick"), max_tokens: 8, n: 3, seed: 100, temperature: 1 });
check(n3.choices.length === 3 && n3.choices.map((c) => c.index).join() === "0,1,2", "n=3: three choices");
const one = await client.chat.completions.create({ model: "m.gguf", messages: user("Pick"), max_tokens: 8, seed: 101, temperature: 1 });
check(one.choices[0].message.content === n3.choices[1].message.content, "n=3: choice 1 == seed+1 alone");

// Seed reproducibility alone and among concurrent requests.
const params = { model: "m.gguf", messages: user("Once upon"), max_tokens: 16, seed: 42, temperature: 0.9, top_p: 0.95 };
const alone = (await client.chat.completions.create(params)).choices[0].message.content;
const others = [1, 2, 3].map((i) => client.chat.completions.create({ ...params, seed: 1000 + i, max_tokens: 24, messages: user("other " + i) }));
const together = await Promise.all([client.chat.completions.create(params), ...others, streamText(params)]);
check(together[0].choices[0].message.content === alone, "seed: same output alone and with concurrent requests", [alone, together[0].choices[0].message.content]);
check(together[4].text === alone, "seed: streamed among concurrent requests too");

// Logprobs.
const lp = await client.chat.completions.create({ model: "m.gguf", messages: user("Hi"), max_tokens: 4, logprobs: true, top_logprobs: 3 });
const content = lp.choices[0].logprobs?.content ?? [];
check(content.length === 4 && content.every((t) => typeof t.logprob === "number" && t.logprob <= 0 && t.top_logprobs.length === 3), "logprobs: 4 tokens with 3 alternatives", content[0]);

// Penalties, logit_bias: a +100 bias on one token makes it the only output.
const lb = await client.chat.completions.create({ model: "m.gguf", messages: user("Hi"), max_tokens: 3, logit_bias: { "15339": 100 }, presence_penalty: 0.5, frequency_penalty: 0.5 });
const lbTok = await (await fetch(base + "/tokenize", { method: "POST", headers: { Authorization: "Bearer " + key }, body: JSON.stringify({ content: lb.choices[0].message.content }) })).json();
check(lbTok.tokens?.every((t) => t === 15339), "logit_bias +100 forces the token", lbTok);

// Tools: definitions, an assistant tool call and a tool result message round trip.
const tools = [{ type: "function", function: { name: "get_weather", description: "Current weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
const tr = await client.chat.completions.create({
  model: "m.gguf", max_tokens: 8, tools, tool_choice: "auto",
  messages: [...user("Weather in Paris?"),
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
    { role: "tool", tool_call_id: "call_1", content: '{"temp_c": 21}' }],
});
check(["stop", "length", "tool_calls"].includes(tr.choices[0].finish_reason), "tools: round trip with a tool result", tr.choices[0]);
const ts = await streamText({ model: "m.gguf", max_tokens: 8, tools, messages: user("Weather?") });
check(!ts.text.includes("<|python_tag|>"), "tools: streamed, no python_tag text");

// Structured output on random weights: only the grammar constraint can make these valid.
// A validator for the JSON Schema subset used here.
function valid(v, s) {
  if (s.const !== undefined) return JSON.stringify(v) === JSON.stringify(s.const);
  if (s.enum) return s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v));
  if (s.anyOf) return s.anyOf.some((a) => valid(v, a));
  switch (s.type) {
    case undefined: return true;
    case "null": return v === null;
    case "boolean": return typeof v === "boolean";
    case "integer": return Number.isInteger(v);
    case "number": return typeof v === "number";
    case "string": return typeof v === "string" && (s.maxLength === undefined || [...v].length <= s.maxLength);
    case "array": return Array.isArray(v) && (s.minItems ?? 0) <= v.length && v.length <= (s.maxItems ?? Infinity) && v.every((x) => !s.items || valid(x, s.items));
    case "object": {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
      if ((s.required ?? []).some((k) => !(k in v))) return false;
      return Object.entries(v).every(([k, x]) => (s.properties && k in s.properties) ? valid(x, s.properties[k]) : s.additionalProperties !== false);
    }
  }
  return false;
}
function parses(text) { try { return { ok: true, v: JSON.parse(text) }; } catch { return { ok: false }; } }
const toolsC = [
  { type: "function", function: { name: "get_weather", description: "Current weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["c", "f"] } }, required: ["city", "unit"], additionalProperties: false } } },
  { type: "function", function: { name: "add", description: "Adds", parameters: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } }, required: ["a", "b"] } } },
];
const paramsOf = Object.fromEntries(toolsC.map((t) => [t.function.name, t.function.parameters]));
function validCall(choice, names) {
  const calls = choice.message.tool_calls ?? [];
  if (choice.finish_reason !== "tool_calls" || calls.length !== 1) return false;
  const f = calls[0].function;
  const p = parses(f.arguments);
  return names.includes(f.name) && p.ok && valid(p.v, paramsOf[f.name]);
}
for (const seed of [1, 2, 3]) {
  const rq = await client.chat.completions.create({ model: "m.gguf", messages: user("Hello"), tools: toolsC, tool_choice: "required", max_tokens: 200, seed, temperature: 1 });
  check(validCall(rq.choices[0], ["get_weather", "add"]), "structured: tool_choice required -> a valid call (seed " + seed + ")", rq.choices[0]);
}
const named = await client.chat.completions.create({ model: "m.gguf", messages: user("Hello"), tools: toolsC, tool_choice: { type: "function", function: { name: "add" } }, max_tokens: 200, seed: 4 });
check(validCall(named.choices[0], ["add"]), "structured: named function -> a valid call to it", named.choices[0]);
const namedS = await client.chat.completions.create({ model: "m.gguf", messages: user("Hello"), tools: toolsC, tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 200, seed: 5, stream: true });
let sCalls = [], sFinish = null;
for await (const c of namedS) for (const ch of c.choices) { if (ch.delta?.tool_calls) sCalls.push(...ch.delta.tool_calls); if (ch.finish_reason) sFinish = ch.finish_reason; }
check(sFinish === "tool_calls" && sCalls.length === 1 && sCalls[0].function.name === "get_weather" && valid(JSON.parse(sCalls[0].function.arguments), paramsOf.get_weather), "structured: named function, streamed", sCalls);
const personSchema = { type: "object", properties: { name: { type: "string", maxLength: 16 }, age: { type: "integer" }, pets: { type: "array", items: { enum: ["cat", "dog"] }, maxItems: 3 }, ok: { type: "boolean" } }, required: ["name", "age", "pets", "ok"], additionalProperties: false };
for (const seed of [1, 2]) {
  const js = await client.chat.completions.create({ model: "m.gguf", messages: user("A person"), max_tokens: 200, seed, response_format: { type: "json_schema", json_schema: { name: "person", schema: personSchema, strict: true } } });
  const p = parses(js.choices[0].message.content);
  check(js.choices[0].finish_reason === "stop" && p.ok && valid(p.v, personSchema), "structured: response_format json_schema parses and validates (seed " + seed + ")", js.choices[0]);
}
const jo = await client.chat.completions.create({ model: "m.gguf", messages: user("JSON please"), max_tokens: 300, seed: 3, response_format: { type: "json_object" } });
const jop = parses(jo.choices[0].message.content);
check(jo.choices[0].finish_reason !== "stop" || (jop.ok && typeof jop.v === "object" && !Array.isArray(jop.v)), "structured: json_object is an object when finished", jo.choices[0]);
const badSchema = await expectError(client.chat.completions.create({ model: "m.gguf", messages: user("x"), response_format: { type: "json_schema", json_schema: { name: "x", schema: { $ref: "#/a" } } } }));
check(badSchema?.status === 400 && badSchema.error?.param === "response_format.json_schema.schema", "structured: unsupported schema -> 400", badSchema?.error);

// Legacy completions, models, tokenize/detokenize.
const cp = await client.completions.create({ model: "m.gguf", prompt: "The sky", max_tokens: 5, logprobs: 2 });
check(cp.object === "text_completion" && cp.usage.completion_tokens === 5 && cp.choices[0].logprobs.tokens.length === 5, "completions", cp.choices[0]);
const models = await client.models.list();
check(models.data.some((m) => m.id === "m.gguf"), "models list");

// Errors in OpenAI's shape with field paths.
const e1 = await expectError(client.chat.completions.create({ model: "m.gguf", messages: user("x"), temperature: "hot" }));
check(e1?.status === 400 && e1.error?.param === "temperature", "400 with field path: temperature", e1?.error);
const e2 = await expectError(client.chat.completions.create({ model: "m.gguf", messages: [{ role: "user", content: 7 }] }));
check(e2?.status === 400 && e2.error?.param === "messages[0].content", "400 with field path: messages[0].content", e2?.error);
const e3 = await expectError(client.chat.completions.create({ model: "m.gguf", messages: user("x"), max_tokens: 100000 }));
check(e3?.status === 400 && e3.error?.code === "context_length_exceeded" && /512/.test(e3.message) && /100000/.test(e3.message), "context overflow names both numbers", e3?.message);
const e4 = await expectError(client.chat.completions.create({ model: "gpt-4o", messages: user("x") }));
check(e4?.status === 404 && e4.error?.code === "model_not_found", "unknown model -> 404", e4?.error);
const nokey = new OpenAI({ baseURL: base + "/v1", apiKey: "wrong", maxRetries: 0 });
const e5 = await expectError(nokey.chat.completions.create({ model: "m.gguf", messages: user("x") }));
check(e5?.status === 401, "401 with a wrong key", e5?.status);
const e6 = await fetch(base + "/v1/chat/completions", { method: "POST", headers: { Authorization: "Bearer " + key }, body: "x".repeat(5 << 20) }).catch((e) => e);
check(e6?.status === 413 || e6 instanceof Error, "body size limit -> 413", e6?.status);

// Queue full: more concurrent long requests than --parallel + --max-queue.
const flood = await Promise.all(Array.from({ length: 16 }, (_, i) =>
  client.chat.completions.create({ model: "m.gguf", messages: user("flood " + i), max_tokens: 200, temperature: 1 }).then(() => 200, (e) => e.status)));
check(flood.includes(429) && flood.includes(200) && flood.every((s) => s === 200 || s === 429), "queue full -> 429, others answered", flood);

// A disconnect-heavy burst, then /metrics back to idle.
await Promise.all(Array.from({ length: 12 }, async (_, i) => {
  const ac = new AbortController();
  try {
    const st = await client.chat.completions.create({ model: "m.gguf", messages: user("burst " + i), max_tokens: 300, stream: true }, { signal: ac.signal });
    let k = 0;
    for await (const _c of st) { if (++k >= 1 + (i % 3)) { ac.abort(); break; } }
  } catch (e) { /* aborted or 429 */ }
}));
let idle = false, metrics = "";
for (let i = 0; i < 100 && !idle; i++) {
  metrics = await (await fetch(base + "/metrics", { headers: { Authorization: "Bearer " + key } })).text();
  const g = (n) => Number((metrics.match(new RegExp("^" + n + " (\\d+)", "m")) || [])[1]);
  idle = g("herd_running_sequences") === 0 && g("herd_queue_depth") === 0 && g("herd_kv_tokens_used") === 0 && g("herd_http_generations_in_flight") === 0;
  if (!idle) await new Promise((r) => setTimeout(r, 100));
}
check(idle, "metrics back to idle after disconnects", metrics.split("\n").filter((l) => /^herd_(running|queue|kv_tokens_used|http)/.test(l)));
check(/herd_requests_total\{route="\/v1\/chat\/completions",status="429"\}/.test(metrics), "metrics count 429s");

console.log(failures ? failures + " check(s) failed" : "all serve checks passed");
process.exit(failures ? 1 : 0);
