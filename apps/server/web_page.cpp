// GET /: the web chat page, one self-contained HTML file (CSS and JS inline,
// no CDN, works offline) compiled into the binary.
#include "routes.h"

namespace herd::server {
namespace {

constexpr const char kPage[] = R"HERDPAGE(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>herd chat</title>
<style>
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,sans-serif;background:#f6f6f4;color:#222;display:flex;height:100vh}
#side{width:260px;padding:12px;border-right:1px solid #ddd;background:#fff;overflow:auto}
#side label{display:block;font-size:12px;color:#555;margin-top:10px}
#side textarea,#side input{width:100%;font:inherit;font-size:13px;padding:4px}
#main{flex:1;display:flex;flex-direction:column;min-width:0}
#log{flex:1;overflow:auto;padding:16px}
.msg{max-width:800px;margin:0 auto 12px;padding:8px 12px;border-radius:8px;background:#fff;border:1px solid #e2e2e2;overflow-wrap:anywhere}
.user{background:#e8f0fe}.err{background:#fde8e8;color:#900}
.role{font-size:11px;color:#888;text-transform:uppercase}
pre{background:#272822;color:#f8f8f2;padding:8px;border-radius:6px;overflow:auto}code{font-family:ui-monospace,monospace;font-size:13px}
p code{background:#eee;padding:0 3px;border-radius:3px}
.tool{border-left:3px solid #a66;background:#fff6ee;padding:4px 8px;margin:6px 0;font-size:13px}
#bar{display:flex;gap:8px;padding:10px;border-top:1px solid #ddd;background:#fff}
#input{flex:1;font:inherit;padding:6px;min-height:44px}
button{font:inherit;padding:6px 14px}
</style></head><body>
<div id="side"><b>herd chat</b>
<label>System prompt<textarea id="system" rows="4"></textarea></label>
<label>Temperature <input id="temperature" type="number" step="0.1" min="0" max="2" value="0.7"></label>
<label>Top p <input id="top_p" type="number" step="0.05" min="0" max="1" value="0.9"></label>
<label>Max tokens <input id="max_tokens" type="number" min="1" value="512"></label>
<label>API key <input id="apikey" type="password" placeholder="(if the server needs one)"></label>
<p><button id="clear">New chat</button></p><div id="status" style="font-size:12px;color:#666"></div></div>
<div id="main"><div id="log"></div>
<div id="bar"><textarea id="input" placeholder="Message (Enter sends, Shift+Enter: new line)"></textarea>
<button id="send">Send</button><button id="stop" disabled>Stop</button></div></div>
<script>
"use strict";
const $=id=>document.getElementById(id);
let history=[],ctrl=null;
for(const k of ["system","temperature","top_p","max_tokens","apikey"]){const v=localStorage.getItem("herd."+k);if(v!==null)$(k).value=v;$(k).onchange=()=>localStorage.setItem("herd."+k,$(k).value);}
function esc(s){return s.replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));}
function inline(s){return esc(s).replace(/`([^`]+)`/g,"<code>$1</code>").replace(/\*\*([^*]+)\*\*/g,"<b>$1</b>").replace(/(^|\W)\*([^*\n]+)\*/g,"$1<i>$2</i>");}
function md(text){const parts=text.split("```");let out="";
 parts.forEach((p,i)=>{if(i%2){const nl=p.indexOf("\n");const body=nl>=0?p.slice(nl+1):p;out+="<pre><code>"+esc(body)+"</code></pre>";}
 else{for(const para of p.split(/\n{2,}/)){if(!para.trim())continue;const lines=para.split("\n");
  if(lines.every(l=>/^\s*([-*]|\d+\.)\s/.test(l)))out+="<ul>"+lines.map(l=>"<li>"+inline(l.replace(/^\s*([-*]|\d+\.)\s/,""))+"</li>").join("")+"</ul>";
  else if(/^#{1,6}\s/.test(para))out+="<p><b>"+inline(para.replace(/^#+\s/,""))+"</b></p>";
  else out+="<p>"+lines.map(inline).join("<br>")+"</p>";}}});return out;}
function add(role,cls){const d=document.createElement("div");d.className="msg "+(cls||role);d.innerHTML='<div class="role">'+role+'</div><div class="body"></div>';$("log").appendChild(d);$("log").scrollTop=1e9;return d.querySelector(".body");}
function render(el,text,calls){el.innerHTML=md(text)+calls.map(c=>'<div class="tool">tool call <b>'+esc(c.name||"")+"</b> "+esc(c.arguments||"")+"</div>").join("");$("log").scrollTop=1e9;}
async function send(){const text=$("input").value.trim();if(!text||ctrl)return;$("input").value="";
 history.push({role:"user",content:text});render(add("user"),text,[]);
 const el=add("assistant");let out="",calls=[];ctrl=new AbortController();$("stop").disabled=false;$("send").disabled=true;$("status").textContent="generating...";
 const msgs=($("system").value.trim()?[{role:"system",content:$("system").value}]:[]).concat(history);
 const headers={"Content-Type":"application/json"};if($("apikey").value)headers.Authorization="Bearer "+$("apikey").value;
 let finish="";
 try{const r=await fetch("/v1/chat/completions",{method:"POST",headers,signal:ctrl.signal,body:JSON.stringify({messages:msgs,stream:true,
   temperature:+$("temperature").value,top_p:+$("top_p").value,max_tokens:+$("max_tokens").value,stream_options:{include_usage:true}})});
  if(!r.ok){const j=await r.json().catch(()=>({}));throw new Error((j.error&&j.error.message)||("HTTP "+r.status));}
  const rd=r.body.getReader(),dec=new TextDecoder();let buf="";
  for(;;){const {value,done}=await rd.read();if(done)break;buf+=dec.decode(value,{stream:true});let i;
   while((i=buf.indexOf("\n\n"))>=0){const ev=buf.slice(0,i);buf=buf.slice(i+2);
    for(const line of ev.split("\n")){if(!line.startsWith("data: "))continue;const d=line.slice(6);if(d==="[DONE]")continue;
     const j=JSON.parse(d);if(j.error)throw new Error(j.error.message);
     if(j.usage)$("status").textContent=j.usage.completion_tokens+" tokens";
     for(const c of j.choices||[]){const dl=c.delta||{};if(dl.content)out+=dl.content;
      for(const t of dl.tool_calls||[]){calls[t.index]=calls[t.index]||{name:"",arguments:""};if(t.function){calls[t.index].name+=t.function.name||"";calls[t.index].arguments+=t.function.arguments||"";}}
      if(c.finish_reason)finish=c.finish_reason;}
     render(el,out,calls);}}}
  history.push(calls.length?{role:"assistant",content:out,tool_calls:calls.map((c,k)=>({id:"call_"+k,type:"function",function:c}))}:{role:"assistant",content:out});
  if(!$("status").textContent.includes("tokens"))$("status").textContent=finish;
 }catch(e){if(e.name==="AbortError"){$("status").textContent="stopped";history.push({role:"assistant",content:out});}
  else{add("error","err").textContent=String(e.message||e);$("status").textContent="error";}}
 el.parentNode.dataset.done="1";ctrl=null;$("stop").disabled=true;$("send").disabled=false;}
$("send").onclick=send;$("stop").onclick=()=>ctrl&&ctrl.abort();
$("input").onkeydown=e=>{if(e.key==="Enter"&&!e.shiftKey){e.preventDefault();send();}};
$("clear").onclick=()=>{history=[];$("log").innerHTML="";};
</script></body></html>
)HERDPAGE";

}  // namespace

void add_web_page(httplib::Server& http) {
  auto page = [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(kPage, sizeof(kPage) - 1, "text/html; charset=utf-8");
  };
  http.Get("/", page);
  http.Get("/index.html", page);
}

}  // namespace herd::server
