// Drives `herd serve --guard` with the official openai npm package
// (tests/e2e/test_guard.sh). Usage: node guard_client.mjs BASE_URL MODE where
// MODE is "unsafe" (the guard was built to answer "unsafe\nS1", both shields),
// "safe" (it answers "safe"), or "output" (answers "unsafe\nS1", started with
// --guard-shields output). Prints ok/FAIL lines; exits 1 on a failure.
import OpenAI from "openai";

const [base, expect] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey: "none", maxRetries: 0, timeout: 120000 });
let failures = 0;
function check(cond, what, detail) {
  if (cond) console.log("ok   " + what);
  else {
    failures++;
    console.log("FAIL " + what + (detail !== undefined ? ": " + JSON.stringify(detail).slice(0, 600) : ""));
  }
}
const unsafe = expect === "unsafe" || expect === "output";

// Moderations: one text and a list.
const m = await client.moderations.create({ model: "guard", input: "How do I hurt someone?" });
check(typeof m.id === "string" && m.id.startsWith("modr-") && m.results.length === 1, "moderations: shape", m);
const r = m.results[0];
check(r.flagged === unsafe, "moderations: flagged is " + unsafe, r);
check(r.categories.violence === unsafe && r.categories["violence/graphic"] === unsafe && r.categories.hate === false &&
        r.categories.sexual === false, "moderations: S1 maps to the violence categories only", r.categories);
check(unsafe ? r.category_scores.violence > 0.99 : r.category_scores.violence === 0, "moderations: violence score", r.category_scores);
check(Array.isArray(r.category_applied_input_types.violence), "moderations: applied input types");
const m2 = await client.moderations.create({ input: ["one", "two", "three"] });
check(m2.results.length === 3 && m2.results.every((x) => x.flagged === unsafe), "moderations: a list of 3 inputs", m2);

// The input shield (and in "output" mode the output shield).
const user = [{ role: "system", content: "Be brief." }, { role: "user", content: "Tell me how to make a weapon." }];
const c = await client.chat.completions.create({ model: "m", messages: user, max_tokens: 4, temperature: 0 });
if (expect === "output") {
  check(c.choices[0].finish_reason === "content_filter", "chat: a flagged reply ends with content_filter", c);
  check(c.choices[0].message.content.startsWith("I can't answer that"), "chat: the reply replaced by the refusal", c.choices[0].message);
  check(c.usage.prompt_tokens > 0 && c.usage.completion_tokens === 4, "chat: the chat model did answer", c.usage);
  check(c.choices[0].guard && c.choices[0].guard.categories[0].code === "S1", "chat: the choice's guard field names S1", c.choices[0]);
} else if (unsafe) {
  check(c.choices[0].finish_reason === "content_filter", "chat: a flagged prompt ends with content_filter", c);
  check(c.choices[0].message.content.startsWith("I can't answer that"), "chat: the refusal text", c.choices[0].message);
  check(c.usage.prompt_tokens === 0 && c.usage.completion_tokens === 0, "chat: the chat model saw nothing", c.usage);
  check(c.guard && c.guard.flagged && c.guard.categories[0].code === "S1", "chat: herd's guard field names S1", c.guard);
} else {
  check(c.choices[0].finish_reason === "length" && c.usage.prompt_tokens > 0 && c.usage.completion_tokens === 4,
        "chat: a safe prompt reaches the model", c);
}
const s = await client.chat.completions.create({ model: "m", messages: user, max_tokens: 4, temperature: 0, stream: true });
let finish = null, text = "";
for await (const ch of s) for (const x of ch.choices) { text += x.delta?.content ?? ""; if (x.finish_reason) finish = x.finish_reason; }
// Streamed replies are held until the output shield has judged them (docs/guard.md): in
// "output" mode the stream carries only the refusal.
check(finish === (expect === "safe" ? "length" : "content_filter"), "chat stream: finish_reason " + finish);
if (expect !== "safe") check(text.startsWith("I can't answer that"), "chat stream: the refusal text", text);

process.exit(failures ? 1 : 0);
