// See sandbox.h.
#include "sandbox.h"

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace herd::cli {
namespace {

// An executable named `name` on PATH (or `preferred` when it exists), "" if none.
std::string find_program(const char* preferred, const char* name) {
  if (preferred && access(preferred, X_OK) == 0) return preferred;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string cand = p.substr(start, end - start) + "/" + name;
    if (end > start && access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return "";
}

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}

void remove_tree(const std::string& dir) { nftw(dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

void set_limit(int resource, rlim_t soft, rlim_t hard) {
  struct rlimit rl{soft, hard};
  setrlimit(resource, &rl);
}

// Runs argv with /dev/null for all streams; true when it exits 0.
bool runs_ok(const std::vector<std::string>& args) {
  std::vector<char*> av;  // made before fork: the child of a threaded process must not allocate
  for (const auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
    }
    execv(av[0], av.data());
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

// The unshare invocation that gives a process an empty network namespace: {unshare,
// -n} as root, {unshare, -rn} otherwise; empty when neither works here. Probed once.
const std::vector<std::string>& network_isolation() {
  static const std::vector<std::string> cmd = [] {
    std::vector<std::string> out;
    const std::string unshare = find_program("/usr/bin/unshare", "unshare");
    if (unshare.empty()) return out;
    const std::string t = find_program("/bin/true", "true");
    for (const char* flag : {"-n", "-rn"}) {
      if (runs_ok({unshare, flag, "--", t})) return std::vector<std::string>{unshare, flag, "--"};
    }
    return out;
  }();
  return cmd;
}

// bubblewrap (Debian package bubblewrap), when it works here: a fresh mount
// namespace whose root holds only /usr read-only (with the /bin /lib symlinks
// Debian's merged /usr needs), /proc, a minimal /dev and the code's temporary
// directory mounted read-write at /sandbox; every namespace unshared (no
// network, no other processes). Empty when bwrap is missing or refused.
std::vector<std::string> bwrap_args(const std::string& bwrap, const std::string& dir) {
  return {bwrap, "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
          "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev", "--bind", dir, "/sandbox",
          "--chdir", "/sandbox", "--unshare-all", "--die-with-parent", "--"};
}

std::vector<std::string> bwrap_isolation(const std::string& dir) {
  static const std::string bwrap = [] {
    const std::string b = find_program("/usr/bin/bwrap", "bwrap");
    if (b.empty()) return std::string();
    std::vector<std::string> probe = bwrap_args(b, "/tmp");
    probe.push_back("/usr/bin/true");
    return runs_ok(probe) ? b : std::string();
  }();
  if (bwrap.empty()) return {};
  return bwrap_args(bwrap, dir);
}

}  // namespace

std::string SandboxResult::summary() const {
  std::string s = output;
  if (!ran) return s;
  if (timed_out) {
    s += "\n[killed: wall-clock time limit]";
  } else if (signal == SIGXCPU || signal == SIGKILL) {
    s += "\n[killed: CPU time limit]";
  } else if (signal != 0) {
    s += "\n[killed by signal " + std::to_string(signal) + "]";
  } else if (exit_code != 0) {
    s += "\n[exit status " + std::to_string(exit_code) + "]";
  }
  if (s.empty()) s = "[no output]";
  return s;
}

SandboxResult run_python_sandboxed(const std::string& code, const SandboxLimits& limits) {
  SandboxResult r;
  const std::vector<std::string>& iso = network_isolation();
  if (iso.empty()) {
    r.output = "[not run: cannot isolate the network here (`unshare -n` / `unshare -rn` failed or is missing); "
               "herd refuses to run code_interpreter code with network access]";
    return r;
  }
  const std::string python = find_program("/usr/bin/python3", "python3");
  if (python.empty()) {
    r.output = "[not run: python3 not found]";
    return r;
  }
  char dir_template[] = "/tmp/herd-code.XXXXXX";
  if (!mkdtemp(dir_template)) {
    r.output = std::string("[not run: cannot make a temporary directory: ") + std::strerror(errno) + "]";
    return r;
  }
  const std::string dir = dir_template;
  const std::string script = dir + "/main.py";
  if (FILE* f = std::fopen(script.c_str(), "wb")) {
    std::fwrite(code.data(), 1, code.size(), f);
    std::fclose(f);
  }
  int fds[2];
  // Close-on-exec: a sandbox started by another thread at the same moment must not
  // inherit this one's write end (its reader would then never see the end).
  if (pipe2(fds, O_CLOEXEC) != 0) {
    remove_tree(dir);
    r.output = "[not run: pipe failed]";
    return r;
  }
  // Prefer bubblewrap (file system limited to /usr read-only plus the
  // temporary directory); fall back to a network namespace only.
  std::vector<std::string> args = bwrap_isolation(dir);
  if (args.empty()) args = iso;
  args.insert(args.end(), {python, "-I", "main.py"});
  const std::string home = "HOME=" + dir;
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", home, "LANG=C.UTF-8", "PYTHONIOENCODING=utf-8",
                                  "PYTHONDONTWRITEBYTECODE=1"};
  std::vector<char*> av, ev;  // made before fork: the child of a threaded process must not allocate
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  for (auto& e : env) ev.push_back(e.data());
  ev.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    remove_tree(dir);
    r.output = "[not run: fork failed]";
    return r;
  }
  if (pid == 0) {
    setpgid(0, 0);  // its own group: terminal Ctrl-C does not reach it; we kill the group
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (chdir(dir.c_str()) != 0) _exit(126);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    set_limit(RLIMIT_CPU, static_cast<rlim_t>(limits.cpu_seconds), static_cast<rlim_t>(limits.cpu_seconds + 1));
    set_limit(RLIMIT_AS, limits.address_space, limits.address_space);
    set_limit(RLIMIT_FSIZE, limits.file_size, limits.file_size);
    set_limit(RLIMIT_NOFILE, 64, 64);
    set_limit(RLIMIT_CORE, 0, 0);
    execve(av[0], av.data(), ev.data());
    _exit(127);
  }
  setpgid(pid, pid);
  close(fds[1]);
  r.ran = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limits.wall_seconds);
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || (limits.cancel && limits.cancel->load())) {
      r.timed_out = left.count() <= 0;
      if (!r.timed_out) r.output += "\n[interrupted]";
      killpg(pid, SIGKILL);
      break;
    }
    struct pollfd pfd{fds[0], POLLIN, 0};
    int n = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 200)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: every writer closed
    size_t room = limits.max_output > r.output.size() ? limits.max_output - r.output.size() : 0;
    r.output.append(buf, std::min(room, static_cast<size_t>(got)));
  }
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  killpg(pid, SIGKILL);  // anything it left behind in its group
  if (WIFEXITED(st)) {
    r.exit_code = WEXITSTATUS(st);
    // unshare reports a child killed by a signal as 128+N.
    if (r.exit_code > 128 && r.exit_code < 128 + 65) {
      r.signal = r.exit_code - 128;
      r.exit_code = -1;
    }
  } else if (WIFSIGNALED(st)) {
    r.signal = WTERMSIG(st);
  }
  if (r.output.size() >= limits.max_output) r.output += "\n[output truncated]";
  remove_tree(dir);
  return r;
}

}  // namespace herd::cli
