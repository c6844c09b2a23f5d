#!/usr/bin/env python3
"""herd serve's graceful stop (test_serve_hostile.sh): two long streams (OpenAI SSE
and Ollama NDJSON) are running when SIGTERM arrives; the listening socket closes at
once, a request on an open keep-alive connection gets 503, and after
--shutdown-timeout both streams end whole (a finish_reason chunk and [DONE]; a
"done": true record) before the process exits.

Usage: serve_shutdown.py PORT PID"""
import http.client
import json
import os
import signal
import socket
import sys
import time

port, pid = int(sys.argv[1]), int(sys.argv[2])
failures = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else ": " + str(detail)[:400]))
    if not cond:
        failures.append(what)


def start(path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    first = r.readline()  # the first event/record: the stream is running
    return c, r, first


msgs = [{"role": "user", "content": "Go on"}]
sse_conn, sse, sse_first = start("/v1/chat/completions", {"messages": msgs, "stream": True, "max_tokens": 8000})
nd_conn, nd, nd_first = start("/api/chat", {"model": "m", "messages": msgs, "options": {"num_predict": 100000}})
check(sse.status == 200 and sse_first.startswith(b"data: "), "an SSE stream is running", sse_first)
check(nd.status == 200 and json.loads(nd_first).get("done") is False, "an NDJSON stream is running", nd_first)
# A keep-alive connection opened before the signal.
idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
idle.request("GET", "/health")
check(idle.getresponse().read() != b"", "a keep-alive connection is open")

t0 = time.time()
os.kill(pid, signal.SIGTERM)
time.sleep(0.5)
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    check(False, "no new connections after SIGTERM")
except OSError:
    check(True, "no new connections after SIGTERM")
try:
    idle.request("POST", "/v1/chat/completions", json.dumps({"messages": msgs}), {"Content-Type": "application/json"})
    r = idle.getresponse()
    body = json.loads(r.read())
    check(r.status == 503 and body["error"]["code"] == "shutting_down", "a new request on an open connection: 503", body)
except OSError as e:
    check(False, "a new request on an open connection: 503", e)

rest = sse.read().decode()
events = [l[6:] for l in rest.splitlines() if l.startswith("data: ")]
finishes = [json.loads(e)["choices"][0]["finish_reason"] for e in events[:-1] if e != "[DONE]" and json.loads(e)["choices"]]
check(events and events[-1] == "[DONE]" and any(f is not None for f in finishes), "the SSE stream ended whole: finish_reason and [DONE]", events[-3:])
lines = [json.loads(l) for l in nd.read().decode().splitlines() if l.strip()]
check(lines and lines[-1].get("done") is True and "eval_count" in lines[-1], "the NDJSON stream ended with its done record", lines[-1:])
elapsed = time.time() - t0
check(elapsed < 8, "the streams ended after the grace period, not at their token budget (%.1f s)" % elapsed, elapsed)
for _ in range(100):
    try:
        os.kill(pid, 0)
    except OSError:
        break
    if open("/proc/%d/stat" % pid).read().split()[2] == "Z":
        break
    time.sleep(0.1)
else:
    check(False, "the server exited")
print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
