// JSONL preference data (pref_data.h).
#include "train/pref_data.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "train/jsonl_lines.h"

namespace herd::train {
namespace {

// A prompt or completion field as a message array (a string is one message of `role`).
Result<nlohmann::json> as_messages(const nlohmann::json& j, const char* field, const char* role,
                                   const std::string& where) {
  if (j.is_string()) return nlohmann::json::array({{{"role", role}, {"content", j}}});
  if (j.is_array()) return j;
  return line_error(where, std::string("field \"") + field + "\": must be a list of messages or a string");
}

// The example of prompt + completion, counting only the completion's positions.
Result<Example> render(const nlohmann::json& prompt, const nlohmann::json& completion, const nlohmann::json* tools,
                       const char* field, const std::string& where, const tokenizer::Tokenizer& tok) {
  nlohmann::json whole = {{"messages", prompt}};
  for (const auto& m : completion) whole["messages"].push_back(m);
  if (tools != nullptr) whole["tools"] = *tools;
  const std::string ctx = where + " (prompt + " + field + ")";
  Result<Example> ex = parse_sft_line(whole.dump(), ctx, tok, false);
  if (!ex.has_value()) return ex.error();
  size_t prompt_len = 0;
  if (!prompt.empty()) {
    nlohmann::json p = {{"messages", prompt}};
    if (tools != nullptr) p["tools"] = *tools;
    Result<Example> pe = parse_sft_line(p.dump(), where + " (prompt)", tok, true);
    if (!pe.has_value()) return pe.error();
    prompt_len = pe->ids.size();
    if (prompt_len > ex->ids.size() || !std::equal(pe->ids.begin(), pe->ids.end(), ex->ids.begin()))
      return line_error(where, std::string("field \"") + field + "\": rendering it changes the prompt's tokens");
  }
  std::fill(ex->trained.begin(), ex->trained.begin() + static_cast<std::ptrdiff_t>(prompt_len), false);
  if (ex->n_trained() == 0) return line_error(where, std::string("field \"") + field + "\": no assistant message after the prompt");
  return ex;
}

}  // namespace

Result<PrefPair> parse_pref_line(const std::string& line, const std::string& where, const tokenizer::Tokenizer& tok) {
  HERD_ASSIGN_OR_RETURN(nlohmann::json j, parse_jsonl_line(line, where));
  if (!j.is_object() || !j.contains("chosen") || !j.contains("rejected"))
    return line_error(where, "each line must be a JSON object with \"chosen\" and \"rejected\" (and \"prompt\")");
  const nlohmann::json* tools = j.contains("tools") ? &j["tools"] : nullptr;
  HERD_ASSIGN_OR_RETURN(nlohmann::json chosen, as_messages(j["chosen"], "chosen", "assistant", where));
  HERD_ASSIGN_OR_RETURN(nlohmann::json rejected, as_messages(j["rejected"], "rejected", "assistant", where));
  nlohmann::json prompt = nlohmann::json::array();
  if (j.contains("prompt")) {
    HERD_ASSIGN_OR_RETURN(prompt, as_messages(j["prompt"], "prompt", "user", where));
  } else {
    // Implicit prompt: the messages both conversations begin with.
    size_t n = 0;
    while (n < chosen.size() && n < rejected.size() && chosen[n] == rejected[n]) ++n;
    prompt = nlohmann::json(chosen.begin(), chosen.begin() + static_cast<std::ptrdiff_t>(n));
    chosen = nlohmann::json(chosen.begin() + static_cast<std::ptrdiff_t>(n), chosen.end());
    rejected = nlohmann::json(rejected.begin() + static_cast<std::ptrdiff_t>(n), rejected.end());
  }
  if (chosen == rejected) return line_error(where, "\"chosen\" and \"rejected\" are the same");
  PrefPair p;
  HERD_ASSIGN_OR_RETURN(p.chosen, render(prompt, chosen, tools, "chosen", where, tok));
  HERD_ASSIGN_OR_RETURN(p.rejected, render(prompt, rejected, tools, "rejected", where, tok));
  return p;
}

Result<PrefData> load_pref_jsonl(const std::string& path, const tokenizer::Tokenizer& tok, int64_t max_tokens) {
  PrefData d;
  HERD_ASSIGN_OR_RETURN(
      const int64_t n, for_each_jsonl_line(path, "preference data", [&](const std::string& line, int64_t ln) -> Status {
        HERD_ASSIGN_OR_RETURN(PrefPair p, parse_pref_line(line, path + ":" + std::to_string(ln), tok));
        p.line = ln;
        bool cut = false;
        for (Example* e : {&p.chosen, &p.rejected}) {
          if (static_cast<int64_t>(e->ids.size()) <= max_tokens) continue;
          e->ids.resize(static_cast<size_t>(max_tokens));
          e->trained.resize(static_cast<size_t>(max_tokens));
          cut = true;
        }
        d.truncated += cut ? 1 : 0;
        if (p.chosen.n_trained() == 0 || p.rejected.n_trained() == 0) {
          ++d.dropped;
          return Ok{};
        }
        d.pairs.push_back(std::move(p));
        return Ok{};
      }));
  if (d.pairs.empty())
    return err(ErrorCode::kInvalidArgument, "%s: no preference pair to train on (%lld lines, %lld dropped)",
               path.c_str(), static_cast<long long>(n), static_cast<long long>(d.dropped));
  return d;
}

}  // namespace herd::train
