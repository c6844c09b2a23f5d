// herd synth's judges (synth_judge.h).
#include "synth_judge.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <span>
#include <sstream>
#include <thread>

#include "base/json_depth.h"
#include "base/mapped_file.h"
#include "chat/llama3_format.h"
#include "grammar/regex.h"
#include "grammar/schema_validate.h"
#include "sandbox.h"

namespace herd::cli {
namespace {

std::string trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// A judge's own file (a rubric, a schema, Python tests): at most 1 MiB, refused before it is
// read whole, the error naming the --judge kind and the path.
constexpr size_t kMaxJudgeFileBytes = size_t{1} << 20;

Result<std::string> read_judge_file(const char* kind, const std::string& path) {
  Result<std::string> text = read_text_file(path, kMaxJudgeFileBytes);
  if (!text.has_value()) return err(text.error().code(), "--judge %s: %s", kind, text.error().message().c_str());
  return text;
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

// The items' score() calls on up to hardware_concurrency threads at once, the
// results in order: for the judges that run a process per completion (cmd, python),
// whose time is mostly the process's own.
std::vector<Result<double>> score_concurrently(SynthJudge& j, std::span<const JudgeItem> items) {
  std::vector<Result<double>> out(items.size(), Result<double>(0.0));
  const size_t workers = std::min<size_t>(items.size(), std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < items.size(); i = next++) out[i] = j.score(*items[i].row, *items[i].completion);
  };
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  return out;
}

class CommandJudge final : public SynthJudge {
 public:
  explicit CommandJudge(std::string cmd) : cmd_(std::move(cmd)) {}
  std::vector<Result<double>> score_all(std::span<const JudgeItem> items) override {
    return score_concurrently(*this, items);
  }
  Result<double> score(const nlohmann::json& row, const std::string& c) override {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return err(ErrorCode::kIo, "--judge cmd: pipe failed");
    if (pipe2(out, O_CLOEXEC) != 0) {
      close(in[0]);
      close(in[1]);
      return err(ErrorCode::kIo, "--judge cmd: pipe failed");
    }
    // The environment and arguments are made before fork: the child of a threaded
    // process (the engine's, other judges') must not allocate.
    std::vector<std::string> env = {"HERD_SYNTH_PROMPT=" + row.dump()};
    for (char** e = environ; *e != nullptr; ++e)
      if (std::strncmp(*e, "HERD_SYNTH_PROMPT=", 18) != 0) env.emplace_back(*e);
    std::vector<char*> ev;
    for (std::string& e : env) ev.push_back(e.data());
    ev.push_back(nullptr);
    char* const av[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>(cmd_.c_str()), nullptr};
    const pid_t pid = fork();
    if (pid < 0) {
      for (int fd : {in[0], in[1], out[0], out[1]}) close(fd);
      return err(ErrorCode::kIo, "--judge cmd: fork failed");
    }
    if (pid == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      execve("/bin/sh", av, ev.data());
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

// The prompt's conversation as plain text for a rubric: "role: content" per message.
std::string conversation_text(const nlohmann::json& row) {
  if (row.contains("prompt") && row["prompt"].is_string()) return row["prompt"].get<std::string>();
  std::string out;
  if (row.contains("messages") && row["messages"].is_array())
    for (const auto& m : row["messages"]) {
      if (!m.is_object()) continue;
      if (!out.empty()) out += "\n";
      out += m.value("role", std::string("?")) + ": " + (m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : "");
    }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

// The code of a completion: the first fenced block (``` with no language, python,
// python3 or py; one left open by a truncated completion runs to the end), else
// the whole completion.
std::string code_of(const std::string& c) {
  // The line starting at `at` opens or closes a fence: its info string (after ```), or null.
  auto fence = [&](size_t at, size_t eol, std::string* info) {
    const size_t lead = c.find_first_not_of(" \t", at);
    if (lead == std::string::npos || lead >= eol || c.compare(lead, 3, "```") != 0) return false;
    *info = c.substr(lead + 3, eol - lead - 3);
    info->erase(0, info->find_first_not_of(" \t"));
    info->erase(info->find_last_not_of(" \t\r") + 1);
    return true;
  };
  size_t at = 0;
  std::string info, ignored;
  while (at < c.size()) {
    const size_t eol = std::min(c.find('\n', at), c.size());
    if (!fence(at, eol, &info)) {
      at = eol + 1;
      continue;
    }
    // A block: its body runs to the next fence line (or the end of a truncated completion).
    const size_t body = std::min(eol + 1, c.size());
    size_t end = body;
    while (end < c.size()) {
      const size_t e = std::min(c.find('\n', end), c.size());
      if (fence(end, e, &ignored)) break;
      end = e + 1;
    }
    end = std::min(end, c.size());
    if (info.empty() || info == "python" || info == "python3" || info == "py") return c.substr(body, end - body);
    at = std::min(c.find('\n', end), c.size()) + 1;  // past another language's closing fence
  }
  return c;
}

class PythonJudge final : public SynthJudge {
 public:
  explicit PythonJudge(std::string tests) : tests_(std::move(tests)) {}
  std::vector<Result<double>> score_all(std::span<const JudgeItem> items) override {
    return score_concurrently(*this, items);
  }
  Result<double> score(const nlohmann::json& row, const std::string& c) override {
    std::string tests = tests_;
    if (row.is_object() && row.contains("tests")) {
      const nlohmann::json& t = row["tests"];
      if (t.is_string()) {
        tests += "\n" + t.get<std::string>();
      } else if (t.is_array()) {
        for (const nlohmann::json& line : t) {
          if (!line.is_string()) return err(ErrorCode::kInvalidArgument, "--judge python: \"tests\" holds a non-string");
          tests += "\n" + line.get<std::string>();
        }
      } else {
        return err(ErrorCode::kInvalidArgument, "--judge python: \"tests\" must be a string or a list of strings");
      }
    }
    if (tests.find_first_not_of(" \t\r\n") == std::string::npos)
      return err(ErrorCode::kInvalidArgument,
                 "--judge python: no tests (give python:TESTS_FILE or a \"tests\" field in the prompt row)");
    SandboxLimits limits;
    limits.cpu_seconds = 10;
    limits.wall_seconds = 10;
    const SandboxResult r = run_python_sandboxed(code_of(c) + "\n\n# the judge's tests\n" + tests + "\n", limits);
    if (!r.ran) return err(ErrorCode::kUnsupported, "--judge python: the sandbox did not run the code: %s", r.output.c_str());
    return r.exit_code == 0 && r.signal == 0 && !r.timed_out ? 1.0 : 0.0;
  }

 private:
  std::string tests_;
};

class LlmJudge final : public SynthJudge {
 public:
  LlmJudge(std::string rubric, engine::Engine& e, const tokenizer::Tokenizer& t, size_t max_group)
      : rubric_(std::move(rubric)), engine_(e), tok_(t), max_group_(std::max<size_t>(max_group, 1)) {
    for (const char* s : {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"})
      if (const int32_t id = tok_.special_id(s); id >= 0) stops_.push_back(id);
  }
  Result<double> score(const nlohmann::json& row, const std::string& completion) override {
    const JudgeItem item{&row, &completion};
    std::vector<Result<double>> r = score_all(std::span<const JudgeItem>(&item, 1));
    return std::move(r[0]);
  }
  // Submitted max_group_ at a time, so the engine batches them; each reply is what it is alone.
  std::vector<Result<double>> score_all(std::span<const JudgeItem> items) override {
    std::vector<Result<double>> out;
    out.reserve(items.size());
    for (size_t g = 0; g < items.size(); g += max_group_) {
      const std::span<const JudgeItem> part = items.subspan(g, std::min(max_group_, items.size() - g));
      for (Result<double>& r : score_group(part)) out.push_back(std::move(r));
    }
    return out;
  }

 private:
  Result<engine::GenerationRequest> request(const JudgeItem& item) const {
    std::string text = rubric_;
    if (text.find("{completion}") == std::string::npos) text += "\n\nPrompt:\n{prompt}\n\nResponse:\n{completion}";
    // The completion last, so text in the prompt cannot pose as a placeholder.
    replace_all(text, "{prompt}", conversation_text(*item.row));
    replace_all(text, "{completion}", *item.completion);
    chat::Message u;
    u.role = "user";
    u.content = text;
    chat::FormatOptions fo;
    fo.preamble = chat::SystemPreamble::kNone;
    fo.add_generation_prompt = true;
    HERD_ASSIGN_OR_RETURN(const chat::Prompt p, chat::render_prompt({u}, {}, fo));
    HERD_ASSIGN_OR_RETURN(std::vector<int32_t> ids, p.ids(tok_));
    engine::GenerationRequest r;
    r.prompt = std::move(ids);
    r.max_tokens = 32;
    r.stop_ids = stops_;
    r.sampling.temperature = 0.0f;
    return r;
  }

  std::vector<Result<double>> score_group(std::span<const JudgeItem> items) {
    // Shared with the callbacks: a group the engine refuses part-way has its
    // submitted requests cancelled, and their on_done may run after this returns.
    struct Replies {
      std::mutex mu;
      std::condition_variable cv;
      size_t pending = 0;
      std::vector<std::vector<int32_t>> tokens;
      std::vector<std::string> failure;
    };
    auto st = std::make_shared<Replies>();
    st->tokens.resize(items.size());
    st->failure.resize(items.size());
    std::vector<Result<double>> out(items.size(), Result<double>(0.0));
    std::vector<engine::GenerationRequest> reqs;
    std::vector<engine::RequestCallbacks> cbs;
    std::vector<size_t> submitted;
    for (size_t i = 0; i < items.size(); ++i) {
      Result<engine::GenerationRequest> r = request(items[i]);
      if (!r.has_value()) {
        out[i] = r.error();
        continue;
      }
      engine::RequestCallbacks cb;
      cb.on_token = [st, i](const engine::TokenEvent& e) {
        std::lock_guard<std::mutex> l(st->mu);
        st->tokens[i].push_back(e.id);
        return true;
      };
      cb.on_done = [st, i](engine::FinishReason, int32_t, const engine::Usage&, const Error* e) {
        std::lock_guard<std::mutex> l(st->mu);
        if (e != nullptr) st->failure[i] = e->to_string();
        --st->pending;
        st->cv.notify_all();
      };
      reqs.push_back(std::move(*r));
      cbs.push_back(std::move(cb));
      submitted.push_back(i);
    }
    if (submitted.empty()) return out;
    {
      std::lock_guard<std::mutex> l(st->mu);
      st->pending = submitted.size();
    }
    Result<std::vector<uint64_t>> ids = engine_.submit_all(std::move(reqs), std::move(cbs));
    if (!ids.has_value()) {
      for (size_t i : submitted) out[i] = ids.error();
      return out;
    }
    std::unique_lock<std::mutex> l(st->mu);
    st->cv.wait(l, [&] { return st->pending == 0; });
    for (size_t i : submitted) {
      if (!st->failure[i].empty())
        out[i] = err(ErrorCode::kInternal, "--judge llm: %s", st->failure[i].c_str());
      else
        out[i] = parse_judge_score(tok_.decode(st->tokens[i]));
    }
    return out;
  }

  std::string rubric_;
  engine::Engine& engine_;
  const tokenizer::Tokenizer& tok_;
  size_t max_group_;
  std::vector<int32_t> stops_;
};

}  // namespace

double parse_judge_score(const std::string& reply) {
  auto number_at = [&](size_t from) -> double {
    for (size_t i = from; i < reply.size(); ++i) {
      const char c = reply[i];
      if ((c >= '0' && c <= '9') || ((c == '-' || c == '+' || c == '.') && i + 1 < reply.size() &&
                                     reply[i + 1] >= '0' && reply[i + 1] <= '9')) {
        char* end = nullptr;
        const double v = std::strtod(reply.c_str() + i, &end);
        if (end != reply.c_str() + i && std::isfinite(v)) return v;
      }
    }
    return kUnscored;
  };
  std::string lower = reply;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t at = lower.find("score:");
  if (at != std::string::npos) {
    const double v = number_at(at + 6);
    if (v != kUnscored) return v;
  }
  return number_at(0);
}

Result<std::unique_ptr<SynthJudge>> make_llm_judge(const std::string& rubric_path, engine::Engine& engine,
                                                   const tokenizer::Tokenizer& tok, size_t max_group) {
  HERD_ASSIGN_OR_RETURN(std::string rubric, read_judge_file("llm", rubric_path));
  return std::unique_ptr<SynthJudge>(new LlmJudge(std::move(rubric), engine, tok, max_group));
}

std::vector<Result<double>> SynthJudge::score_all(std::span<const JudgeItem> items) {
  std::vector<Result<double>> out;
  out.reserve(items.size());
  for (const JudgeItem& it : items) out.push_back(score(*it.row, *it.completion));
  return out;
}

std::string completion_code(const std::string& completion) { return code_of(completion); }

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
    HERD_ASSIGN_OR_RETURN(std::string text, read_judge_file("json-schema", path));
    Result<nlohmann::json> s = parse_json(text);
    if (!s.has_value()) return err(ErrorCode::kInvalidArgument, "--judge json-schema: %s: %s", path.c_str(), s.error().message().c_str());
    return std::unique_ptr<SynthJudge>(new JsonJudge(std::move(*s)));
  }
  if (spec == "exact") return std::unique_ptr<SynthJudge>(new ExactJudge());
  if (spec.rfind("cmd:", 0) == 0 && spec.size() > 4) return std::unique_ptr<SynthJudge>(new CommandJudge(spec.substr(4)));
  if (spec == "python") return std::unique_ptr<SynthJudge>(new PythonJudge(""));
  if (spec.rfind("python:", 0) == 0) {
    const std::string path = spec.substr(7);
    HERD_ASSIGN_OR_RETURN(std::string tests, read_judge_file("python", path));
    return std::unique_ptr<SynthJudge>(new PythonJudge(std::move(tests)));
  }
  return err(ErrorCode::kInvalidArgument,
             "--judge %s: one of regex:PATTERN, json, json-schema:FILE, exact, cmd:COMMAND, python[:TESTS_FILE], "
             "llm:RUBRIC_FILE",
             spec.c_str());
}

}  // namespace herd::cli
