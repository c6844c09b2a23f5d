#!/usr/bin/python3
"""Hostile requests against a running `herd serve` (docs/serving.md, threat model).

Usage: serve_hostile.py PORT SERVER_PID LOG_FILE [REQUEST_TIMEOUT_S]

Each probe is one that crashed, wedged or bypassed the server before (issue list in
docs/serving.md). After every probe the server must still be alive, /health must
answer within a second, and at the end a normal chat request must succeed. Raw
sockets are used where an HTTP client would not send the hostile bytes. Standard
library only. Exit 0 when every check passes; each failure prints what was expected.
"""
import http.client
import json
import os
import socket
import sys
import threading
import time

PORT = int(sys.argv[1])
PID = int(sys.argv[2])
LOG = sys.argv[3]
READ_TIMEOUT = int(sys.argv[4]) if len(sys.argv) > 4 else 3
failures = []


def _fail_on_exception(kind, value, tb):
    # A probe that cannot even get an answer (the server crashed or hung up) is a failure
    # with the reason, not a bare traceback.
    import traceback
    traceback.print_exception(kind, value, tb)
    try:
        os.kill(PID, 0)
        state = "still running"
    except OSError:
        state = "no longer running"
    print("FAIL a probe got no answer (%s: %s); the server is %s" % (kind.__name__, value, state))
    sys.exit(1)


sys.excepthook = _fail_on_exception


def check(ok, what, detail=""):
    print("%-4s %s%s" % ("ok" if ok else "FAIL", what, (": " + str(detail)) if (detail and not ok) else ""), flush=True)
    if not ok:
        failures.append(what)


def request(method, path, body=None, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    h = {"Host": "127.0.0.1:%d" % PORT}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def post_json(path, obj_or_text, timeout=30, content_type="application/json"):
    body = obj_or_text if isinstance(obj_or_text, (bytes, str)) else json.dumps(obj_or_text)
    return request("POST", path, body, {"Content-Type": content_type}, timeout)


def alive(label):
    """The process runs and /health answers within one second."""
    try:
        os.kill(PID, 0)
        running = True
    except OSError:
        running = False
    t0 = time.time()
    try:
        status, _ = request("GET", "/health", timeout=1)
    except Exception as e:  # noqa: BLE001 -- any failure is the finding
        status = repr(e)
    dt = time.time() - t0
    check(running and status == 200 and dt < 1.0, "after %s: alive, /health 200 within 1 s" % label,
          "running=%s status=%s %.2fs" % (running, status, dt))


def rss_kb():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def read_head(s, resp=b""):
    """Reads from socket s until the status line is complete or the peer closes."""
    try:
        while b"\r\n" not in resp:
            d = s.recv(4096)
            if not d:
                break
            resp += d
    except OSError:
        pass
    return resp


def chat(content, extra=None):
    b = {"messages": [{"role": "user", "content": content}], "max_tokens": 4, "temperature": 0}
    b.update(extra or {})
    return b


DEEP = "[" * 100000 + "]" * 100000

# 1. Deeply nested JSON: refused before anything recurses over it.
status, _ = post_json("/v1/chat/completions", '{"messages":[{"role":"user","content":%s}]}' % DEEP,
                      content_type="text/plain")
check(status == 415, "nested JSON as text/plain (a cross-site form post) -> 415", status)
for label, body in [
        ("message content", '{"messages":[{"role":"user","content":%s}]}' % DEEP),
        ("tool parameters", '{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function",'
                            '"function":{"name":"f","parameters":%s}}]}' % DEEP),
        ("response_format schema", '{"messages":[{"role":"user","content":"x"}],"response_format":'
                                   '{"type":"json_schema","json_schema":{"name":"s","schema":%s}}}' % DEEP),
        ("completions prompt", '{"prompt":%s}' % DEEP)]:
    path = "/v1/completions" if "prompt" in label else "/v1/chat/completions"
    status, data = post_json(path, body)
    check(status == 400 and b"deeper than" in data, "nested JSON in %s -> 400 naming the depth" % label,
          (status, data[:200]))
alive("nested JSON")

# 2. Schemas whose compilation or matching used to explode.
defs = {"l0": {"type": "integer"}}
for i in range(1, 41):
    ref = {"$ref": "#/$defs/l%d" % (i - 1)}
    defs["l%d" % i] = {"anyOf": [ref, ref]}
fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$defs": defs, "$ref": "#/$defs/l40"}}}
t0 = time.time()
status, data = post_json("/v1/chat/completions", chat("a number", {"response_format": fmt, "max_tokens": 6}),
                         timeout=120)
check(status == 200, "40 levels of anyOf [$ref, $ref] -> answered (not a wedged engine)", (status, data[:200]))
print("     (took %.1f s)" % (time.time() - t0))
enum = {"type": "json_schema", "json_schema": {"name": "e", "schema": {"enum": ["v%d" % i for i in range(100000)]}}}
status, data = post_json("/v1/chat/completions", chat("pick", {"response_format": enum}), timeout=60)
check(status == 400 and b"enum" in data, "an enum of 10^5 values -> 400 naming the limit", (status, data[:200]))
alive("hostile schemas")


# 3. Body limits that chunked or compressed bodies bypassed.
def chunked_probe(total):
    s = socket.create_connection(("127.0.0.1", PORT))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    s.settimeout(0.02)
    sent, resp = 0, b""
    piece = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
    t0 = time.time()
    while sent < total and time.time() - t0 < 30:
        try:
            s.sendall(piece)
            sent += 65536
        except OSError:
            break
        try:
            d = s.recv(4096)
            resp += d
            if resp or not d:
                break
        except socket.timeout:
            pass
    s.settimeout(5)
    resp = read_head(s, resp)
    s.close()
    return sent, resp


before = rss_kb()
sent, resp = chunked_probe(200 << 20)
status_line = resp.split(b"\r\n")[0]
# Read on past the limit (not kept) up to 16 MB for a clean 413, then closed unanswered.
check((b" 413" in status_line or status_line == b"") and sent < (48 << 20),
      "a 200 MB chunked body -> refused or closed long before its end", (status_line, sent))
check(rss_kb() - before < 64 * 1024, "... without the server's memory growing by the body",
      "%d kB" % (rss_kb() - before))
s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          b"Transfer-Encoding: chunked\r\n\r\n" + (b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n") * 96 + b"0\r\n\r\n")
resp = read_head(s)
s.close()
check(b" 413" in resp.split(b"\r\n")[0], "a 6 MB chunked body (limit 4 MiB) -> 413", resp[:60])
# Content-Length over the limit: answered from the headers alone, no body sent at all.
s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % (5 << 20))
resp = read_head(s)
s.close()
check(b" 413" in resp.split(b"\r\n")[0], "a 5 MB Content-Length -> 413 before any of the body", resp[:60])
import gzip  # noqa: E402
bomb = gzip.compress(b" " * (100 << 20))
status, _ = request("POST", "/v1/chat/completions", bomb, {"Content-Type": "application/json",
                                                           "Content-Encoding": "gzip"})
check(status == 415, "a gzip body (100 KB -> 100 MB) -> 415", status)
alive("body limits")

# 4. DNS rebinding: Host names that only look like loopback.
for host in ["127.0.0.1.evil.example", "127.0.0.1.nip.io:%d" % PORT, "[::1].evil.example", "localhost.evil.example"]:
    status, _ = request("GET", "/health", headers={"Host": host})
    check(status == 403, "Host: %s -> 403" % host, status)
for host in ["127.0.0.1:%d" % PORT, "localhost:%d" % PORT, "[::1]:%d" % PORT]:
    status, _ = request("GET", "/v1/models", headers={"Host": host})
    check(status == 200, "Host: %s -> 200" % host, status)


# 5. Many headers, refused before the server spends memory on them.
def many_headers(n):
    s = socket.create_connection(("127.0.0.1", PORT))
    s.settimeout(10)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    line = b"X-A: b\r\n" * 1000
    try:
        for _ in range(n // 1000):
            s.sendall(line)
        s.sendall(b"\r\n")
    except OSError:
        pass
    resp = read_head(s)
    s.close()
    return resp.split(b"\r\n")[0]


before = rss_kb()
line = many_headers(200000)
check(b" 431" in line or line == b"", "200,000 headers -> 431 or the connection closed", line)
check(rss_kb() - before < 16 * 1024, "... without the server's memory growing", "%d kB" % (rss_kb() - before))
status, _ = request("GET", "/health", headers={"X-%d" % i: "v" for i in range(150)})
check(status == 431, "150 headers (limit 100) -> 431", status)
alive("header floods")

# 6. Slow clients (slowloris): 200 connections sending a byte every second.
slow = []
for _ in range(200):
    try:
        c = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        slow.append(c)
    except OSError:
        pass
check(len(slow) == 200, "200 slow connections opened", len(slow))
stop_drip = threading.Event()


def drip():
    while not stop_drip.is_set():
        for c in list(slow):
            try:
                c.send(b"a")
            except OSError:
                pass
        time.sleep(1.0)


t = threading.Thread(target=drip)
t.start()
worst = 0.0
for _ in range(5):
    t0 = time.time()
    try:
        status, _ = request("GET", "/health", timeout=1)
    except Exception as e:  # noqa: BLE001
        status = repr(e)
    worst = max(worst, time.time() - t0)
    check(status == 200, "/health during 200 slow connections", status)
    time.sleep(0.3)
print("     (slowest /health %.3f s)" % worst)
# A byte every second never completes the headers: each connection is cut after the
# request deadline (a total, not a per-byte timeout).
time.sleep(READ_TIMEOUT + 2)
closed = 0
for c in slow:
    try:
        c.settimeout(0.5)
        if c.recv(1) == b"":
            closed += 1
    except (socket.timeout, BlockingIOError):
        pass
    except OSError:
        closed += 1
check(closed == len(slow), "slow connections closed by the %d s request deadline" % READ_TIMEOUT,
      "%d of %d" % (closed, len(slow)))
stop_drip.set()
t.join()
for c in slow:
    c.close()
alive("slow clients")

# 7. Log injection through a decoded %0a in the path.
request("GET", "/x%0aFORGED%20200%20line")
time.sleep(0.2)
with open(LOG, errors="replace") as f:
    lines = f.read().splitlines()
check(not any(l.startswith("FORGED") for l in lines) and any("\\x0aFORGED" in l for l in lines),
      "%0a in the path is escaped in the log")

# 8. The engine still serves.
status, data = post_json("/v1/chat/completions", chat("hello"), timeout=60)
check(status == 200 and b"choices" in data, "a normal chat request after all of the above", (status, data[:200]))
alive("everything")

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
