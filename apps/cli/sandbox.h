// Running model-written Python (the code_interpreter built-in tool) in a sandbox.
//
// Used by `herd chat --allow-tools` only; without that flag herd never executes
// anything. The code runs as `unshare -n python3 -I main.py` (unshare -rn when not
// root) in a fresh temporary working directory that is removed afterwards, with
// setrlimit limits on CPU time, address space, file size and open files, stdin from
// /dev/null, a minimal environment (HOME is the temp dir), its own process group and a
// wall-clock limit after which the whole group is killed. When no network namespace
// can be made, the code is NOT run and the result says why: herd refuses to run code
// with network access. This is defence in depth for a local user's own machine, not a
// security boundary against hostile code (outside the temp dir the file system is
// still readable, and writable where the user may write).
//
// Thread safety: run_python_sandboxed may run on several threads at once (herd synth's
// python judge does): nothing is allocated between fork and exec, and the output pipe
// is close-on-exec, so one sandbox never holds another's pipe open.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

namespace herd::cli {

struct SandboxLimits {
  int cpu_seconds = 10;                          // RLIMIT_CPU (SIGXCPU/SIGKILL after)
  int wall_seconds = 30;                         // the parent kills the group after this
  size_t address_space = size_t{1} << 30;        // RLIMIT_AS, bytes
  size_t file_size = size_t{16} << 20;           // RLIMIT_FSIZE, bytes
  size_t max_output = size_t{64} << 10;          // stdout+stderr kept, bytes
  const std::atomic<bool>* cancel = nullptr;     // set (e.g. by Ctrl-C): kill the code
};

struct SandboxResult {
  bool ran = false;     // false: refused or could not start; output says why
  int exit_code = -1;   // the exit status when exited normally
  int signal = 0;       // the terminating signal, 0 if none
  bool timed_out = false;
  std::string output;   // stdout and stderr interleaved, truncated to max_output
  // The tool result for the model: the output plus a note on an abnormal end
  // ("[killed: CPU time limit]", "[exit status 1]").
  std::string summary() const;
};

// Runs code with `python3 -I` under the limits. Never throws.
SandboxResult run_python_sandboxed(const std::string& code, const SandboxLimits& limits = {});

}  // namespace herd::cli
