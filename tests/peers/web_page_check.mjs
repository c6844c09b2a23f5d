// Drives the web chat page of `herd serve` (apps/server/web_page.cpp) in Debian's
// headless chromium through playwright-core (tests/e2e/test_web_page.sh).
// Usage: node web_page_check.mjs BASE_URL API_KEY   (HERD_CHROMIUM overrides /usr/bin/chromium)
//
// The model has random weights, so its text is noise: the checks are about the
// page (key field, settings reaching the request, streaming, stop, tool calls,
// no foreign requests, no console errors) and the markdown renderer is fed known
// input in page context. Every check prints ok/FAIL; the exit status is 1 on any FAIL.
import { chromium } from "playwright-core";

const [base, key] = process.argv.slice(2);
if (!base || !key) { console.log("usage: node web_page_check.mjs BASE_URL API_KEY"); process.exit(2); }
const origin = new URL(base).origin;
const exe = process.env.HERD_CHROMIUM || "/usr/bin/chromium";
let failures = 0;
function check(cond, what, detail) {
  if (cond) console.log("ok   " + what);
  else { failures++; console.log("FAIL " + what + (detail !== undefined ? ": " + JSON.stringify(detail).slice(0, 600) : "")); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function metrics() {
  const text = await (await fetch(base + "/metrics", { headers: { Authorization: "Bearer " + key } })).text();
  const g = (n) => Number((text.match(new RegExp("^" + n + " (\\d+)", "m")) || [])[1]);
  return { running: g("herd_running_sequences"), in_flight: g("herd_http_generations_in_flight"),
           queued: g("herd_queue_depth"), generated: g("herd_generated_tokens_total") };
}

const browser = await chromium.launch({
  executablePath: exe,
  timeout: 30000,
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const seen = { requests: [], errors: [] };
try {
  await run(await browser.newPage(), seen);
} catch (e) {
  check(false, "no exception while driving the page", String(e.stack || e));
} finally {
  await browser.close();
}
// Offline-clean: only this server was asked for anything; no console errors.
const foreign = seen.requests.filter((r) => new URL(r.url).origin !== origin).map((r) => r.url);
check(seen.requests.length > 0 && foreign.length === 0, "every request went to the server itself (" + seen.requests.length + ")", foreign);
const bad = seen.errors.filter((e) => !(e.phase === "no key" && /\b401\b/.test(e.text)));
check(bad.length === 0, "no console errors (" + (seen.errors.length - bad.length) + " expected 401s before the key was set)", bad);
console.log(failures ? failures + " check(s) failed" : "all web page checks passed");
process.exit(failures ? 1 : 0);

async function run(page, { requests, errors }) {
  page.setDefaultTimeout(20000);
  let phase = "no key";
  page.on("request", (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData(), auth: r.headers().authorization }));
  page.on("console", (m) => { if (m.type() === "error") errors.push({ phase, text: m.text() }); });
  page.on("pageerror", (e) => errors.push({ phase, text: "uncaught: " + e.message }));
  const lastChat = () => JSON.parse(requests.filter((r) => r.method === "POST" && r.url.endsWith("/v1/chat/completions")).pop().body);
  const lastAssistant = () => page.locator(".msg.assistant").last();
  // The last assistant bubble's final state (done / stopped / error), or "timeout".
  const finished = (timeout) => page.waitForFunction(() => {
    const m = [...document.querySelectorAll(".msg.assistant")].pop();
    return m && m.dataset.state !== "streaming" && m.dataset.state;
  }, null, { timeout: timeout || 20000 }).then((h) => h.jsonValue(), () => "timeout");
  async function setField(id, value) {
    await page.fill("#" + id, value);
    await page.locator("#" + id).dispatchEvent("change");
  }
  async function send(text, how) {
    await page.fill("#input", text);
    if (how === "enter") await page.press("#input", "Enter");
    else await page.click("#send");
  }

  // 1. Load without a key: the page is public, the API is not.
  await page.goto(base + "/");
  check((await page.title()) === "herd chat", "page loads (title)");
  await page.waitForFunction(() => document.getElementById("model").textContent !== "");
  check(/API key/.test(await page.textContent("#model")), "no key: the page says a key is needed", await page.textContent("#model"));
  await send("hello");
  await page.waitForSelector(".msg.err");
  check(/API key/.test(await page.textContent(".msg.err")), "no key: sending shows an error naming the key", await page.textContent(".msg.err"));
  check(await page.isEnabled("#send") && await page.isDisabled("#stop"), "no key: UI back to ready after the error");

  // 2. The key field: used at once, kept in localStorage across a reload.
  await setField("apikey", key);
  await page.waitForFunction(() => /^model /.test(document.getElementById("model").textContent));
  phase = "with key";
  await page.reload();
  await page.waitForFunction(() => document.getElementById("model").textContent !== "");
  check(/^model .*context \d+/.test(await page.textContent("#model")), "key kept after reload; model shown", await page.textContent("#model"));
  check((await page.inputValue("#apikey")) === key, "key field restored from localStorage");
  check(await page.isDisabled("#stop") && (await page.textContent("#status")) === "ready", "ready after load");

  // 3. System prompt and sampling settings reach the request; the answer streams.
  await setField("system", "You are a terse test assistant.");
  await setField("temperature", "0.5");
  await setField("max_tokens", "200");
  await setField("seed", "7");
  await page.evaluate(() => {
    window.__snaps = [];
    window.__states = [];
    new MutationObserver(() => {
      const m = [...document.querySelectorAll(".msg.assistant")].pop();
      if (m) window.__snaps.push(m.querySelector(".body").textContent);
      window.__states.push(document.body.dataset.state);
    }).observe(document.getElementById("log"), { childList: true, subtree: true, characterData: true });
  });
  await send("Say hello", "enter");
  const state1 = await finished();
  const final1 = await lastAssistant().locator(".body").textContent();
  const snaps = await page.evaluate(() => window.__snaps);
  const partial = [...new Set(snaps.filter((s) => s && s !== final1))];
  check(state1 === "done" && final1.length > 0, "reply finishes with text", { state1, final1 });
  check(partial.length >= 2, "reply streamed: " + partial.length + " distinct partial texts (>= 2) before the end", { partial: partial.length, snaps: snaps.length });
  check((await page.evaluate(() => window.__states)).includes("busy"), "UI was busy while streaming");
  const status1 = await page.textContent("#status");
  const m1 = status1.match(/^(length|stop), (\d+) tokens$/);
  check(m1 && Number(m1[2]) <= 200 && Number(m1[2]) > 0, "status shows finish reason and usage", status1);
  const req1 = lastChat();
  check(req1.messages[0]?.role === "system" && req1.messages[0]?.content === "You are a terse test assistant.", "system prompt sent first", req1.messages);
  check(req1.messages[1]?.role === "user" && req1.messages[1]?.content === "Say hello", "user message sent", req1.messages);
  check(req1.temperature === 0.5 && req1.max_tokens === 200 && req1.seed === 7 && req1.stream === true, "sampling settings sent", req1);
  check(requests.filter((r) => r.url.endsWith("/v1/chat/completions")).pop().auth === "Bearer " + key, "key sent as Bearer token");
  check((await page.textContent(".msg.user .body")) === "Say hello", "user bubble shows the message");
  // What the page shows is exactly the server's text: the same request replayed from
  // here (same seed, so the same tokens; not streamed) gives the content, and the page's
  // reply body is its own markdown rendering of that content, nothing dropped or doubled.
  const replay = await (await fetch(base + "/v1/chat/completions", {
    method: "POST", headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" },
    body: JSON.stringify({ ...req1, stream: false }) })).json();
  const want = replay.choices?.[0]?.message?.content ?? "";
  const shown = await lastAssistant().locator(".body").innerHTML();
  // Through a detached element, so both sides are the browser's serialization of the DOM.
  const norm = (t) => { const d = document.createElement("div"); d.innerHTML = md(t); return d.innerHTML; };
  const rendered = await page.evaluate(norm, want);
  check(want.length > 0 && shown === rendered, "the reply shown is the server's text for the same request, rendered",
        { want: want.slice(0, 120), shown: shown.slice(0, 200), rendered: rendered.slice(0, 200) });
  const other = await page.evaluate(norm, want + "x");
  check(other !== shown, "control: one more character renders differently");

  // 4. Markdown, in page context with known input: structure, and HTML escaped.
  const mdr = await page.evaluate(async () => {
    window.__xss = 0;
    const src = [
      "# Title", "Some **bold**, *italic* and `x < y` code.", "", "- one", "- two **2**", "", "1. first", "2. second", "",
      "> quoted", "", "```js", 'if (a < b && c) { return "<b>"; }', "```", "",
      '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script>',
      "[link](https://example.com/a?b=1&c=2) [bad](javascript:alert(1))",
    ].join("\n");
    const d = document.createElement("div");
    d.innerHTML = window.herdPage.md(src);
    document.body.appendChild(d);
    await new Promise((r) => setTimeout(r, 200));
    const q = (s) => d.querySelector(s), qa = (s) => [...d.querySelectorAll(s)];
    const open = document.createElement("div");
    open.innerHTML = window.herdPage.md("Streaming:\n```py\nx = 1");
    const r = {
      h1: q("h1")?.textContent, strong: qa("strong").map((e) => e.textContent), em: q("em")?.textContent,
      inlineCode: q("p code")?.textContent, ul: qa("ul > li").map((e) => e.textContent), ulStrong: q("ul > li:nth-child(2) strong")?.textContent,
      ol: qa("ol > li").map((e) => e.textContent), quote: q("blockquote")?.textContent.trim(),
      codeLang: q("pre > code")?.className, code: q("pre > code")?.textContent,
      img: qa("img").length, script: qa("script").length, text: d.textContent,
      links: qa("a").map((a) => [a.textContent, a.getAttribute("href"), a.rel]),
      openCode: open.querySelector("pre > code.lang-py")?.textContent, xss: window.__xss,
    };
    d.remove();
    return r;
  });
  check(mdr.h1 === "Title", "md: heading", mdr);
  check(mdr.strong.includes("bold") && mdr.em === "italic" && mdr.inlineCode === "x < y", "md: bold, italic, inline code", mdr);
  check(JSON.stringify(mdr.ul) === '["one","two 2"]' && mdr.ulStrong === "2", "md: bullet list", mdr.ul);
  check(JSON.stringify(mdr.ol) === '["first","second"]', "md: numbered list", mdr.ol);
  check(mdr.quote === "quoted", "md: block quote", mdr.quote);
  check(mdr.codeLang === "lang-js" && mdr.code === 'if (a < b && c) { return "<b>"; }', "md: fenced code kept verbatim", mdr);
  check(mdr.openCode === "x = 1", "md: a fence still open mid-stream renders as code", mdr.openCode);
  check(mdr.img === 0 && mdr.script === 0 && mdr.xss === 0 && mdr.text.includes('<img src=x onerror="window.__xss=1">'),
        "md: raw HTML is shown as text, never made an element", mdr);
  check(mdr.links.length === 1 && mdr.links[0][1] === "https://example.com/a?b=1&c=2" && /noopener/.test(mdr.links[0][2]),
        "md: http(s) links only (javascript: is not a link)", mdr.links);

  // 5. Tool calls: tools + tool_choice "required" (constrained decoding) -> a call,
  // shown as its own element; the next message goes back as the tool's result.
  const tools = [{ type: "function", function: { name: "get_weather", description: "Current weather",
    parameters: { type: "object", properties: { city: { type: "string", maxLength: 12 } }, required: ["city"], additionalProperties: false } } }];
  await setField("tools", JSON.stringify(tools));
  await page.selectOption("#tool_choice", "required");
  await send("Weather in Paris?");
  const state2 = await finished();
  const call = lastAssistant().locator(".tool-call");
  const toolReq = requests.filter((r) => r.method === "POST" && /chat\/completions/.test(r.url)).pop();
  const toolBody = toolReq && toolReq.body ? JSON.parse(toolReq.body) : {};
  check(toolBody.tool_choice === "required" && toolBody.parallel_tool_calls === false,
        "tool call: sent with tool_choice required and one call per turn", { tool_choice: toolBody.tool_choice, parallel: toolBody.parallel_tool_calls });
  check(state2 === "done" && (await call.count()) === 1, "tool call: one .tool-call element", { state2, n: await call.count() });
  if ((await call.count()) === 1) {
    check((await call.getAttribute("data-name")) === "get_weather" && (await call.locator(".tool-head").textContent()) === "tool call: get_weather",
          "tool call: shows the function name");
    let args = null;
    try { args = JSON.parse(await call.locator("pre").textContent()); } catch (e) { /* checked below */ }
    check(args && typeof args.city === "string", "tool call: shows the arguments (JSON)", args);
  }
  const req2 = lastChat();
  check(JSON.stringify(req2.tools) === JSON.stringify(tools) && req2.tool_choice === "required", "tools and tool_choice sent", req2);
  check(/get_weather/.test(await page.getAttribute("#input", "placeholder")), "input now asks for the tool result");
  await page.selectOption("#tool_choice", "auto");
  await setField("max_tokens", "16");
  await send("sunny, 21 C");
  const state3 = await finished();
  const req3 = lastChat(), n3 = req3.messages.length;
  const asst = req3.messages[n3 - 2], toolMsg = req3.messages[n3 - 1];
  check(asst?.role === "assistant" && asst.tool_calls?.[0]?.function?.name === "get_weather" && asst.tool_calls[0].id,
        "history keeps the assistant's tool call", asst);
  check(toolMsg?.role === "tool" && toolMsg.content === "sunny, 21 C" && toolMsg.tool_call_id === asst?.tool_calls?.[0]?.id,
        "the tool result is sent as role tool with the call's id", toolMsg);
  check(state3 === "done" && (await page.locator(".msg.tool").count()) === 1, "the tool result turn is answered", state3);
  await setField("tools", "");

  // 6. Stop: a long generation is cut short; the server frees the sequence.
  await page.click("#clear");
  check((await page.locator(".msg").count()) === 0, "New chat clears the log");
  await setField("max_tokens", "3000");
  await setField("temperature", "1");
  await setField("seed", "11");  // a fixed reply: no early end-of-turn token to race with
  const before = await metrics();
  await send("Write a very long story.");
  const started = await page.waitForFunction(() => {
    const m = [...document.querySelectorAll(".msg.assistant")].pop();
    return m && m.querySelector(".body").textContent.length > 40;
  }, null, { timeout: 10000 }).then(() => true, () => false);
  check(started, "stop: the long reply starts streaming");
  if (!started) return;
  check(await page.isEnabled("#stop") && await page.isDisabled("#send"), "while generating: Stop enabled, Send disabled");
  await page.click("#stop");
  const state4 = await finished(5000);
  check(state4 === "stopped" && (await page.textContent("#status")) === "stopped", "stop: the bubble is marked stopped", state4);
  if (state4 !== "stopped") return;  // the rest would wait out a 3000-token reply
  check(await page.isEnabled("#send") && await page.isDisabled("#stop") && (await page.getAttribute("body", "data-state")) === "ready",
        "stop: UI back to ready");
  const t1 = await lastAssistant().locator(".body").textContent();
  await sleep(700);
  const t2 = await lastAssistant().locator(".body").textContent();
  check(t1 === t2 && t1.length > 0, "stop: the bubble stops growing", [t1.length, t2.length]);
  let after = await metrics();
  for (let i = 0; i < 50 && (after.running !== 0 || after.in_flight !== 0 || after.queued !== 0); i++) { await sleep(100); after = await metrics(); }
  check(after.running === 0 && after.in_flight === 0 && after.queued === 0, "stop: server metrics show nothing running", after);
  check(after.generated - before.generated < 3000, "stop: the server generated " + (after.generated - before.generated) + " of 3000 tokens", after.generated - before.generated);
  await setField("max_tokens", "8");
  await send("Go on.");
  check((await finished()) === "done", "after stop: the next message is answered");
}
