// herd synth's judges (synth_judge.h).
#include "synth_judge.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/json_depth.h"
#include "grammar/regex.h"
#include "grammar/schema_validate.h"

namespace herd::cli {
namespace {

std::string trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

Result<nlohmann::json> parse_json(const std::string& text) {
  if (!json_depth_within(text)) return err(ErrorCode::kInvalidArgument, "nested too deep");
  nlohmann::json v = nlohmann::json::parse(text, nullptr, false);
  if (v.is_discarded()) return err(ErrorCode::kInvalidArgument, "not JSON");
  return v;
}

// The text with every byte sequence the regex automaton has no path for (invalid UTF-8,
// code points outside the BMP) replaced by U+FFFD, which '.' and negated classes match:
// a completion cut mid-character or holding an emoji is still judged on the rest.
std::string bmp_text(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<uint8_t>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len == 2 && c < 0xC2) ok = false;  // overlong
    if (ok && len == 3) {
      const auto c1 = static_cast<uint8_t>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);  // overlong, surrogates
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
      while (i < s.size() && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) ++i;  // the rest of the sequence
    }
  }
  return out;
}

class RegexJudge final : public SynthJudge {
 public:
  explicit RegexJudge(grammar::Dfa d) : dfa_(std::move(d)) {}
  Result<double> score(const nlohmann::json&, const std::string& c) override {
    return dfa_.matches(bmp_text(c)) ? 1.0 : 0.0;
  }

 private:
  grammar::Dfa dfa_;
};

class JsonJudge final : public SynthJudge {
 public:
  explicit JsonJudge(nlohmann::json schema) : schema_(std::move(schema)) {}
  Result<double> score(const nlohmann::json&, const std::string& c) override {
    Result<nlohmann::json> v = parse_json(trimmed(c));
    if (!v.has_value()) return 0.0;
    if (schema_.is_null()) return 1.0;
    return grammar::validate(*v, schema_, schema_) ? 1.0 : 0.0;
  }

 private:
  nlohmann::json schema_;
};

class ExactJudge final : public SynthJudge {
 public:
  Result<double> score(const nlohmann::json& row, const std::string& c) override {
    if (!row.contains("answer") || !row["answer"].is_string())
      return err(ErrorCode::kInvalidArgument, "--judge exact: the prompt row has no \"answer\" string");
    return trimmed(c) == trimmed(row["answer"].get<std::string>()) ? 1.0 : 0.0;
  }
};

class CommandJudge final : public SynthJudge {
 public:
  explicit CommandJudge(std::string cmd) : cmd_(std::move(cmd)) {}
  Result<double> score(const nlohmann::json& row, const std::string& c) override {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return err(ErrorCode::kIo, "--judge cmd: pipe failed");
    if (pipe2(out, O_CLOEXEC) != 0) {
      close(in[0]);
      close(in[1]);
      return err(ErrorCode::kIo, "--judge cmd: pipe failed");
    }
    const std::string prompt = row.dump();
    const pid_t pid = fork();
    if (pid < 0) return err(ErrorCode::kIo, "--judge cmd: fork failed");
    if (pid == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      setenv("HERD_SYNTH_PROMPT", prompt.c_str(), 1);
      execl("/bin/sh", "sh", "-c", cmd_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    // The completion in; a reader that stops early must not kill herd.
    signal(SIGPIPE, SIG_IGN);
    size_t off = 0;
    while (off < c.size()) {
      const ssize_t n = write(in[1], c.data() + off, c.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(in[1]);
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool timed_out = false;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      pollfd pf{out[0], POLLIN, 0};
      if (poll(&pf, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      if (text.size() < (size_t{64} << 10)) text.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    if (timed_out) kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (timed_out) return 0.0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
      return err(ErrorCode::kInvalidArgument, "--judge cmd: the command could not run (exit 127): %s", cmd_.c_str());
    char* end = nullptr;
    const std::string t = trimmed(text);
    const double v = std::strtod(t.c_str(), &end);
    if (!t.empty() && end != t.c_str() && std::isfinite(v)) return v;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1.0 : 0.0;
  }

 private:
  std::string cmd_;
};

}  // namespace

Result<std::unique_ptr<SynthJudge>> make_synth_judge(const std::string& spec) {
  if (spec.rfind("regex:", 0) == 0) {
    // Lengths tabulated to the most the automaton allows: a state is kept when an accepting
    // completion of up to kMaxChars code points exists (every state of a supported pattern).
    HERD_ASSIGN_OR_RETURN(grammar::Dfa d, grammar::Dfa::compile(spec.substr(6), grammar::Dfa::kMaxChars));
    return std::unique_ptr<SynthJudge>(new RegexJudge(std::move(d)));
  }
  if (spec == "json") return std::unique_ptr<SynthJudge>(new JsonJudge(nullptr));
  if (spec.rfind("json-schema:", 0) == 0) {
    const std::string path = spec.substr(12);
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    if (!f) return err(ErrorCode::kNotFound, "--judge json-schema: cannot read %s", path.c_str());
    Result<nlohmann::json> s = parse_json(ss.str());
    if (!s.has_value()) return err(ErrorCode::kInvalidArgument, "--judge json-schema: %s: %s", path.c_str(), s.error().message().c_str());
    return std::unique_ptr<SynthJudge>(new JsonJudge(std::move(*s)));
  }
  if (spec == "exact") return std::unique_ptr<SynthJudge>(new ExactJudge());
  if (spec.rfind("cmd:", 0) == 0 && spec.size() > 4) return std::unique_ptr<SynthJudge>(new CommandJudge(spec.substr(4)));
  return err(ErrorCode::kInvalidArgument,
             "--judge %s: one of regex:PATTERN, json, json-schema:FILE, exact, cmd:COMMAND", spec.c_str());
}

}  // namespace herd::cli
