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
const lbTok = await (await fetch(base + "/tokenize", { method: "POST", headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" }, body: JSON.stringify({ content: lb.choices[0].message.content }) })).json();
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
// A JSON Schema validator for the keywords used here (independent of herd's: JavaScript
// RegExp for patterns, Date for dates).
function validate(v, s, root = s) {
  if (s === true || s === undefined) return true;
  if (s === false) return false;
  if (s.$ref) {
    const t = s.$ref.slice(2).split("/").reduce((o, k) => o?.[k], root);
    if (!validate(v, t, root)) return false;
  }
  if (s.allOf && !s.allOf.every((a) => validate(v, a, root))) return false;
  if (s.anyOf && !s.anyOf.some((a) => validate(v, a, root))) return false;
  if (s.oneOf && s.oneOf.filter((a) => validate(v, a, root)).length !== 1) return false;
  if (s.const !== undefined && JSON.stringify(v) !== JSON.stringify(s.const)) return false;
  if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) return false;
  const types = s.type === undefined ? null : [].concat(s.type);
  const is = (t) => t === "null" ? v === null : t === "boolean" ? typeof v === "boolean" : t === "integer" ? Number.isInteger(v)
    : t === "number" ? typeof v === "number" : t === "string" ? typeof v === "string" : t === "array" ? Array.isArray(v)
    : t === "object" ? typeof v === "object" && v !== null && !Array.isArray(v) : false;
  if (types && !types.some(is)) return false;
  if (typeof v === "number") {
    if (s.minimum !== undefined && !(v >= s.minimum)) return false;
    if (s.maximum !== undefined && !(v <= s.maximum)) return false;
    if (s.exclusiveMinimum !== undefined && !(v > s.exclusiveMinimum)) return false;
    if (s.exclusiveMaximum !== undefined && !(v < s.exclusiveMaximum)) return false;
  }
  if (typeof v === "string") {
    const n = [...v].length;
    if (s.minLength !== undefined && n < s.minLength) return false;
    if (s.maxLength !== undefined && n > s.maxLength) return false;
    if (s.pattern && !new RegExp(s.pattern, "u").test(v)) return false;
    if (s.format === "date") {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
      // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999, which
      // rejected the valid RFC 3339 date 0079-05-21.
      const d = m && new Date(0);
      if (d) d.setUTCFullYear(+m[1], +m[2] - 1, +m[3]);
      if (!d || d.getUTCFullYear() !== +m[1] || d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3]) return false;
    }
    if (s.format === "uuid" && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v)) return false;
    if (s.format === "email" && !/^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(v)) return false;
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) return false;
    if (s.maxItems !== undefined && v.length > s.maxItems) return false;
    const pre = s.prefixItems ?? [];
    if (!v.every((x, i) => i < pre.length ? validate(x, pre[i], root) : validate(x, s.items, root))) return false;
  }
  if (types?.includes("object") && is("object")) {
    if ((s.required ?? []).some((k) => !(k in v))) return false;
    for (const [k, x] of Object.entries(v)) {
      const sub = s.properties && k in s.properties ? s.properties[k] : s.additionalProperties;
      if (!validate(x, sub, root)) return false;
    }
  }
  return true;
}
function parses(text) { try { return { ok: true, v: JSON.parse(text) }; } catch { return { ok: false }; } }
// Sanity of the validator itself (so that "valid" below means something).
check(validate({ a: 3 }, { type: "object", properties: { a: { type: "integer", maximum: 2 } } }) === false &&
  validate("2024-02-30", { type: "string", format: "date" }) === false && validate("ab-12", { type: "string", pattern: "^[a-z]+-\\d+$" }),
  "validator: rejects and accepts");

const toolsC = [
  { type: "function", function: { name: "get_weather", description: "Current weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 }, unit: { enum: ["c", "f"] } }, required: ["city", "unit"], additionalProperties: false } } },
  { type: "function", function: { name: "add", description: "Adds", parameters: { type: "object", properties: { a: { type: "integer", minimum: -100, maximum: 100 }, b: { anyOf: [{ type: "integer", minimum: 0, maximum: 9 }, { type: "string", pattern: "^[0-9]{2}$" }] } }, required: ["a", "b"], additionalProperties: false } } },
];
const paramsOf = Object.fromEntries(toolsC.map((t) => [t.function.name, t.function.parameters]));
function callsOf(choice) { return (choice?.message?.tool_calls ?? []).map((c) => ({ name: c.function.name, arguments: c.function.arguments })); }
function validCalls(choice, names, want) {
  const calls = choice.message.tool_calls ?? [];
  if (choice.finish_reason !== "tool_calls" || !want(calls.length)) return false;
  if (new Set(calls.map((c) => c.id)).size !== calls.length || !calls.every((c) => /^call_/.test(c.id) && c.type === "function")) return false;
  return calls.every((c) => { const p = parses(c.function.arguments); return names.includes(c.function.name) && p.ok && validate(p.v, paramsOf[c.function.name]); });
}
// tool_choice "required": one or more calls (parallel_tool_calls defaults to true).
let multi = 0;
const requiredRuns = {};
for (const seed of [1, 2, 3, 4, 5, 6]) {
  const rq = await client.chat.completions.create({ model: "m.gguf", messages: user("Hello"), tools: toolsC, tool_choice: "required", max_tokens: 300, seed, temperature: 1 });
  rq.choices ??= [{ message: {}, error: rq }];  // an engine error after the 200 header
  requiredRuns[seed] = rq.choices[0];
  check(validCalls(rq.choices[0], ["get_weather", "add"], (n) => n >= 1) && !rq.choices[0].message.content, "structured: tool_choice required -> valid call(s) with distinct ids (seed " + seed + ")", rq.choices[0]);
  if ((rq.choices[0].message.tool_calls ?? []).length > 1) multi++;
}
check(multi > 0, "structured: required + parallel_tool_calls -> some reply holds several calls", multi);
for (const seed of [1, 2, 3]) {
  const one = await client.chat.completions.create({ model: "m.gguf", messages: user("Hello"), tools: toolsC, tool_choice: "required", parallel_tool_calls: false, max_tokens: 300, seed, temperature: 1 });
  check(validCalls(one.choices[0], ["get_weather", "add"], (n) => n === 1), "structured: parallel_tool_calls false -> exactly one call (seed " + seed + ")", one.choices[0]);
}
const named = await client.chat.completions.create({ model: "m.gguf", messages: user("Hello"), tools: toolsC, tool_choice: { type: "function", function: { name: "add" } }, max_tokens: 200, seed: 4 });
check(validCalls(named.choices[0], ["add"], (n) => n === 1), "structured: named function -> one valid call to it", named.choices[0]);

// Streamed tool calls through the openai client's stream helper: the first delta of each
// call carries index, id, type and name; arguments arrive in fragments as generated; the
// accumulated calls equal the non-streamed ones for the same seed; no call text in content.
for (const seed of [1, 2, 3]) {
  const st = client.beta.chat.completions.stream({ model: "m.gguf", messages: user("Hello"), tools: toolsC, tool_choice: "required", max_tokens: 300, seed, temperature: 1 });
  const seen = new Map();  // index -> {first, fragments}
  let shapeOk = true, content = "", argDeltas = 0;
  st.on("chunk", (chunk) => {
    for (const ch of chunk.choices) {
      content += ch.delta?.content ?? "";
      for (const tc of ch.delta?.tool_calls ?? []) {
        if (!seen.has(tc.index)) {
          seen.set(tc.index, 0);
          shapeOk &&= typeof tc.id === "string" && tc.type === "function" && typeof tc.function?.name === "string" && typeof tc.function?.arguments === "string";
        } else {
          shapeOk &&= tc.id === undefined && tc.function?.name === undefined;
        }
        seen.set(tc.index, seen.get(tc.index) + 1);
      }
    }
  });
  st.on("tool_calls.function.arguments.delta", () => argDeltas++);
  const fin = await st.finalChatCompletion();
  const streamed = callsOf(fin.choices[0]);
  const plain = callsOf(requiredRuns[seed]);
  check(shapeOk && seen.size === streamed.length && [...seen.keys()].every((k, i) => k === i), "stream tools: first delta has index, id, type, name (seed " + seed + ")", [...seen.entries()]);
  check(JSON.stringify(streamed) === JSON.stringify(plain), "stream tools: accumulated calls == non-streamed calls (seed " + seed + ")", [streamed, plain]);
  check(argDeltas > 2 * streamed.length && [...seen.values()].every((n) => n > 2), "stream tools: arguments streamed in fragments, not one chunk per call (seed " + seed + ")", [argDeltas, [...seen.values()]]);
  check(content === "" && fin.choices[0].finish_reason === "tool_calls", "stream tools: no call syntax in content", content);
}
// runTools (streaming) runs the named function with the parsed, schema-valid arguments.
let ranWith = null;
const runner = client.beta.chat.completions.runTools({
  model: "m.gguf", messages: user("Add"), max_tokens: 200, seed: 9, stream: true,
  tools: [{ type: "function", function: { name: "add", description: "Adds", parameters: paramsOf.add, parse: JSON.parse, function: (args) => { ranWith = args; return "3"; } } }],
  tool_choice: { type: "function", function: { name: "add" } },
});
await runner.done();
check(ranWith !== null && validate(ranWith, paramsOf.add), "stream tools: runTools ran add() with valid arguments", ranWith);

// response_format json_schema: anyOf, recursive $ref, integer/number ranges, patterns, formats.
const orderSchema = {
  $defs: {
    item: { type: "object", properties: { sku: { type: "string", pattern: "^[A-Z]{3}-\\d{3}$" }, qty: { type: "integer", minimum: 1, maximum: 20 }, kind: { anyOf: [{ enum: ["book", "toy"] }, { type: "null" }, { type: "integer", exclusiveMinimum: 100, maximum: 105 }] } }, required: ["sku", "qty", "kind"], additionalProperties: false },
    node: { type: "object", properties: { v: { type: "integer", minimum: -5, maximum: 5 }, kids: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 2 } }, required: ["v", "kids"], additionalProperties: false },
  },
  type: "object",
  properties: {
    id: { type: "string", format: "uuid" },
    when: { type: "string", format: "date" },
    email: { type: "string", format: "email", maxLength: 24 },
    items: { type: "array", items: { $ref: "#/$defs/item" }, minItems: 1, maxItems: 2 },
    total: { type: "number", exclusiveMinimum: 0, maximum: 1000 },
    tree: { $ref: "#/$defs/node" },
    code: { type: "string", pattern: "^(ok|err)-[a-z]{2,4}$" },
    note: { type: ["string", "null"], maxLength: 10 },
  },
  required: ["id", "when", "items", "total", "tree", "code"],
  additionalProperties: false,
};
for (const seed of [1, 2, 3]) {
  const params = { model: "m.gguf", messages: user("An order"), max_tokens: 800, seed, temperature: 1, response_format: { type: "json_schema", json_schema: { name: "order", schema: orderSchema, strict: true } } };
  const js = await client.chat.completions.create(params);
  const p = parses(js.choices[0].message.content);
  check(js.choices[0].finish_reason === "stop" && p.ok && validate(p.v, orderSchema), "structured: json_schema with anyOf/$ref/ranges/patterns/formats validates (seed " + seed + ")", js.choices[0]);
  if (seed === 1) {
    const ss = await streamText(params);
    check(ss.text === js.choices[0].message.content, "structured: streamed json_schema output == non-streamed", [ss.text, js.choices[0].message.content]);
  }
}
const personSchema = { type: "object", properties: { name: { type: "string", maxLength: 16 }, age: { type: "integer" }, pets: { type: "array", items: { enum: ["cat", "dog"] }, maxItems: 3 }, ok: { type: "boolean" } }, required: ["name", "age", "pets", "ok"], additionalProperties: false };
const jsp = await client.chat.completions.create({ model: "m.gguf", messages: user("A person"), max_tokens: 200, seed: 2, response_format: { type: "json_schema", json_schema: { name: "person", schema: personSchema, strict: true } } });
const pp = parses(jsp.choices[0].message.content);
check(jsp.choices[0].finish_reason === "stop" && pp.ok && validate(pp.v, personSchema), "structured: response_format json_schema parses and validates", jsp.choices[0]);
const jo = await client.chat.completions.create({ model: "m.gguf", messages: user("JSON please"), max_tokens: 300, seed: 3, response_format: { type: "json_object" } });
const jop = parses(jo.choices[0].message.content);
check(jo.choices[0].finish_reason !== "stop" || (jop.ok && typeof jop.v === "object" && !Array.isArray(jop.v)), "structured: json_object is an object when finished", jo.choices[0]);
// Unsupported keywords: strict -> 400 naming keyword and path; not strict -> ignored.
const withMultiple = { type: "object", properties: { n: { type: "integer", multipleOf: 3 } }, required: ["n"] };
const strictErr = await expectError(client.chat.completions.create({ model: "m.gguf", messages: user("x"), response_format: { type: "json_schema", json_schema: { name: "x", strict: true, schema: withMultiple } } }));
check(strictErr?.status === 400 && strictErr.error?.param === "response_format.json_schema.schema.properties.n.multipleOf" && /multipleOf/.test(strictErr.message), "structured: strict + unsupported keyword -> 400 naming it", strictErr?.error);
const lenient = await client.chat.completions.create({ model: "m.gguf", messages: user("x"), max_tokens: 60, seed: 1, response_format: { type: "json_schema", json_schema: { name: "x", schema: withMultiple } } });
const lp2 = parses(lenient.choices[0].message.content);
check(lp2.ok && Number.isInteger(lp2.v.n), "structured: strict false -> unsupported keyword ignored", lenient.choices[0]);
const badRef = await expectError(client.chat.completions.create({ model: "m.gguf", messages: user("x"), response_format: { type: "json_schema", json_schema: { name: "x", schema: { $ref: "#/a" } } } }));
check(badRef?.status === 400 && badRef.error?.param === "response_format.json_schema.schema.$ref", "structured: unresolvable $ref -> 400", badRef?.error);
const badTool = await expectError(client.chat.completions.create({ model: "m.gguf", messages: user("x"), tool_choice: "required",
  tools: [toolsC[0], { type: "function", function: { name: "t", strict: true, parameters: { type: "object", properties: { s: { type: "string", pattern: "(a)\\1" } } } } }] }));
check(badTool?.status === 400 && badTool.error?.param === "tools[1].function.parameters.properties.s.pattern", "structured: tool schema error names the tool's path", badTool?.error);

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
check(e3?.status === 400 && e3.error?.code === "context_length_exceeded" && /1024/.test(e3.message) && /100000/.test(e3.message), "context overflow names both numbers", e3?.message);
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
