#!/usr/bin/python3
"""Drives `herd chat` through a pseudo-terminal (stdlib only) for test_chat.sh.

usage: chat_pty_driver.py HERD MODEL TMPDIR
Prints "ok   NAME" / "FAIL NAME" lines; exits 1 if any check failed.
"""
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time

HERD, MODEL, TMP = sys.argv[1:4]
DATE = "26 July 2024"
fails = 0


def check(name, cond, detail=""):
    global fails
    if cond:
        print("ok   " + name)
    else:
        fails += 1
        print("FAIL " + name + (("\n" + detail) if detail else ""))
    sys.stdout.flush()


# The input history goes to TMP, never to the user's home; colors only where a check asks.
os.environ["XDG_STATE_HOME"] = os.path.join(TMP, "state")
os.environ.pop("HERD_HISTORY", None)
HISTORY = os.path.join(TMP, "state", "herd", "chat_history")


class Chat:
    def __init__(self, *args, color=False):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            if not color:
                os.environ["NO_COLOR"] = "1"
            os.execv(HERD, [HERD, "chat", "-m", MODEL, "--date", DATE, "--seed", "1", "-t", "2", "-v"] + list(args))
        self.buf = ""
        self.pos = 0  # expect() searches from here
        self.status = None

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        if not data:
            raise EOFError
        self.buf += data.decode("utf-8", "replace")
        return True

    def at_prompt(self, data):
        """Sends keys to the line editor once it reads (Ctrl-D sent in the kernel's
        canonical mode would be taken as the end of a read nobody is making)."""
        self.editing()
        self.raw(data)

    def expect(self, pattern, timeout=60):
        """Waits for regex pattern after the cursor; returns the match (None on timeout/EOF)."""
        rx = re.compile(pattern, re.S)
        end = time.time() + timeout
        while True:
            m = rx.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = end - time.time()
            if left <= 0:
                return None
            try:
                self._read(min(left, 0.5))
            except EOFError:
                return rx.search(self.buf, self.pos)

    def prompt(self, timeout=60):
        return self.expect(r"\n> $|^> $|\n> (?=\S)", timeout) is not None or self.buf.endswith("> ")

    def send(self, text):
        os.write(self.fd, text.encode() + b"\n")

    def raw(self, data):
        os.write(self.fd, data)

    def editing(self, timeout=20):
        """Waits until libedit holds the terminal (raw mode): keys such as Ctrl-R or
        Backspace sent earlier would meet the kernel's line discipline instead."""
        end = time.time() + timeout
        while time.time() < end:
            if not termios.tcgetattr(self.fd)[3] & termios.ICANON:
                return True
            time.sleep(0.02)
        return False

    def wait(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = st
                return os.waitstatus_to_exitcode(st)
            try:
                self._read(0.2)
            except EOFError:
                pass
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None

    def tail(self):
        return self.buf[-1500:]


def n_ids(messages, *flags):
    path = os.path.join(TMP, "ids.json")
    with open(path, "w") as f:
        json.dump(messages, f)
    out = subprocess.run([HERD, "template", "-m", MODEL, "--ids", "--date", DATE, "--messages", path] + list(flags),
                         check=True, capture_output=True, text=True).stdout
    return len(out.split())


def prefill(c):
    m = c.expect(r"\[prefill (\d+) tokens")
    return int(m.group(1)) if m else -1


def turn_ids(text):  # the ids of one new user turn with the generation prompt, no BOS
    return n_ids([{"role": "user", "content": text}], "--no-preamble") - 1


# 1. Multi-turn: the first turn prefills the whole prompt, later ones only their own turn.
c = Chat("-n", "8")
check("prompt shown", c.prompt())
c.send("hello there")
n1 = prefill(c)
check("turn 1 prefills the rendered prompt (%d)" % n1, n1 == n_ids([{"role": "user", "content": "hello there"}]))
check("turn 1 reply", c.expect(r"\[generated \d+ tokens") is not None and c.prompt(), c.tail())
c.send("and what comes next?")
n2 = prefill(c)
check("turn 2 prefills only the new turn (%d == %d)" % (n2, turn_ids("and what comes next?")),
      n2 == turn_ids("and what comes next?"), c.tail())
c.expect(r"\[generated \d+ tokens")
c.prompt()

# 2. /save, /load, /save: the same JSON; the load prefills the conversation; a turn after
#    it prefills only itself.
a, b = os.path.join(TMP, "a.json"), os.path.join(TMP, "b.json")
c.send("/save " + a)
check("/save", c.expect(r"\[saved 4 messages") is not None, c.tail())
c.prompt()
c.send("/load " + a)
nl = prefill(c)
check("/load reports loaded", c.expect(r"\[loaded; context") is not None, c.tail())
c.prompt()
c.send("/save " + b)
c.expect(r"\[saved")
c.prompt()
saved = json.load(open(a))
check("/save then /load reproduces the conversation JSON", open(a).read() == open(b).read())
check("saved conversation has the turns",
      [m["role"] for m in saved] == ["user", "assistant", "user", "assistant"]
      and saved[0]["content"] == "hello there" and saved[2]["content"] == "and what comes next?", json.dumps(saved))
check("/load prefills the whole conversation (%d)" % nl, nl == n_ids(saved, "--no-generation-prompt"))
c.send("third")
n3 = prefill(c)
check("turn after /load prefills only itself", n3 == turn_ids("third"), c.tail())
c.expect(r"\[generated")
c.prompt()

# 3. /reset: a fresh conversation prefills the full prompt again.
c.send("/reset")
check("/reset", c.expect(r"\[new conversation\]") is not None)
c.prompt()
c.send("hello there")
check("after /reset the first turn prefills everything", prefill(c) == n1, c.tail())
c.expect(r"\[generated")
c.prompt()
c.send("/help")
check("/help", c.expect(r"/system TEXT") is not None)
c.prompt()
c.at_prompt(b"\x04")  # Ctrl-D at the prompt
check("Ctrl-D exits with status 0", c.wait() == 0)

# 4. Ctrl-C stops a long generation, the program keeps working; two at the prompt exit.
c = Chat("-n", "100000", "--ignore-eos")
c.prompt()
c.send("tell me a long story")
prefill(c)
time.sleep(1.5)
c.raw(b"\x03")
check("Ctrl-C stops the generation", c.expect(r"\[interrupted\]", 20) is not None, c.tail())
check("back at the prompt", c.prompt(20))
c.send("/save " + os.path.join(TMP, "c.json"))
check("still works after Ctrl-C", c.expect(r"\[saved 2 messages") is not None, c.tail())
c.prompt()
c.send("again")
n = prefill(c)
check("the interrupted reply stays in the cache (next turn prefills %d)" % n, n == turn_ids("again"))
time.sleep(0.5)
c.raw(b"\x03")
c.expect(r"\[interrupted\]", 20)
c.prompt()
c.raw(b"\x03")
check("Ctrl-C at the prompt warns", c.expect(r"Ctrl-C again", 10) is not None, c.tail())
c.raw(b"\x03")
check("second Ctrl-C at the prompt exits", c.wait() == 0, c.tail())

# 5. A full context says so and what to do; the program goes on.
c = Chat("-c", "48", "-n", "100", "--ignore-eos")
c.prompt()
c.send("hello there")
check("context full during a reply", c.expect(r"\[context full: .*/reset.*-c", 30) is not None, c.tail())
c.prompt()
c.send("more please")
check("context full before a turn", c.expect(r"\[context full", 30) is not None, c.tail())
c.prompt()
c.send("/reset")
c.expect(r"\[new conversation\]")
c.prompt()
c.send("hi")
check("after /reset the chat works again", prefill(c) > 0, c.tail())
c.expect(r"\[generated|\[context full")
c.prompt()
c.send("/quit")
check("/quit exits with status 0", c.wait() == 0)


# 6. Tool calls: shown, never executed without --allow-tools; sandboxed with it.
def tool_conv(path, code):
    json.dump([{"role": "user", "content": "run it"},
               {"role": "assistant", "content": None,
                "tool_calls": [{"id": "call_0", "type": "function",
                                "function": {"name": "code_interpreter", "arguments": {"code": code}}}]}],
              open(path, "w"))


marker = os.path.join(TMP, "executed")
t_exec = os.path.join(TMP, "t_exec.json")
tool_conv(t_exec, "open(%r, 'w').write('x')\nprint('sandbox says', 6 * 7)" % marker)
c = Chat("-n", "4")
c.prompt()
c.send("/load " + t_exec)
check("tool call not executed without --allow-tools", c.expect(r"\[not executed: .*--allow-tools") is not None,
      c.tail())
c.expect(r"\[loaded")
c.prompt()
c.send("/quit")
c.wait()
check("no code ran without --allow-tools", not os.path.exists(marker))

t_run, t_fs = os.path.join(TMP, "t_run.json"), os.path.join(TMP, "t_fs.json")
tool_conv(t_run, "open('local.txt', 'w').write('ok')\nprint('sandbox says', 6 * 7)")
outside = os.path.join(TMP, "outside")
tool_conv(t_fs, "open(%r, 'w').write('x')\nprint('wrote outside')" % outside)
t_loop, t_net = os.path.join(TMP, "t_loop.json"), os.path.join(TMP, "t_net.json")
tool_conv(t_loop, "while True:\n    pass")
tool_conv(t_net, "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)\nprint('connected')")
c = Chat("-n", "4", "--allow-tools", "--tool-cpu", "2")
c.prompt()
c.send("/load " + t_run)
check("--allow-tools runs the code, output shown as ipython",
      c.expect(r"\[ipython\]\s*sandbox says 42") is not None, c.tail())
check("generation continues after the tool result", c.expect(r"\[generated") is not None, c.tail())
c.prompt()
c.send("/save " + os.path.join(TMP, "tool.json"))
c.expect(r"\[saved")
c.prompt()
roles = [m["role"] for m in json.load(open(os.path.join(TMP, "tool.json")))]
check("tool result is an ipython message", roles[:4] == ["user", "assistant", "ipython", "assistant"], str(roles))
c.send("/load " + t_loop)
check("an endless loop is killed by the CPU limit", c.expect(r"\[killed: CPU time limit\]", 30) is not None,
      c.tail())
c.expect(r"\[loaded")
c.prompt()
if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0 or \
        subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
    c.send("/load " + t_net)
    m = c.expect(r"\[ipython\](.*?)\[(exit status|loaded|generated)", 30)
    check("no network in the sandbox", m is not None and "connected" not in m.group(1)
          and re.search(r"OSError|unreachable|Errno", m.group(1)) is not None, c.tail())
else:
    c.send("/load " + t_net)
    check("no network isolation: refuses to run", c.expect(r"refuses to run", 30) is not None, c.tail())
c.prompt()
if subprocess.run(["bwrap", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink",
                   "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--unshare-all", "--",
                   "/usr/bin/true"], capture_output=True).returncode == 0:
    c.send("/load " + t_fs)
    c.expect(r"\[loaded", 30)
    check("the sandbox cannot write outside its directory", not os.path.exists(outside), c.tail())
    c.prompt()
c.send("/quit")
check("tool session exits", c.wait() == 0)



# 7. Line editing (libedit), history across sessions, multi-line turns, paste, -p, color.
def saved_users(c, name):
    path = os.path.join(TMP, name)
    c.send("/save " + path)
    c.expect(r"\[saved")
    c.prompt()
    return [m["content"] for m in json.load(open(path)) if m["role"] == "user"]


def turn(c, data):
    """Types data (bytes, already holding its Enter) and waits for the reply to end."""
    c.editing()
    c.raw(data)
    c.expect(r"\[generated")
    c.prompt()


if os.path.exists(HISTORY):
    os.remove(HISTORY)
c = Chat("-n", "2", "-p", "first words")
check("-p sends a first turn", c.expect(r"\[generated") is not None and c.prompt(), c.tail())
turn(c, b"hx\x7fi there\x01>\n")             # Backspace, Ctrl-A (home), insert
turn(c, b"one\x1b[D\x1b[DX\x05!\n")          # Left arrows, insert, Ctrl-E (end)
c.editing()
c.raw(b"draft to drop")
time.sleep(0.3)
c.raw(b"\x03")                                  # Ctrl-C while typing drops the line
check("Ctrl-C drops a line being typed", c.expect(r"Ctrl-C again") is not None and c.prompt(), c.tail())
turn(c, "héllo ✓ 日本\n".encode())
turn(c, b"\x1b[A\x1b[A\n")                      # Up twice: the turn before the last (-p is not history)
c.raw(b"pasted 1\npasted 2\npasted 3\n")          # a paste arrives in one burst
c.expect(r"\[generated")
c.prompt()
for line in [b'"""block start\n', b"  middle /not a command\n", b'block end"""\n']:
    c.raw(line)
    time.sleep(0.2)                              # typed, not pasted
c.expect(r"\[generated")
c.prompt()
c.raw(b"cont one\\\n")
time.sleep(0.2)
check("a \\ line shows the continuation prompt", c.expect(r"\.\.\. ") is not None, c.tail())
turn(c, b"cont two\n")
users = saved_users(c, "edit.json")
want = ["first words", ">hi there", "oXne!", "héllo ✓ 日本", "oXne!", "pasted 1\npasted 2\npasted 3",
        "block start\n  middle /not a command\nblock end", "cont one\ncont two"]
check("edited, recalled and multi-line turns arrive as typed", users == want, json.dumps(users, ensure_ascii=False))
c.at_prompt(b"\x04")
check("Ctrl-D exits after line editing", c.wait() == 0, c.tail())
st = os.stat(HISTORY) if os.path.exists(HISTORY) else None
check("the history file is private (0600)", st is not None and (st.st_mode & 0o777) == 0o600)

# The next session recalls the last one's turns (Up), and Ctrl-R searches them.
c = Chat("-n", "2")
c.prompt()
turn(c, b"\x1b[A\x1b[A\n")                      # Up twice: past the /save, to the multi-line turn
turn(c, b"\x12Xne\n")                            # Ctrl-R, incremental search
users = saved_users(c, "recall.json")
check("history is kept across sessions (Up, Ctrl-R)", users == ["cont one\ncont two", "oXne!"],
      json.dumps(users, ensure_ascii=False))
c.send("/quit")
c.wait()
c = Chat("-n", "2", "--no-history")
c.prompt()
c.editing()
c.raw(b"\x1b[A\n")                                # nothing to recall: an empty line is no turn
mark = c.pos
check("--no-history: Up recalls nothing, and an empty line is no turn",
      c.prompt(20) and "[generated" not in c.buf[mark:], c.tail())
c.send("private words")
c.expect(r"\[generated")
c.prompt()
c.send("/quit")
c.wait()
check("--no-history neither reads nor writes the file", "private words" not in open(HISTORY, encoding="utf-8").read())

c = Chat("-n", "2", color=True)
check("colors by default on a terminal: a green prompt", c.expect(r"\x1b\[1;32m> ") is not None, c.tail())
c.send("/reset")
check("notes in color", c.expect(r"\x1b\[33m\[new conversation\]\x1b\[0m") is not None, c.tail())
c.send("/quit")
c.wait()

sys.exit(1 if fails else 0)
