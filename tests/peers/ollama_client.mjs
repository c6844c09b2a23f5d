// Drives `herd serve`'s Ollama API with the official ollama npm package
// (tests/e2e/test_serve.sh). Usage: node ollama_client.mjs BASE_URL API_KEY. The model
// has random weights, so checks are about the API (shapes, streaming, options,
// structured output, tool calls, errors) and about agreeing with herd's OpenAI route on
// the same request, not about the text.
import { Ollama } from "ollama";

const [base, key] = process.argv.slice(2);
const ollama = new Ollama({ host: base, headers: { Authorization: "Bearer " + key } });
let failures = 0;
function check(cond, what, detail) {
  if (cond) console.log("ok   " + what);
  else { failures++; console.log("FAIL " + what + (detail !== undefined ? ": " + JSON.stringify(detail).slice(0, 400) : "")); }
}
async function expectError(p) { try { await p; return null; } catch (e) { return e; } }
const user = (t) => [{ role: "user", content: t }];
const greedy = { temperature: 0, num_predict: 12, seed: 1 };
async function openaiChat(body) {
  const r = await fetch(base + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + key }, body: JSON.stringify(body),
  });
  return r.json();
}

// The listing routes.
const v = await ollama.version();
check(/^\d+\.\d+\.\d+$/.test(v.version), "version: a semantic version", v);
const tags = await ollama.list();
const m = tags.models[0];
check(tags.models.length === 1 && m.name === "m.gguf:latest" && m.model === m.name, "tags: the served model as name:tag", tags);
check(m.size > 0 && /^[0-9a-f]{64}$/.test(m.digest) && m.details.family === "llama" && m.details.format === "gguf" &&
  m.details.quantization_level === "Q4_0" && /M$/.test(m.details.parameter_size), "tags: size, digest and details", m);
const isDate = (t) => typeof t === "string" && !isNaN(Date.parse(t));
check(isDate(m.modified_at), "tags: modified_at is an RFC 3339 date", m.modified_at);
const show = await ollama.show({ model: "m.gguf" });
check(show.model_info["general.architecture"] === "llama" && show.model_info["llama.block_count"] === 2 &&
  show.model_info["llama.attention.head_count_kv"] === 2, "show: model_info carries the GGUF keys", show.model_info);
check(show.capabilities.includes("tools") && show.parameters.includes('stop "<|eot_id|>"') && show.details.family === "llama",
  "show: capabilities, stop parameters, details", show);
const ps = await ollama.ps();
// test_serve.sh starts the server with --max-seq-len 1024.
check(ps.models.length === 1 && ps.models[0].name === m.name && ps.models[0].size > 0 && ps.models[0].size_vram === 0 &&
  isDate(ps.models[0].expires_at) && ps.models[0].context_length === 1024, "ps: the loaded model, its memory and context", ps.models[0]);

// Chat: non-streamed, streamed, and the OpenAI route on the same request.
const a = await ollama.chat({ model: "m.gguf", messages: user("Hello"), options: greedy });
check(a.done === true && a.done_reason === "length" && a.eval_count === 12 && a.message.role === "assistant" &&
  typeof a.message.content === "string", "chat: one object, num_predict -> length", a);
check(a.prompt_eval_count > 5 && a.total_duration >= a.eval_duration && a.eval_duration > 0 && isDate(a.created_at),
  "chat: counts and nanosecond durations", a);
const parts = [];
for await (const p of await ollama.chat({ model: "m.gguf", messages: user("Hello"), options: greedy, stream: true })) parts.push(p);
const streamed = parts.map((p) => p.message.content).join("");
const last = parts[parts.length - 1];
check(streamed === a.message.content && last.done && last.eval_count === 12 && parts.slice(0, -1).every((p) => !p.done),
  "chat stream: same text as non-streamed, one final done record", [streamed, a.message.content, last]);
const o = await openaiChat({ model: "m.gguf", messages: user("Hello"), max_tokens: 12, temperature: 0, seed: 1 });
check(o.choices?.[0].message.content === a.message.content && o.usage.prompt_tokens === a.prompt_eval_count,
  "chat == /v1/chat/completions for the same conversation (one renderer, one engine)", [o.choices?.[0].message.content, a.message.content]);

// Options reach the sampler: seeds reproduce, different seeds differ, stop cuts.
const s1 = await ollama.chat({ model: "m.gguf", messages: user("Pick"), options: { seed: 42, temperature: 1, num_predict: 16, top_k: 40, min_p: 0.05, repeat_penalty: 1.1 } });
const s2 = await ollama.chat({ model: "m.gguf", messages: user("Pick"), options: { seed: 42, temperature: 1, num_predict: 16, top_k: 40, min_p: 0.05, repeat_penalty: 1.1 } });
const s3 = await ollama.chat({ model: "m.gguf", messages: user("Pick"), options: { seed: 43, temperature: 1, num_predict: 16 } });
check(s1.message.content === s2.message.content && s1.message.content !== s3.message.content, "options: seed reproduces, another seed differs", [s1.message.content, s3.message.content]);
const long = await ollama.chat({ model: "m.gguf", messages: user("Tell me"), options: { temperature: 0, num_predict: 40 } });
const chars = [...long.message.content];
const stopStr = chars.slice(10, 12).join("");
if (stopStr.trim().length > 0 && !stopStr.includes("\uFFFD")) {
  const cut = await ollama.chat({ model: "m.gguf", messages: user("Tell me"), options: { temperature: 0, num_predict: 40, stop: [stopStr] } });
  check(cut.message.content === long.message.content.slice(0, long.message.content.indexOf(stopStr)) && cut.done_reason === "stop",
    "options.stop: cut before the stop string, done_reason stop", [stopStr, cut.message.content]);
} else {
  console.log("skip stop (no usable substring in " + JSON.stringify(long.message.content) + ")");
}

// Generate: the chat template by default (== /api/chat with one user turn), context
// continues a conversation, raw sends the prompt as written.
const g = await ollama.generate({ model: "m.gguf", prompt: "Hello", options: greedy });
check(g.response === a.message.content && g.done && Array.isArray(g.context) && g.context.length === g.prompt_eval_count + g.eval_count,
  "generate: templated like chat, context = prompt + reply", [g.response, g.context?.length]);
const g2 = await ollama.generate({ model: "m.gguf", prompt: "And then?", context: g.context, options: greedy });
check(g2.prompt_eval_count > g.context.length && g2.context.slice(0, g.context.length).join() === g.context.join(),
  "generate: context is continued", [g2.prompt_eval_count, g.context.length]);
const raw = await ollama.generate({ model: "m.gguf", prompt: "Hello", raw: true, options: greedy });
check(raw.prompt_eval_count === 2 && raw.context === undefined, "generate raw: BOS + the prompt, no context returned", raw);
const gparts = [];
for await (const p of await ollama.generate({ model: "m.gguf", prompt: "Hello", options: greedy, stream: true })) gparts.push(p);
check(gparts.map((p) => p.response).join("") === g.response && gparts[gparts.length - 1].done, "generate stream == non-streamed");
const load = await ollama.generate({ model: "m.gguf", prompt: "" });
check(load.done && load.done_reason === "load", "generate with no prompt: the load reply", load);
const cload = await ollama.chat({ model: "m.gguf", messages: [] });
check(cload.done && cload.done_reason === "load", "chat with no messages: the load reply", cload);

// Structured output through the grammar engine.
const js = await ollama.chat({ model: "m.gguf", messages: user("JSON please"), format: "json", options: { seed: 3, num_predict: 300 } });
let parsed = null;
try { parsed = JSON.parse(js.message.content); } catch {}
check(js.done_reason !== "stop" || (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)), "format json: an object when finished", js.message.content);
const schema = { type: "object", properties: { age: { type: "integer" }, available: { type: "boolean" } }, required: ["age", "available"], additionalProperties: false };
const sj = await ollama.generate({ model: "m.gguf", prompt: "Ollama is 22", format: schema, options: { seed: 4, num_predict: 200 } });
let sp = null;
try { sp = JSON.parse(sj.response); } catch {}
check(sj.done_reason === "stop" && sp && Number.isInteger(sp.age) && typeof sp.available === "boolean" && Object.keys(sp).length === 2,
  "format schema: the reply validates", sj.response);

// Tools: a format that forces Llama 3.1's JSON call shape makes the reply a call,
// which comes back as Ollama's tool_calls (arguments an object); then the round trip.
const tools = [{ type: "function", function: { name: "get_weather", description: "Weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
const callShape = { type: "object", properties: { name: { const: "get_weather" }, parameters: { type: "object",
  properties: { city: { type: "string", maxLength: 12 } }, required: ["city"], additionalProperties: false } },
  required: ["name", "parameters"], additionalProperties: false };
const tc = await ollama.chat({ model: "m.gguf", messages: user("Weather in Paris?"), tools, format: callShape, options: { seed: 5, num_predict: 120 } });
const call = tc.message.tool_calls?.[0];
check(call?.function.name === "get_weather" && typeof call.function.arguments === "object" && typeof call.function.arguments.city === "string" &&
  tc.message.content === "", "tools: the reply is a tool call with object arguments", tc.message);
const tcs = [];
for await (const p of await ollama.chat({ model: "m.gguf", messages: user("Weather in Paris?"), tools, format: callShape, options: { seed: 5, num_predict: 120 }, stream: true })) tcs.push(p);
const scall = tcs.find((p) => p.message.tool_calls)?.message.tool_calls[0];
check(JSON.stringify(scall) === JSON.stringify(call), "tools streamed: the same call in one record", scall);
const round = await ollama.chat({ model: "m.gguf", tools, options: greedy, messages: [
  ...user("Weather in Paris?"), { role: "assistant", content: "", tool_calls: [call ?? { function: { name: "get_weather", arguments: { city: "Paris" } } }] },
  { role: "tool", content: '{"temp": 21}', tool_name: "get_weather" }] });
check(round.done && typeof round.message.content === "string" && round.prompt_eval_count > tc.prompt_eval_count, "tools: call and result round trip", round);

// num_predict past the context's end: the reply stops there ("length"), as Ollama's does.
const full = await ollama.generate({ model: "m.gguf", prompt: "Hi", raw: true, options: { num_predict: 5000, temperature: 0, stop: [] } });
check(full.done_reason === "length" && full.prompt_eval_count + full.eval_count === 1024, "num_predict past the context: stops at its end", [full.prompt_eval_count, full.eval_count]);

// A streamed reply abandoned by the client leaves the server serving.
const it = await ollama.chat({ model: "m.gguf", messages: user("forever"), options: { num_predict: 2000 }, stream: true });
for await (const p of it) { it.abort(); break; }
const after = await ollama.chat({ model: "m.gguf", messages: user("Hello"), options: greedy });
check(after.message.content === a.message.content, "abort: the server keeps serving the same answers");

// Errors in Ollama's shape, as the client reports them.
const e1 = await expectError(ollama.chat({ model: "m.gguf", messages: user("x"), options: { temperature: "hot" } }));
check(e1?.status_code === 400 && e1.error === "options.temperature: expected number, got string", "error: bad option named, 400", e1?.error);
const e2 = await expectError(ollama.chat({ model: "nope", messages: user("x") }));
check(e2?.status_code === 404 && /model 'nope' not found/.test(e2.error), "error: unknown model (strict names) 404", e2?.error);
const e3 = await expectError(ollama.chat({ model: "m.gguf", messages: [{ role: "user", content: "x", images: ["aGk="] }] }));
check(e3?.status_code === 400 && /messages\[0\]\.images/.test(e3.error), "error: images refused naming the field", e3?.error);
const e4 = await expectError(ollama.chat({ model: "m.gguf", messages: user("x"), options: { mirostat: 2 } }));
check(e4?.status_code === 400 && /mirostat/.test(e4.error), "error: a sampler herd lacks is refused, not ignored", e4?.error);
const e5 = await expectError(new Ollama({ host: base }).list());
check(e5?.status_code === 401 && typeof e5.error === "string" && /API key/.test(e5.error), "error: no key -> 401 in Ollama's shape", e5?.error);
const e6 = await expectError(ollama.generate({ model: "m.gguf", prompt: "x", context: [1, -1] }));
check(e6?.status_code === 400 && /context\[1\]/.test(e6.error), "error: a bad context id named", e6?.error);

if (failures) { console.log(failures + " ollama client check(s) failed"); process.exit(1); }
console.log("ollama client: all checks passed");
