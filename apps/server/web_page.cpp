// GET / (and /index.html): the web chat page, one self-contained HTML file (CSS
// and JS inline, no CDN, no request to any other host, works offline) compiled
// into the binary. It is public (no API key needed to load it); the key, when
// the server has one, is typed into the page and sent as a Bearer token.
//
// What the page does, all against this server's own OpenAI routes:
//   - streams /v1/chat/completions (SSE) into the assistant bubble as it arrives, and
//     shows under each reply its time to first token, decode tokens/s and token count;
//   - keeps conversations in localStorage ("herd.conversations": OpenAI messages plus
//     per-reply stats), lists them in the sidebar (newest first; open, rename, delete);
//     "New chat" starts one, listed from its first message;
//   - per message: Copy (the raw text), Regenerate (the last reply), Edit (a user
//     message: edited in place, later messages dropped, asked again);
//   - renders markdown (fenced code with a copy button, tables with alignment,
//     headings, lists, quotes, bold, italic, strikethrough, inline code, http(s) links).
//     Everything is HTML-escaped first, so only the tags the renderer makes reach
//     innerHTML;
//   - follows the system's dark mode (prefers-color-scheme); below 700 px wide the
//     sidebar becomes a drawer behind the menu button;
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
<meta name="color-scheme" content="light dark">
<title>herd chat</title>
<link rel="icon" href="data:,">
<style>
:root{--bg:#f6f6f4;--fg:#222;--panel:#fff;--border:#ddd;--muted:#666;--user:#e8f0fe;--tool:#f3f7ee;--err-bg:#fde8e8;
--err-fg:#900;--inline:#eee;--call:#fff6ee;--quote:#555;--sel:#e9eef8;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#16171a;--fg:#e4e4e4;--panel:#1f2125;--border:#34373d;--muted:#9aa0a6;
--user:#22324b;--tool:#22301f;--err-bg:#3d1f1f;--err-fg:#ffb4b4;--inline:#2c2f34;--call:#33281f;--quote:#aaa;--sel:#2a3342}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,sans-serif;background:var(--bg);color:var(--fg);display:flex;height:100vh;height:100dvh}
#side{width:280px;flex:none;padding:12px;border-right:1px solid var(--border);background:var(--panel);overflow:auto}
#side label{display:block;font-size:12px;color:var(--muted);margin-top:10px}
#side textarea,#side input,#side select{width:100%;font:inherit;font-size:13px;padding:4px}
#model,#status{font-size:12px;color:var(--muted);overflow-wrap:anywhere}
#convs{list-style:none;margin:8px 0;padding:0}
.conv{display:flex;align-items:center;gap:2px;border-radius:6px}.conv.current{background:var(--sel)}
.conv .open{flex:1;min-width:0;text-align:left;border:0;background:none;color:inherit;padding:5px 6px;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap;cursor:pointer}
.conv input{flex:1;min-width:0}
.icon{border:0;background:none;color:var(--muted);cursor:pointer;padding:2px 5px;font-size:13px}
.icon:hover{color:var(--fg)}
details{margin-top:10px}summary{cursor:pointer;font-size:13px;color:var(--muted)}
#main{flex:1;display:flex;flex-direction:column;min-width:0}
#top{display:none;align-items:center;gap:8px;padding:6px 10px;border-bottom:1px solid var(--border);background:var(--panel)}
#log{flex:1;overflow:auto;padding:16px}
.msg{max-width:800px;margin:0 auto 12px;padding:8px 12px;border-radius:8px;background:var(--panel);
border:1px solid var(--border);overflow-wrap:anywhere}
.msg.user{background:var(--user)}.msg.tool{background:var(--tool)}.msg.err{background:var(--err-bg);color:var(--err-fg)}
.role{font-size:11px;color:var(--muted);text-transform:uppercase}
.body p{margin:.4em 0}.body h1,.body h2,.body h3,.body h4,.body h5,.body h6{margin:.5em 0 .3em;font-size:1.05em}
.body blockquote{margin:.4em 0;padding-left:10px;border-left:3px solid var(--border);color:var(--quote)}
.body table{border-collapse:collapse;margin:.5em 0;display:block;overflow-x:auto;max-width:100%}
.body th,.body td{border:1px solid var(--border);padding:3px 8px}.body th{background:var(--inline)}
.code{position:relative}.copy-code{position:absolute;top:4px;right:4px;font-size:11px;padding:1px 6px;opacity:.8}
pre{background:#272822;color:#f8f8f2;padding:8px;border-radius:6px;overflow:auto;white-space:pre}
code{font-family:ui-monospace,monospace;font-size:13px}
:not(pre)>code{background:var(--inline);padding:0 3px;border-radius:3px}
.tool-call{border-left:3px solid #a66;background:var(--call);padding:4px 8px;margin:6px 0;font-size:13px}
.tool-call .tool-head{font-weight:600}.tool-call pre{margin:4px 0 0;white-space:pre-wrap}
.foot{display:flex;flex-wrap:wrap;align-items:center;gap:4px;margin-top:2px}
.stats{font-size:11px;color:var(--muted);margin-right:auto}
.edit textarea{width:100%;font:inherit;min-height:60px}
#bar{display:flex;gap:8px;padding:10px;border-top:1px solid var(--border);background:var(--panel)}
#input{flex:1;font:inherit;padding:6px;min-height:44px;min-width:0}
button{font:inherit;padding:6px 14px}
@media (max-width:700px){
#top{display:flex}
#side{position:fixed;z-index:10;top:0;bottom:0;left:0;width:85vw;max-width:320px;transform:translateX(-105%);
transition:transform .15s;box-shadow:0 0 24px rgba(0,0,0,.3)}
body.side-open #side{transform:none}
#log{padding:8px}.msg{padding:6px 8px}#bar{padding:6px;gap:4px}button{padding:6px 10px}
}
</style></head><body>
<div id="side"><b>herd chat</b><div id="model"></div>
<p><button id="clear">New chat</button></p>
<ul id="convs" aria-label="Conversations"></ul>
<details id="settings" open><summary>Settings</summary>
<label>System prompt<textarea id="system" rows="4"></textarea></label>
<label>Temperature <input id="temperature" type="number" step="0.1" min="0" max="2" placeholder="server's"></label>
<label>Top p <input id="top_p" type="number" step="0.05" min="0" max="1" placeholder="server's"></label>
<label>Max tokens <input id="max_tokens" type="number" min="1" value="512"></label>
<label>Seed <input id="seed" type="number" placeholder="random"></label>
<label>Tools (JSON array, OpenAI format)<textarea id="tools" rows="4" spellcheck="false"
 placeholder='[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]'></textarea></label>
<label>Tool choice <select id="tool_choice"><option>auto</option><option>none</option><option>required</option></select></label>
<label>API key <input id="apikey" type="password" autocomplete="off" placeholder="(if the server needs one)"></label>
</details><div id="status" role="status">ready</div></div>
<div id="main"><div id="top"><button id="menu" class="icon" aria-label="Conversations and settings">&#9776;</button>
<b id="conv-title">herd chat</b></div>
<div id="log" aria-live="polite"></div>
<div id="bar"><textarea id="input" placeholder="Message (Enter sends, Shift+Enter: new line)"></textarea>
<button id="send">Send</button><button id="stop" disabled>Stop</button></div></div>
<script>
"use strict";
const $ = id => document.getElementById(id);
const kSettings = ["system", "temperature", "top_p", "max_tokens", "seed", "tools", "tool_choice", "apikey"];
const kInputHint = $("input").placeholder;
const kConvsKey = "herd.conversations";
let ctrl = null;   // AbortController of the generation in flight; null when ready

for (const k of kSettings) {
  const v = localStorage.getItem("herd." + k);
  if (v !== null) $(k).value = v;
  $(k).addEventListener("change", () => {
    localStorage.setItem("herd." + k, $(k).value);
    if (k === "apikey") load_model();
  });
}

// ---- conversations, kept in localStorage -------------------------------------
// Each: {id, title, updated, messages (OpenAI messages, sent as they are), stats
// (message index -> {ttft_ms, tps, tokens}, shown under replies, never sent)}.
function load_convs() {
  try {
    const v = JSON.parse(localStorage.getItem(kConvsKey) || "[]");
    return Array.isArray(v) ? v.filter(c => c && typeof c.id === "string" && Array.isArray(c.messages)) : [];
  } catch (e) { return []; }
}
let convs = load_convs();
function fresh_conv() {
  return {id: Date.now().toString(36) + Math.random().toString(36).slice(2, 8), title: "", updated: Date.now(), messages: [], stats: {}};
}
let cur = convs.find(c => c.id === localStorage.getItem("herd.current")) || fresh_conv();
function save_convs() {
  try {
    localStorage.setItem(kConvsKey, JSON.stringify(convs));
    localStorage.setItem("herd.current", cur.id);
  } catch (e) {
    $("status").textContent = "browser storage is full: delete old conversations";
  }
}
// A conversation is listed (and stored) from its first message on.
function touch(conv) {
  conv.updated = Date.now();
  if (!conv.title) {
    const first = conv.messages.find(m => m.role === "user");
    if (first) conv.title = String(first.content).replace(/\s+/g, " ").trim().slice(0, 60);
  }
  if (!convs.includes(conv)) convs.unshift(conv);
  save_convs();
  list_convs();
}
function list_convs() {
  const ul = $("convs");
  ul.textContent = "";
  for (const c of [...convs].sort((a, b) => b.updated - a.updated)) {
    const li = document.createElement("li"), open = document.createElement("button");
    li.className = "conv" + (c === cur ? " current" : "");
    li.dataset.id = c.id;
    open.className = "open";
    open.textContent = c.title || "(untitled)";
    open.title = open.textContent;
    open.onclick = () => switch_to(c);
    const ren = icon("\u270E", "Rename", () => rename(c, li, open)), del = icon("\u2715", "Delete", () => remove(c));
    ren.classList.add("rename");
    del.classList.add("delete");
    li.append(open, ren, del);
    ul.appendChild(li);
  }
  $("conv-title").textContent = cur.title || "herd chat";
}
function icon(text, label, fn) {
  const b = document.createElement("button");
  b.className = "icon";
  b.textContent = text;
  b.title = label;
  b.setAttribute("aria-label", label);
  b.onclick = fn;
  return b;
}
function rename(c, li, open) {
  const input = document.createElement("input");
  input.value = c.title;
  input.setAttribute("aria-label", "Conversation name");
  open.replaceWith(input);
  input.focus();
  input.select();
  let done = false;
  const finish = keep => {
    if (done) return;
    done = true;
    if (keep && input.value.trim()) c.title = input.value.trim().slice(0, 200);
    save_convs();
    list_convs();
  };
  input.onkeydown = e => { if (e.key === "Enter") finish(true); if (e.key === "Escape") finish(false); };
  input.onblur = () => finish(true);
}
function remove(c) {
  if (!confirm("Delete the conversation \u201c" + (c.title || "untitled") + "\u201d?")) return;
  convs = convs.filter(x => x !== c);
  if (c === cur) { stop(); cur = fresh_conv(); show_conv(); }
  save_convs();
  list_convs();
}
function switch_to(c) {
  if (c === cur) return;
  stop();
  cur = c;
  save_convs();
  show_conv();
  list_convs();
  document.body.classList.remove("side-open");
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
        .replace(/(^|[^\w*])\*(\S(?:[^*]*?\S)?)\*(?![\w*])/g, "$1<em>$2</em>")
        .replace(/(^|[^\w])_(\S(?:[^_]*?\S)?)_(?![\w])/g, "$1<em>$2</em>")
        .replace(/~~(\S(?:.*?\S)?)~~/g, "<del>$1</del>")).join("");
}
const kFence = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/, kHeading = /^(#{1,6})\s+(.*)$/, kBullet = /^\s*[-*+]\s+/,
      kNumber = /^\s*\d+[.)]\s+/, kQuote = /^\s*>\s?/, kRule = /^\s*([-*_])(\s*\1){2,}\s*$/,
      kTableSep = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
// A table (GitHub's form): a row of cells over a delimiter row (|---|:-:|--:|).
const table_at = (lines, i) => lines[i].includes("|") && i + 1 < lines.length && kTableSep.test(lines[i + 1]) &&
                               lines[i + 1].includes("-");
const block_start = (lines, i) => [kFence, kHeading, kBullet, kNumber, kQuote, kRule].some(re => re.test(lines[i])) ||
                                  table_at(lines, i);
function cells(row) {
  let r = row.trim();
  if (r.startsWith("|")) r = r.slice(1);
  if (r.endsWith("|") && !r.endsWith("\\|")) r = r.slice(0, -1);
  return r.split(/(?<!\\)\|/).map(c => c.trim().replace(/\\\|/g, "|"));
}
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
      out += '<div class="code"><button class="copy-code" type="button">Copy</button><pre><code' +
             (m[2] ? ' class="lang-' + esc(m[2]) + '"' : "") + ">" + esc(body.join("\n")) + "</code></pre></div>";
    } else if (table_at(lines, i)) {
      const head = cells(l), align = cells(lines[i + 1]).map(c =>
        c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : c.startsWith(":") ? "left" : "");
      const td = (tag, c, k) => "<" + tag + (align[k] ? ' style="text-align:' + align[k] + '"' : "") + ">" + inline(c) + "</" + tag + ">";
      out += "<table><thead><tr>" + head.map((c, k) => td("th", c, k)).join("") + "</tr></thead><tbody>";
      for (i += 2; i < lines.length && lines[i].includes("|") && lines[i].trim(); i++) {
        const row = cells(lines[i]);
        out += "<tr>" + head.map((_, k) => td("td", row[k] || "", k)).join("") + "</tr>";
      }
      out += "</tbody></table>";
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
      for (; i < lines.length && lines[i].trim() && !block_start(lines, i); i++) p.push(inline(lines[i]));
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
  d.innerHTML = '<div class="role"></div><div class="body"></div><div class="foot"></div>';
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
  body.innerHTML = md(text || "");
  for (const c of calls) if (c) body.appendChild(tool_call_element(c));
  if (stick) $("log").scrollTop = $("log").scrollHeight;
}
function show_error(text) { add_msg("error", "err").querySelector(".body").textContent = text; }
function stats_text(s) {
  const parts = [];
  if (s.ttft_ms !== undefined) parts.push("TTFT " + Math.round(s.ttft_ms) + " ms");
  if (s.tps !== undefined) parts.push(s.tps.toFixed(1) + " tok/s");
  if (s.tokens !== undefined) parts.push(s.tokens + " tokens");
  return parts.join(" \u00b7 ");
}
// The footer of message i of the current conversation: stats, Copy, and Regenerate
// (the last reply) or Edit (a user message).
function set_foot(msg, i) {
  const m = cur.messages[i], foot = msg.querySelector(".foot");
  msg.dataset.index = i;
  foot.textContent = "";
  const st = document.createElement("span");
  st.className = "stats";
  st.textContent = cur.stats[i] ? stats_text(cur.stats[i]) : "";
  foot.appendChild(st);
  const copy = icon("Copy", "Copy", () => copy_text(m.content || "", copy));
  copy.classList.add("copy");
  foot.appendChild(copy);
  if (m.role === "assistant" && i === cur.messages.length - 1) {
    const re = icon("Regenerate", "Regenerate", regenerate);
    re.classList.add("regenerate");
    foot.appendChild(re);
  }
  if (m.role === "user") {
    const ed = icon("Edit", "Edit and resend", () => edit(msg, i));
    ed.classList.add("edit-btn");
    foot.appendChild(ed);
  }
}
function tool_name(i) {
  const id = cur.messages[i].tool_call_id;
  for (const m of cur.messages) for (const c of m.tool_calls || []) if (c.id === id) return c.function.name;
  return "tool";
}
function show_message(i) {
  const m = cur.messages[i];
  const msg = m.role === "tool" ? add_msg("tool result: " + tool_name(i), "tool") : add_msg(m.role);
  if (m.role === "assistant") msg.dataset.state = "done";
  render(msg, m.content, m.tool_calls || []);
  set_foot(msg, i);
  return msg;
}
function show_conv() {
  $("log").textContent = "";
  cur.messages.forEach((_, i) => show_message(i));
  set_busy(!!ctrl, ctrl ? undefined : "ready");
}
async function copy_text(text, button) {
  try {
    if (navigator.clipboard && window.isSecureContext) await navigator.clipboard.writeText(text);
    else {  // plain http on another host: the old way
      const t = document.createElement("textarea");
      t.value = text;
      document.body.appendChild(t);
      t.select();
      document.execCommand("copy");
      t.remove();
    }
    const was = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = was; }, 1200);
  } catch (e) {
    $("status").textContent = "copy failed: " + (e.message || e);
  }
}
$("log").addEventListener("click", e => {
  const b = e.target.closest(".copy-code");
  if (b) copy_text(b.parentElement.querySelector("code").textContent, b);
});

// The first call of the last assistant turn that has no tool result yet.
function pending_tool_call() {
  const answered = new Set(), history = cur.messages;
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
  for (const b of document.querySelectorAll(".regenerate,.edit-btn")) b.disabled = busy;
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
function request_body(messages, tools) {
  const sys = $("system").value.trim() ? [{role: "system", content: $("system").value}] : [];
  const b = {messages: sys.concat(messages), stream: true, stream_options: {include_usage: true}};
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
  const pending = pending_tool_call();
  cur.messages.push(pending ? {role: "tool", tool_call_id: pending.id, content: text} : {role: "user", content: text});
  show_message(cur.messages.length - 1);
  touch(cur);
  await generate(tools);
}
// Asks for the next assistant message of the current conversation and streams it in.
async function generate(tools) {
  if (tools === undefined) {
    try { tools = tools_setting(); } catch (e) { show_error("Tools: " + e.message); return; }
  }
  const conv = cur;  // switching or starting a chat must not receive this turn's end
  const msg = add_msg("assistant");
  msg.dataset.state = "streaming";
  let out = "", finish = "", usage = null, t_first = 0;
  const calls = [], t0 = performance.now();
  ctrl = new AbortController();
  set_busy(true, "generating...");
  const keep = (m, stats) => {
    conv.messages.push(m);
    if (stats) conv.stats[conv.messages.length - 1] = stats;
    touch(conv);
    if (conv === cur) set_foot(msg, conv.messages.length - 1);
  };
  try {
    const r = await fetch("/v1/chat/completions", {method: "POST", headers: headers(), signal: ctrl.signal,
                                                   body: JSON.stringify(request_body(conv.messages, tools))});
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
            if ((dl.content || dl.tool_calls) && !t_first) t_first = performance.now();
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
    made.forEach((c, k) => { c.id = c.id || "call_" + conv.messages.length + "_" + k; });
    // Decode speed over the tokens after the first, as llama.cpp's page reports it.
    const t_end = performance.now(), stats = {};
    if (t_first) stats.ttft_ms = t_first - t0;
    if (usage) {
      stats.tokens = usage.completion_tokens;
      if (t_first && usage.completion_tokens > 1 && t_end > t_first)
        stats.tps = (usage.completion_tokens - 1) / ((t_end - t_first) / 1000);
    }
    msg.dataset.state = "done";
    keep(made.length ? {role: "assistant", content: out, tool_calls: made} : {role: "assistant", content: out}, stats);
    set_busy(false, (finish || "done") + (usage ? ", " + usage.completion_tokens + " tokens" : ""));
  } catch (e) {
    if (e.name === "AbortError") {
      msg.dataset.state = "stopped";
      if (out) keep({role: "assistant", content: out}, t_first ? {ttft_ms: t_first - t0} : null);
      set_busy(false, "stopped");
    } else {
      // Nothing was answered: the message goes back into the input box (nothing is
      // lost) and out of the conversation, so fixing the cause and sending again works.
      msg.dataset.state = "error";
      const last = conv.messages[conv.messages.length - 1];
      if (last && last.role !== "assistant") {
        conv.messages.pop();
        if (conv === cur && !$("input").value) $("input").value = last.content;
        if (!conv.messages.length) convs = convs.filter(x => x !== conv);
        save_convs();
        list_convs();
      }
      if (conv === cur) show_conv();
      show_error(String(e.message || e));
      set_busy(false, "error");
    }
  } finally {
    ctrl = null;
    set_busy(false);
  }
}
function stop() { if (ctrl) ctrl.abort(); }
// Replaces the last reply with a new one for the same messages.
async function regenerate() {
  if (ctrl || !cur.messages.length || cur.messages[cur.messages.length - 1].role !== "assistant") return;
  const last = cur.messages.length - 1;
  cur.messages.pop();
  delete cur.stats[last];
  touch(cur);
  show_conv();
  await generate();
}
// Edits user message i in place; "Send" drops everything after it and asks again.
function edit(msg, i) {
  if (ctrl) return;
  const body = msg.querySelector(".body"), foot = msg.querySelector(".foot");
  const box = document.createElement("div"), t = document.createElement("textarea");
  box.className = "edit";
  t.value = cur.messages[i].content;
  const save = icon("Send", "Send the edited message", async () => {
    const text = t.value.trim();
    if (!text || ctrl) return;
    cur.messages = cur.messages.slice(0, i).concat([{role: "user", content: text}]);
    for (const k of Object.keys(cur.stats)) if (Number(k) >= i) delete cur.stats[k];
    touch(cur);
    show_conv();
    await generate();
  });
  save.classList.add("edit-send");
  const cancel = icon("Cancel", "Cancel the edit", () => show_conv());
  box.append(t, save, cancel);
  body.replaceWith(box);
  foot.textContent = "";
  t.focus();
}

$("send").onclick = send;
$("stop").onclick = stop;
$("menu").onclick = () => document.body.classList.toggle("side-open");
$("input").onkeydown = e => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); } };
$("clear").onclick = () => {
  stop();
  cur = fresh_conv();
  show_conv();
  list_convs();
  document.body.classList.remove("side-open");
};
window.herdPage = {md};
list_convs();
show_conv();
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
