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
  // Clipboard permissions: the Copy buttons are checked by reading the clipboard back.
  const context = await browser.newContext({ permissions: ["clipboard-read", "clipboard-write"] });
  await run(await context.newPage(), seen);
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
  await conversations(page, requests, { finished, setField, lastChat, lastAssistant });
}

// 7. Conversations kept in the browser, per-message actions, stats, dark mode, phone width.
async function conversations(page, requests, { finished, setField, lastChat, lastAssistant }) {
  const shownLog = () => page.evaluate(() => [...document.querySelectorAll("#log .msg")].map((m) =>
    [m.className, m.querySelector(".role").textContent, m.querySelector(".body").textContent]));
  const stored = () => page.evaluate(() => JSON.parse(localStorage.getItem("herd.conversations") || "[]"));
  const titles = () => page.evaluate(() => [...document.querySelectorAll("#convs .conv .open")].map((b) => b.textContent));
  const stats = () => lastAssistant().locator(".stats").textContent();
  const kStats = /^TTFT \d+ ms( \u00b7 \d+\.\d tok\/s)? \u00b7 (\d+) tokens$/;

  const before = await shownLog(), statsBefore = await stats();
  const m = statsBefore.match(kStats);
  check(m && Number(m[2]) >= 1 && Number(m[2]) <= 8 && (Number(m[2]) === 1 || m[1]), "a reply shows TTFT, tok/s and tokens", statsBefore);
  await page.reload();
  await page.waitForFunction(() => /^model /.test(document.getElementById("model").textContent));
  const after = await shownLog();
  check(before.length === 4 && JSON.stringify(after) === JSON.stringify(before), "the conversation is kept across a reload",
        { before, after });
  check((await stats()) === statsBefore, "its stats too");
  const t = await titles();
  check(t[0] === "Write a very long story." && t.includes("Say hello") && t.length === 2,
        "the sidebar lists both conversations, newest first, titled by their first message", t);

  // Copy: the raw text of the reply (markdown source, not the rendering).
  const conv = (await stored()).find((c) => c.title === "Write a very long story.");
  const lastText = conv.messages[conv.messages.length - 1].content;
  await lastAssistant().locator(".copy").click();
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  check(clip === lastText && clip.length > 0, "Copy puts the reply's text on the clipboard", { clip: clip.slice(0, 80), lastText: lastText.slice(0, 80) });

  // Regenerate: the same messages without the last reply are asked again; the reply is replaced.
  const nBefore = lastChat().messages.length;
  await setField("seed", "12");
  await lastAssistant().locator(".regenerate").click();
  check((await finished()) === "done", "Regenerate: a new reply streams");
  const regen = lastChat();
  check(regen.messages.length === nBefore && regen.messages[regen.messages.length - 1].content === "Go on.",
        "Regenerate: asks with the messages up to the last user turn", regen.messages.map((x) => x.role));
  check((await page.locator(".msg.assistant").count()) === 2 && (await page.locator(".regenerate").count()) === 1,
        "Regenerate: the reply is replaced, not added");
  const conv2 = (await stored()).find((c) => c.id === conv.id);
  check(conv2.messages.length === 4, "Regenerate: the stored conversation still has 4 messages", conv2.messages.length);

  // Edit and resend: the first user message changes, everything after it goes.
  await page.locator(".msg.user").first().locator(".edit-btn").click();
  await page.fill(".edit textarea", "A short story, please.");
  await page.click(".edit-send");
  check((await finished()) === "done", "Edit: the edited message is answered");
  const ed = lastChat().messages.filter((x) => x.role !== "system");
  check(ed.length === 1 && ed[0].role === "user" && ed[0].content === "A short story, please.",
        "Edit: asks with the edited message alone", ed);
  check((await page.locator(".msg.user").count()) === 1 && (await page.locator(".msg.assistant").count()) === 1,
        "Edit: the log holds the edited turn and its reply");

  // Switch, rename, delete.
  await page.locator("#convs .conv .open", { hasText: "Say hello" }).click();
  check((await page.locator(".msg.user .body").first().textContent()) === "Say hello", "opening a listed conversation shows it");
  await page.locator("#convs .conv.current .rename").click();
  await page.fill("#convs .conv.current input", "Renamed chat");
  await page.press("#convs .conv.current input", "Enter");
  await page.reload();
  await page.waitForFunction(() => document.getElementById("model").textContent !== "");
  check((await titles()).includes("Renamed chat") && (await page.locator(".msg.user .body").first().textContent()) === "Say hello",
        "rename is kept, and the open conversation is the same after a reload", await titles());
  page.once("dialog", (d) => d.accept());
  await page.locator("#convs .conv.current .delete").click();
  await page.waitForFunction(() => document.querySelectorAll("#convs .conv").length === 1);
  const left = await stored();
  // (An edit keeps the conversation's title, as a rename would be lost otherwise.)
  check(left.length === 1 && left[0].title === "Write a very long story." && (await page.locator("#log .msg").count()) === 0,
        "delete removes it from the list and the browser; an empty chat is open", left.map((c) => c.title));

  // Markdown tables and the code block's copy button.
  const tbl = await page.evaluate(() => {
    const d = document.createElement("div");
    d.className = "msg assistant";
    d.innerHTML = '<div class="role"></div><div class="body"></div>';
    d.querySelector(".body").innerHTML = window.herdPage.md(
      "| name | n |\n|:--|--:|\n| **a** \\| b | 1 |\n| c | 22 |\n\nafter ~~gone~~ _it_\n\n```sh\necho '<hi>'\n```");
    document.getElementById("log").appendChild(d);
    const q = (s) => [...d.querySelectorAll(s)];
    return { th: q("th").map((e) => [e.textContent, e.style.textAlign]), td: q("td").map((e) => e.textContent),
             strong: d.querySelector("td strong")?.textContent, del: d.querySelector("del")?.textContent,
             em: d.querySelector("p em")?.textContent, copy: q(".code > button.copy-code").length };
  });
  check(JSON.stringify(tbl.th) === '[["name","left"],["n","right"]]' && JSON.stringify(tbl.td) === '["a | b","1","c","22"]' &&
        tbl.strong === "a", "md: a table with alignment, inline markup and an escaped pipe", tbl);
  check(tbl.del === "gone" && tbl.em === "it", "md: strikethrough and _emphasis_", tbl);
  check(tbl.copy === 1, "md: code blocks carry a copy button");
  await page.locator("#log .copy-code").last().click();
  check((await page.evaluate(() => navigator.clipboard.readText())) === "echo '<hi>'", "the code copy button copies the code");

  // Dark mode follows the system; light stays light.
  const bg = () => page.evaluate(() => {
    const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number);
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  });
  await page.emulateMedia({ colorScheme: "dark" });
  const dark = await bg();
  await page.emulateMedia({ colorScheme: "light" });
  const light = await bg();
  check(dark < 0.2 && light > 0.8, "dark mode follows the system (luminance " + dark.toFixed(2) + " dark, " + light.toFixed(2) + " light)");

  // Phone width: no sideways scrolling, the sidebar is a drawer behind the menu button.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const phone = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth, side: document.getElementById("side").getBoundingClientRect().right,
    input: document.getElementById("input").getBoundingClientRect().width,
    send: document.getElementById("send").getBoundingClientRect().right }));
  check(phone.scroll <= 390 && phone.side <= 0 && phone.input >= 200 && phone.send <= 390,
        "phone width: no sideways scroll, drawer closed, input and Send fit", phone);
  await page.click("#menu");
  await page.waitForTimeout(300);
  const open = await page.evaluate(() => document.getElementById("side").getBoundingClientRect().left);
  check(open >= 0 && await page.locator("#clear").isVisible(), "phone width: the menu button opens the drawer", open);
  await page.click("#clear");
  await page.waitForTimeout(300);
  check((await page.evaluate(() => document.getElementById("side").getBoundingClientRect().right)) <= 0, "phone width: New chat closes it");
  await page.setViewportSize({ width: 1280, height: 800 });

  if (process.env.HERD_SCREENSHOTS) await screenshots(page, process.env.HERD_SCREENSHOTS);
}

// Screenshots for docs/serving.md (HERD_SCREENSHOTS=DIR): a conversation written into
// the browser's storage (the model's own words are random noise), light, dark, phone.
async function screenshots(page, dir) {
  const demo = { id: "demo", title: "Llama 3.1 sizes", updated: Date.now(), stats: { 1: { ttft_ms: 182, tps: 31.4, tokens: 96 } },
    messages: [{ role: "user", content: "Compare the Llama 3.1 sizes in a table, and show how to run one with herd." },
      { role: "assistant", content: "Here are the **Llama 3.1** models:\n\n| model | layers | d_model | context |\n|:--|--:|--:|--:|\n" +
        "| 8B | 32 | 4096 | 128K |\n| 70B | 80 | 8192 | 128K |\n| 405B | 126 | 16384 | 128K |\n\nRun one with:\n\n" +
        "```sh\nherd serve -m Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf --port 8080\n```\n\n- the page is at `/`\n- the API at `/v1`" }] };
  await page.evaluate((d) => {
    const all = JSON.parse(localStorage.getItem("herd.conversations") || "[]").filter((c) => c.id !== "demo");
    localStorage.setItem("herd.conversations", JSON.stringify([d, ...all]));
    localStorage.setItem("herd.current", "demo");
    for (const k of ["system", "temperature", "top_p", "max_tokens", "seed", "tools"]) localStorage.removeItem("herd." + k);
  }, demo);
  for (const [name, scheme, w, h] of [["web-light", "light", 1100, 700], ["web-dark", "dark", 1100, 700], ["web-phone", "light", 390, 760]]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize({ width: w, height: h });
    await page.reload();
    await page.waitForFunction(() => /^model /.test(document.getElementById("model").textContent));
    await page.screenshot({ path: dir + "/" + name + ".png" });
  }
}
