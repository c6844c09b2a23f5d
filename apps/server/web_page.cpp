// GET / (and /index.html): the web chat page, one self-contained HTML file (CSS
// and JS inline, no CDN, no request to any other host, works offline) compiled
// into the binary. It is public (no API key needed to load it); the key, when
// the server has one, is typed into the page and sent as a Bearer token.
//
// What the page does, all against this server's own OpenAI routes:
//   - streams /v1/chat/completions (SSE) into the assistant bubble as it arrives;
//   - renders markdown (fenced code, headings, lists, quotes, bold, italic, inline
//     code, http(s) links). Everything is HTML-escaped first, so only the tags the
//     renderer makes reach innerHTML;
//   - Stop aborts the fetch; the server sees the closed stream and cancels;
//   - settings: system prompt, temperature, top_p (empty: the server's --temp/--top-p), max tokens, seed, tools (a JSON
//     array in OpenAI's format) and tool_choice (one call per turn:
//     parallel_tool_calls false), API key; kept in localStorage;
//   - tool calls from `tool_calls` deltas are shown as their own element
//     (.tool-call, name + arguments); the next message typed is then sent as the
//     tool's result (role "tool", with the call's id).
// The renderer is exposed as window.herdPage.md for tests/peers/web_page_check.mjs
// (tests/e2e/test_web_page.sh), which drives this page in headless chromium.
#include "routes.h"

namespace herd::server {
namespace {

constexpr const char kPage[] = R"HERDPAGE(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>herd chat</title>
<link rel="icon" href="data:,">
<style>
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,sans-serif;background:#f6f6f4;color:#222;display:flex;height:100vh}
#side{width:270px;padding:12px;border-right:1px solid #ddd;background:#fff;overflow:auto}
#side label{display:block;font-size:12px;color:#555;margin-top:10px}
#side textarea,#side input,#side select{width:100%;font:inherit;font-size:13px;padding:4px}
#model,#status{font-size:12px;color:#666;overflow-wrap:anywhere}
#main{flex:1;display:flex;flex-direction:column;min-width:0}
#log{flex:1;overflow:auto;padding:16px}
.msg{max-width:800px;margin:0 auto 12px;padding:8px 12px;border-radius:8px;background:#fff;border:1px solid #e2e2e2;overflow-wrap:anywhere}
.msg.user{background:#e8f0fe}.msg.tool{background:#f3f7ee}.msg.err{background:#fde8e8;color:#900}
.role{font-size:11px;color:#888;text-transform:uppercase}
.body p{margin:.4em 0}.body h1,.body h2,.body h3,.body h4,.body h5,.body h6{margin:.5em 0 .3em;font-size:1.05em}
.body blockquote{margin:.4em 0;padding-left:10px;border-left:3px solid #ccc;color:#555}
pre{background:#272822;color:#f8f8f2;padding:8px;border-radius:6px;overflow:auto;white-space:pre}
code{font-family:ui-monospace,monospace;font-size:13px}
:not(pre)>code{background:#eee;padding:0 3px;border-radius:3px}
.tool-call{border-left:3px solid #a66;background:#fff6ee;padding:4px 8px;margin:6px 0;font-size:13px}
.tool-call .tool-head{font-weight:600}.tool-call pre{margin:4px 0 0;white-space:pre-wrap}
#bar{display:flex;gap:8px;padding:10px;border-top:1px solid #ddd;background:#fff}
#input{flex:1;font:inherit;padding:6px;min-height:44px}
button{font:inherit;padding:6px 14px}
</style></head><body>
<div id="side"><b>herd chat</b><div id="model"></div>
<label>System prompt<textarea id="system" rows="4"></textarea></label>
<label>Temperature <input id="temperature" type="number" step="0.1" min="0" max="2" placeholder="server's"></label>
<label>Top p <input id="top_p" type="number" step="0.05" min="0" max="1" placeholder="server's"></label>
<label>Max tokens <input id="max_tokens" type="number" min="1" value="512"></label>
<label>Seed <input id="seed" type="number" placeholder="random"></label>
<label>Tools (JSON array, OpenAI format)<textarea id="tools" rows="4" spellcheck="false"
 placeholder='[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]'></textarea></label>
<label>Tool choice <select id="tool_choice"><option>auto</option><option>none</option><option>required</option></select></label>
<label>API key <input id="apikey" type="password" autocomplete="off" placeholder="(if the server needs one)"></label>
<p><button id="clear">New chat</button></p><div id="status" role="status">ready</div></div>
<div id="main"><div id="log" aria-live="polite"></div>
<div id="bar"><textarea id="input" placeholder="Message (Enter sends, Shift+Enter: new line)"></textarea>
<button id="send">Send</button><button id="stop" disabled>Stop</button></div></div>
<script>
"use strict";
const $ = id => document.getElementById(id);
const kSettings = ["system", "temperature", "top_p", "max_tokens", "seed", "tools", "tool_choice", "apikey"];
const kInputHint = $("input").placeholder;
let history = [];  // this chat's OpenAI messages; the system prompt is added per request
let ctrl = null;   // AbortController of the generation in flight; null when ready

for (const k of kSettings) {
  const v = localStorage.getItem("herd." + k);
  if (v !== null) $(k).value = v;
  $(k).addEventListener("change", () => {
    localStorage.setItem("herd." + k, $(k).value);
    if (k === "apikey") load_model();
  });
}

// ---- markdown --------------------------------------------------------------
function esc(s) {
  return s.replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
// One line: code spans stay verbatim; the rest is escaped before any tag is made.
function inline(s) {
  return s.split(/(`[^`\n]+`)/).map((part, i) => i % 2
    ? "<code>" + esc(part.slice(1, -1)) + "</code>"
    : esc(part)
        .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>')
        .replace(/\*\*(\S(?:.*?\S)?)\*\*/g, "<strong>$1</strong>")
        .replace(/(^|[^\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])/g, "$1<em>$2</em>")).join("");
}
const kFence = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/, kHeading = /^(#{1,6})\s+(.*)$/, kBullet = /^\s*[-*+]\s+/,
      kNumber = /^\s*\d+[.)]\s+/, kQuote = /^\s*>\s?/, kRule = /^\s*([-*_])(\s*\1){2,}\s*$/;
const block_start = l => [kFence, kHeading, kBullet, kNumber, kQuote, kRule].some(re => re.test(l));
// Markdown text -> HTML string. A fence still open (mid-stream) runs to the end.
function md(text) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let out = "";
  for (let i = 0; i < lines.length;) {
    const l = lines[i];
    let m;
    if ((m = l.match(kFence))) {
      const body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(m[1]); i++) body.push(lines[i]);
      i++;  // the closing fence
      out += "<pre><code" + (m[2] ? ' class="lang-' + esc(m[2]) + '"' : "") + ">" + esc(body.join("\n")) + "</code></pre>";
    } else if (kRule.test(l)) {
      out += "<hr>"; i++;
    } else if ((m = l.match(kHeading))) {
      out += "<h" + m[1].length + ">" + inline(m[2]) + "</h" + m[1].length + ">"; i++;
    } else if (kBullet.test(l) || kNumber.test(l)) {
      const re = kBullet.test(l) ? kBullet : kNumber, tag = re === kBullet ? "ul" : "ol";
      out += "<" + tag + ">";
      for (; i < lines.length && re.test(lines[i]); i++) out += "<li>" + inline(lines[i].replace(re, "")) + "</li>";
      out += "</" + tag + ">";
    } else if (kQuote.test(l)) {
      const q = [];
      for (; i < lines.length && kQuote.test(lines[i]); i++) q.push(lines[i].replace(kQuote, ""));
      out += "<blockquote>" + md(q.join("\n")) + "</blockquote>";
    } else if (!l.trim()) {
      i++;
    } else {
      const p = [];
      for (; i < lines.length && lines[i].trim() && !block_start(lines[i]); i++) p.push(inline(lines[i]));
      out += "<p>" + p.join("<br>") + "</p>";
    }
  }
  return out;
}

// ---- the log ---------------------------------------------------------------
function near_bottom() { const g = $("log"); return g.scrollHeight - g.scrollTop - g.clientHeight < 80; }
function add_msg(role, cls) {
  const d = document.createElement("div");
  d.className = "msg " + (cls || role);
  d.innerHTML = '<div class="role"></div><div class="body"></div>';
  d.firstChild.textContent = role;
  $("log").appendChild(d);
  $("log").scrollTop = $("log").scrollHeight;
  return d;
}
function tool_call_element(c) {
  const d = document.createElement("div"), head = document.createElement("div"), pre = document.createElement("pre");
  d.className = "tool-call";
  d.dataset.name = c.function.name;
  head.className = "tool-head";
  head.textContent = "tool call: " + c.function.name;
  let args = c.function.arguments;
  try { args = JSON.stringify(JSON.parse(args), null, 2); } catch (e) { /* shown as sent */ }
  pre.textContent = args;
  d.append(head, pre);
  return d;
}
function render(msg, text, calls) {
  const stick = near_bottom(), body = msg.querySelector(".body");
  body.innerHTML = md(text);
  for (const c of calls) if (c) body.appendChild(tool_call_element(c));
  if (stick) $("log").scrollTop = $("log").scrollHeight;
}
function show_error(text) { add_msg("error", "err").querySelector(".body").textContent = text; }

// The first call of the last assistant turn that has no tool result yet.
function pending_tool_call() {
  const answered = new Set();
  for (let i = history.length - 1; i >= 0; i--) {
    const m = history[i];
    if (m.role === "tool") { answered.add(m.tool_call_id); continue; }
    if (m.role !== "assistant" || !m.tool_calls) return null;
    return m.tool_calls.find(c => !answered.has(c.id)) || null;
  }
  return null;
}
function set_busy(busy, status) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
  document.body.dataset.state = busy ? "busy" : "ready";
  if (status !== undefined) $("status").textContent = status;
  const p = pending_tool_call();
  $("input").placeholder = p ? "Result of tool call " + p.function.name + " (sent as a tool message)" : kInputHint;
}

// ---- requests --------------------------------------------------------------
function headers() {
  const h = {"Content-Type": "application/json"};
  if ($("apikey").value) h.Authorization = "Bearer " + $("apikey").value;
  return h;
}
async function load_model() {
  try {
    const r = await fetch("/v1/models", {headers: headers()});
    const j = await r.json();
    if (!r.ok) throw new Error(r.status === 401 ? "API key needed (field below)" : (j.error && j.error.message) || "HTTP " + r.status);
    const m = j.data[0];
    $("model").textContent = "model " + m.id + (m.max_model_len ? ", context " + m.max_model_len : "");
  } catch (e) {
    $("model").textContent = String(e.message || e);
  }
}
function tools_setting() {
  const t = $("tools").value.trim();
  if (!t) return null;
  const v = JSON.parse(t);
  if (!Array.isArray(v)) throw new Error("expected a JSON array of tools");
  return v;
}
function request_body(tools) {
  const sys = $("system").value.trim() ? [{role: "system", content: $("system").value}] : [];
  const b = {messages: sys.concat(history), stream: true, stream_options: {include_usage: true}};
  for (const k of ["temperature", "top_p", "max_tokens", "seed"]) {
    const v = $(k).value.trim();
    if (v !== "") b[k] = Number(v);
  }
  // One call per turn: the next message typed answers it.
  if (tools) { b.tools = tools; b.tool_choice = $("tool_choice").value; b.parallel_tool_calls = false; }
  return b;
}

async function send() {
  const text = $("input").value.trim();
  if (!text || ctrl) return;
  let tools;
  try { tools = tools_setting(); } catch (e) { show_error("Tools: " + e.message); return; }
  $("input").value = "";
  const hist = history;  // "New chat" replaces history; a late end of this turn must not leak into it
  const pending = pending_tool_call();
  if (pending) {
    hist.push({role: "tool", tool_call_id: pending.id, content: text});
    render(add_msg("tool result: " + pending.function.name, "tool"), text, []);
  } else {
    hist.push({role: "user", content: text});
    render(add_msg("user"), text, []);
  }
  const msg = add_msg("assistant");
  msg.dataset.state = "streaming";
  let out = "", finish = "", usage = null;
  const calls = [];
  ctrl = new AbortController();
  set_busy(true, "generating...");
  try {
    const r = await fetch("/v1/chat/completions",
                          {method: "POST", headers: headers(), signal: ctrl.signal, body: JSON.stringify(request_body(tools))});
    if (!r.ok) {
      const j = await r.json().catch(() => ({}));
      const m = (j.error && j.error.message) || "HTTP " + r.status;
      throw new Error(r.status === 401 ? m + " (set the API key in the sidebar)" : m);
    }
    const rd = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const {value, done} = await rd.read();
      if (done) break;
      buf += dec.decode(value, {stream: true}).replace(/\r\n/g, "\n");
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        for (const line of ev.split("\n")) {
          if (!line.startsWith("data:")) continue;  // ": keep-alive" comments
          const d = line.slice(5).trim();
          if (d === "[DONE]") continue;
          const j = JSON.parse(d);
          if (j.error) throw new Error(j.error.message);
          if (j.usage) usage = j.usage;
          for (const c of j.choices || []) {
            const dl = c.delta || {};
            if (dl.content) out += dl.content;
            for (const t of dl.tool_calls || []) {
              const k = t.index || 0;
              calls[k] = calls[k] || {id: "", type: "function", function: {name: "", arguments: ""}};
              if (t.id) calls[k].id = t.id;
              if (t.function) {
                calls[k].function.name += t.function.name || "";
                calls[k].function.arguments += t.function.arguments || "";
              }
            }
            if (c.finish_reason) finish = c.finish_reason;
          }
        }
        render(msg, out, calls);
      }
    }
    const made = calls.filter(Boolean);
    made.forEach((c, k) => { c.id = c.id || "call_" + hist.length + "_" + k; });
    hist.push(made.length ? {role: "assistant", content: out, tool_calls: made} : {role: "assistant", content: out});
    msg.dataset.state = "done";
    set_busy(false, (finish || "done") + (usage ? ", " + usage.completion_tokens + " tokens" : ""));
  } catch (e) {
    if (e.name === "AbortError") {
      if (out) hist.push({role: "assistant", content: out});
      msg.dataset.state = "stopped";
      set_busy(false, "stopped");
    } else {
      msg.dataset.state = "error";
      show_error(String(e.message || e));
      set_busy(false, "error");
    }
  } finally {
    ctrl = null;
  }
}

$("send").onclick = send;
$("stop").onclick = () => { if (ctrl) ctrl.abort(); };
$("input").onkeydown = e => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); } };
$("clear").onclick = () => { if (ctrl) ctrl.abort(); history = []; $("log").innerHTML = ""; set_busy(false, "ready"); };
window.herdPage = {md};
set_busy(false);
load_model();
</script></body></html>
)HERDPAGE";

}  // namespace

void add_web_page(http::Router& http) {
  auto page = [](const http::Request&, http::Response& res) {
    // Inline script and style only; everything else from this origin (the data:
    // icon keeps the browser from asking for /favicon.ico, which needs the key).
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; "
                   "frame-ancestors 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(std::string(kPage, sizeof(kPage) - 1), "text/html; charset=utf-8");
  };
  http.get("/", page);
  http.get("/index.html", page);
}

}  // namespace herd::server
