// The judges of `herd synth`: each scores one completion of one prompt in
// [0, 1] (or any number a verifier command prints), parsed from --judge:
//   regex:PATTERN    1 when the completion matches (grammar/regex.h: search semantics,
//                    a bounded DFA, so no pattern or text can make it run away; invalid
//                    UTF-8 and non-BMP characters are read as U+FFFD)
//   json             1 when the completion is one JSON value (nesting limited)
//   json-schema:FILE 1 when it is JSON valid against the schema (grammar/schema_validate.h)
//   exact            1 when it equals the prompt row's "answer", surrounding blanks ignored
//   cmd:COMMAND      runs `sh -c COMMAND` with the completion on standard input and the
//                    prompt row (JSON) in HERD_SYNTH_PROMPT; the score is the number its
//                    standard output starts with, else 1 for exit status 0 and 0 otherwise;
//                    10 s and 64 KiB of output at most (then 0)
//   python[:TESTS_FILE]  1 when the completion's code (its first ```python or plain
//                    fenced block, else all of it) followed by the tests (TESTS_FILE's text,
//                    then the prompt row's "tests": a string or a list of strings, e.g.
//                    asserts) exits 0 in the sandbox of herd chat's code interpreter
//                    (sandbox.h: no network, CPU/memory/file limits, 10 s); 0 otherwise;
//                    an error when there are no tests or the sandbox cannot run
//   llm:RUBRIC_FILE  an LLM as judge (make_llm_judge): the rubric, with {prompt} and
//                    {completion} replaced (appended when it has no {completion}), as one
//                    user turn; the judge's greedy reply (32 tokens at most) gives the
//                    number after its first "Score:" (else its first number); a reply
//                    with none leaves the completion unscored (never kept)
// Errors: an unknown judge, a pattern the regex engine refuses, a schema or tests
// file that cannot be read; cmd judges report a command that cannot start.
//
// Thread safety: a judge is used from one thread.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace herd::cli {

// One completion to score and its prompt's row.
struct JudgeItem {
  const nlohmann::json* row;
  const std::string* completion;
};

class SynthJudge {
 public:
  virtual ~SynthJudge() = default;
  // row: the prompt's JSONL object (for "answer" and the command's environment).
  virtual Result<double> score(const nlohmann::json& row, const std::string& completion) = 0;
  // Every item's score (or error), in order: what score() gives for each. The
  // default scores them one at a time; the LLM judge submits them together, so
  // its engine batches them.
  virtual std::vector<Result<double>> score_all(std::span<const JudgeItem> items);
};

// The score of an unscored completion (an LLM judge that gave no number): below any --min-score.
inline constexpr double kUnscored = -1e300;

// Every judge but llm:.
Result<std::unique_ptr<SynthJudge>> make_synth_judge(const std::string& spec);
// llm:RUBRIC_FILE on `engine` (the judge model's, or the sampling model's) with its
// tokenizer; both must outlive the judge. score_all submits at most max_group
// requests at a time (no more than the engine's queue holds).
Result<std::unique_ptr<SynthJudge>> make_llm_judge(const std::string& rubric_path, engine::Engine& engine,
                                                   const tokenizer::Tokenizer& tok, size_t max_group = 1);
// The score an LLM judge's reply gives (kUnscored: none). Exposed for tests.
double parse_judge_score(const std::string& reply);
// The code a python judge runs from a completion. Exposed for tests.
std::string completion_code(const std::string& completion);

}  // namespace herd::cli
