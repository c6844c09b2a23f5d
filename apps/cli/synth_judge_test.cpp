// herd synth's judges (synth_judge.h): each accepts what it should and refuses
// the rest; regex reads invalid UTF-8 and non-BMP characters as U+FFFD; the
// command judge takes its exit status or the number it prints; the python judge
// runs a completion's code with its tests in the sandbox (no network); the process
// judges' score_all runs them side by side, results in order; the LLM
// judge's score_all (against a scripted engine) gives each item what score()
// gives it alone, in order, with the requests side by side, at most max_group at once.
#include "synth_judge.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/scripted_engine.h"

namespace herd::cli {
namespace {

double score(const std::string& spec, const std::string& text, const nlohmann::json& row = nlohmann::json::object()) {
  Result<std::unique_ptr<SynthJudge>> j = make_synth_judge(spec);
  EXPECT_TRUE(j.has_value()) << spec;
  Result<double> s = (*j)->score(row, text);
  EXPECT_TRUE(s.has_value()) << spec << ": " << (s.has_value() ? "" : s.error().message());
  return s.has_value() ? *s : -1;
}

TEST(SynthJudge, Regex) {
  EXPECT_EQ(score("regex:^ [a-z]", " hello"), 1.0);
  EXPECT_EQ(score("regex:^ [a-z]", " Hello"), 0.0);
  EXPECT_EQ(score("regex:[0-9]{3}", "call 555 now"), 1.0);
  // Bytes the automaton has no path for do not hide a match before or after them.
  EXPECT_EQ(score("regex:^ [a-z]", " ok \xf0\x9f\x98\x80 and \xff\xfe"), 1.0);
  EXPECT_EQ(score("regex:end$", "\xe4\xb8 the end"), 1.0);
  EXPECT_FALSE(make_synth_judge("regex:(a)\\1").has_value());  // backreferences: unsupported
}

TEST(SynthJudge, JsonSchemaAndExact) {
  EXPECT_EQ(score("json", " {\"a\": [1, 2]} "), 1.0);
  EXPECT_EQ(score("json", "{\"a\": "), 0.0);
  EXPECT_EQ(score("json", std::string(200, '[') + std::string(200, ']')), 0.0);  // too deep
  const std::string path = (std::filesystem::temp_directory_path() / "herd_synth_schema.json").string();
  std::ofstream(path) << R"({"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}, "required": ["n"]})";
  EXPECT_EQ(score("json-schema:" + path, R"({"n": 4})"), 1.0);
  EXPECT_EQ(score("json-schema:" + path, R"({"n": 2})"), 0.0);
  EXPECT_EQ(score("json-schema:" + path, R"({"m": 4})"), 0.0);
  std::filesystem::remove(path);
  EXPECT_FALSE(make_synth_judge("json-schema:/nonexistent/schema.json").has_value());
  EXPECT_EQ(score("exact", "  42\n", {{"answer", "42"}}), 1.0);
  EXPECT_EQ(score("exact", "41", {{"answer", "42"}}), 0.0);
  Result<std::unique_ptr<SynthJudge>> j = make_synth_judge("exact");
  EXPECT_FALSE((*j)->score(nlohmann::json::object(), "42").has_value());  // no "answer"
  EXPECT_FALSE(make_synth_judge("vibes").has_value());
}

// A judge's file over 1 MiB is refused (the size is checked while reading, not after), a
// missing one is named, for every kind that reads a file.
TEST(SynthJudge, JudgeFilesAreBounded) {
  const std::string path = (std::filesystem::temp_directory_path() / "herd_synth_big_judge_file").string();
  std::ofstream(path) << "{\"type\": \"object\"" << std::string((size_t{1} << 20), ' ') << "}";
  for (const char* kind : {"json-schema:", "python:"}) {
    Result<std::unique_ptr<SynthJudge>> j = make_synth_judge(kind + path);
    ASSERT_FALSE(j.has_value()) << kind;
    EXPECT_EQ(j.error().code(), ErrorCode::kOutOfRange) << kind;
    EXPECT_NE(j.error().message().find(path), std::string::npos) << j.error().message();
    Result<std::unique_ptr<SynthJudge>> missing = make_synth_judge(std::string(kind) + "/nonexistent/judge_file");
    ASSERT_FALSE(missing.has_value()) << kind;
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound) << kind;
    EXPECT_NE(missing.error().message().find("--judge"), std::string::npos) << missing.error().message();
  }
  std::filesystem::remove(path);
}

TEST(SynthJudge, Command) {
  EXPECT_EQ(score("cmd:grep -q blue", "the sky is blue"), 1.0);
  EXPECT_EQ(score("cmd:grep -q blue", "the sky is grey"), 0.0);
  EXPECT_EQ(score("cmd:wc -c", "12345"), 5.0);  // the number printed is the score
  // The prompt row reaches the command.
  EXPECT_EQ(score("cmd:echo \"$HERD_SYNTH_PROMPT\" | grep -q '\"answer\":\"7\"'", "x", {{"answer", "7"}}), 1.0);
  Result<std::unique_ptr<SynthJudge>> j = make_synth_judge("cmd:/nonexistent/judge");
  EXPECT_FALSE((*j)->score(nlohmann::json::object(), "x").has_value());
}

// The process judges' score_all runs their processes side by side, the results in order.
TEST(SynthJudge, ProcessJudgesScoreAllInOrderSideBySide) {
  const nlohmann::json row = {{"prompt", "add"}, {"tests", {"assert add(2, 3) == 5"}}};
  const std::vector<std::string> code = {"def add(a, b): return a + b", "def add(a, b): return a - b",
                                         "def add(a, b): return 5", "def add(a, b):\n    return a +",
                                         "def add(a, b): return b + a"};
  std::vector<JudgeItem> items;
  for (const std::string& c : code) items.push_back({&row, &c});
  Result<std::unique_ptr<SynthJudge>> py = make_synth_judge("python");
  ASSERT_TRUE(py.has_value());
  const std::vector<Result<double>> got = (*py)->score_all(items);
  const double want[] = {1, 0, 1, 0, 1};
  ASSERT_EQ(got.size(), code.size());
  for (size_t i = 0; i < code.size(); ++i) {
    ASSERT_TRUE(got[i].has_value()) << i << ": " << got[i].error().message();
    EXPECT_EQ(*got[i], want[i]) << i;
  }
  // A command judge that scores 1 when it finds another one running (a directory as the
  // marker) and its input's length + 10 otherwise: with two or more cores some overlap.
  const std::string dir = testing::TempDir() + "/judge_overlap";
  std::filesystem::remove_all(dir);
  Result<std::unique_ptr<SynthJudge>> cmd = make_synth_judge(
      "cmd:n=$(wc -c); if mkdir " + dir + " 2>/dev/null; then sleep 0.5; rmdir " + dir + "; echo $((n + 10)); else echo 1; fi");
  ASSERT_TRUE(cmd.has_value());
  const std::vector<std::string> texts = {"a", "bb", "ccc", "dddd"};
  std::vector<JudgeItem> t_items;
  for (const std::string& t : texts) t_items.push_back({&row, &t});
  const std::vector<Result<double>> scores = (*cmd)->score_all(t_items);
  ASSERT_EQ(scores.size(), texts.size());
  int overlapped = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_TRUE(scores[i].has_value()) << i;
    if (*scores[i] == 1.0) {
      ++overlapped;
    } else {
      EXPECT_EQ(*scores[i], static_cast<double>(texts[i].size() + 10)) << i;  // in order
    }
  }
  if (std::thread::hardware_concurrency() >= 2) {
    EXPECT_GE(overlapped, 1);
  }
}

TEST(SynthJudge, PythonCodeOfACompletion) {
  EXPECT_EQ(completion_code("def f(x):\n    return x + 1\n"), "def f(x):\n    return x + 1\n");
  EXPECT_EQ(completion_code("Here it is:\n```python\ndef f(x):\n    return 1\n```\nDone.\n```python\nx = 2\n```"),
            "def f(x):\n    return 1\n");
  EXPECT_EQ(completion_code("```\nprint(1)\n```"), "print(1)\n");
  EXPECT_EQ(completion_code("```js\nno()\n```\n```py\nyes()\n```"), "yes()\n");  // another language is skipped
  EXPECT_EQ(completion_code("Sure.\n  ```python\ncut(\n"), "cut(\n");                 // a truncated completion
}

TEST(SynthJudge, PythonTestsInTheSandbox) {
  const std::string good = "```python\ndef add(a, b):\n    return a + b\n```";
  const std::string bad = "```python\ndef add(a, b):\n    return a - b\n```";
  const nlohmann::json row = {{"prompt", "add"}, {"tests", {"assert add(2, 3) == 5", "assert add(-1, 1) == 0"}}};
  EXPECT_EQ(score("python", good, row), 1.0);
  EXPECT_EQ(score("python", bad, row), 0.0);
  EXPECT_EQ(score("python", "def add(a, b):\n    return a +", row), 0.0);  // a syntax error
  EXPECT_EQ(score("python", "import socket\nsocket.create_connection(('1.1.1.1', 53), 2)\ndef add(a, b): return a + b",
                  row), 0.0) << "no network in the sandbox";
  const std::string path = (std::filesystem::temp_directory_path() / "herd_synth_tests.py").string();
  std::ofstream(path) << "assert add(10, 5) == 15\n";
  EXPECT_EQ(score("python:" + path, good), 1.0);  // the file's tests alone
  EXPECT_EQ(score("python:" + path, "def add(a, b):\n    return 15", {{"tests", "assert add(1, 1) == 2"}}), 0.0)
      << "the file's tests and the row's both run";
  std::filesystem::remove(path);
  EXPECT_FALSE(make_synth_judge("python:/nonexistent/tests.py").has_value());
  Result<std::unique_ptr<SynthJudge>> j = make_synth_judge("python");
  ASSERT_TRUE(j.has_value());
  EXPECT_FALSE((*j)->score(nlohmann::json::object(), good).has_value());            // no tests anywhere
  EXPECT_FALSE((*j)->score({{"tests", 5}}, good).has_value());                       // tests of another type
}

TEST(SynthJudge, LlmReplyScores) {
  EXPECT_EQ(parse_judge_score("Score: 7"), 7.0);
  EXPECT_EQ(parse_judge_score("The response is fine.\nscore: 8.5/10"), 8.5);
  EXPECT_EQ(parse_judge_score("2 issues. Score: -1"), -1.0);  // the number after "Score:" wins
  EXPECT_EQ(parse_judge_score("I give it 6"), 6.0);          // else the first number
  EXPECT_EQ(parse_judge_score("I cannot say."), kUnscored);
  EXPECT_EQ(parse_judge_score("Score: none"), kUnscored);
  EXPECT_FALSE(make_synth_judge("llm:rubric.txt").has_value());  // made with an engine (make_llm_judge)
}

const tokenizer::Tokenizer& llama3_tok() {
  static const tokenizer::Tokenizer* t = new tokenizer::Tokenizer(std::move(*tokenizer::Tokenizer::llama3()));
  return *t;
}

// A judge that scores a response by its length in bytes, and says more first for
// some (so its replies finish out of submission order).
std::string length_judge(const std::string& prompt, const engine::GenerationRequest&) {
  const size_t at = prompt.find("Response: ");
  const size_t end = prompt.find("<|eot_id|>", at);
  if (at == std::string::npos || end == std::string::npos) return "no idea";
  const size_t n = end - at - 10;
  return std::string(n % 3 == 0 ? "Having read it closely, " : "") + "Score: " + std::to_string(n);
}

TEST(SynthJudge, LlmScoreAllIsEachScoreAloneInOrder) {
  const std::string dir = testing::TempDir() + "/llm_judge";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/rubric.txt") << "Rate it.\nQuestion: {prompt}\nResponse: {completion}";
  const nlohmann::json row = {{"prompt", "Say something."}};
  const std::vector<std::string> texts = {"a", "bbbb", "cc", "dddddd", "", "eee", "fffff"};
  std::vector<JudgeItem> items;
  for (const std::string& t : texts) items.push_back({&row, &t});
  for (size_t group : {size_t{64}, size_t{2}}) {
    SCOPED_TRACE(group);
    engine::ScriptedEngine eng(llama3_tok(), length_judge);
    Result<std::unique_ptr<SynthJudge>> j = make_llm_judge(dir + "/rubric.txt", eng, llama3_tok(), group);
    ASSERT_TRUE(j.has_value());
    const std::vector<Result<double>> all = (*j)->score_all(items);
    ASSERT_EQ(all.size(), texts.size());
    EXPECT_GE(eng.most_running(), 2);
    EXPECT_LE(eng.most_running(), static_cast<int64_t>(group));
    for (size_t i = 0; i < texts.size(); ++i) {
      ASSERT_TRUE(all[i].has_value()) << i;
      EXPECT_EQ(*all[i], static_cast<double>(texts[i].size())) << i;
      Result<double> one = (*j)->score(row, texts[i]);
      ASSERT_TRUE(one.has_value());
      EXPECT_EQ(*one, *all[i]) << i;
    }
  }
  // A group the engine refuses (more than it queues): every item's error.
  engine::ScriptedEngine eng(llama3_tok(), length_judge);
  eng.max_jobs = 3;
  Result<std::unique_ptr<SynthJudge>> j = make_llm_judge(dir + "/rubric.txt", eng, llama3_tok(), 64);
  ASSERT_TRUE(j.has_value());
  const std::vector<Result<double>> refused = (*j)->score_all(items);
  ASSERT_EQ(refused.size(), texts.size());
  for (const Result<double>& r : refused) EXPECT_FALSE(r.has_value());
}

}  // namespace
}  // namespace herd::cli
