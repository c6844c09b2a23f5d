// JSONL fine-tuning data (sft_data.h).
#include "train/sft_data.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "chat/llama3_format.h"
#include "chat/messages.h"
#include "train/jsonl_lines.h"

namespace herd::train {

int64_t Example::n_trained() const {
  int64_t n = 0;
  for (bool b : trained) n += b ? 1 : 0;
  return n;
}

namespace {

// The header of a message is <|start_header_id|> ROLE <|end_header_id|> "\n\n":
// the ids of a rendered message before its content.
constexpr size_t kHeaderTokens = 4;

}  // namespace

chat::FormatOptions training_format(bool add_generation_prompt) {
  chat::FormatOptions fo;
  fo.preamble = chat::SystemPreamble::kNone;
  fo.add_generation_prompt = add_generation_prompt;
  return fo;
}

Result<Example> parse_sft_line(const std::string& line, const std::string& where, const tokenizer::Tokenizer& tok,
                               bool train_on_inputs) {
  HERD_ASSIGN_OR_RETURN(nlohmann::json j, parse_jsonl_line(line, where));
  if (!j.is_object()) return line_error(where, "each line must be a JSON object with \"messages\" or \"text\"");
  Example ex;
  if (j.contains("text")) {
    if (!j["text"].is_string()) return line_error(where, "field \"text\": must be a string");
    if (j.contains("messages")) return line_error(where, "both \"text\" and \"messages\": give one");
    ex.ids = tok.encode(j["text"].get<std::string>(), true);
    const int32_t end = tok.special_id("<|end_of_text|>");
    if (end < 0) return line_error(where, "the tokenizer has no <|end_of_text|>");
    ex.ids.push_back(end);
    ex.trained.assign(ex.ids.size(), true);
    ex.trained[0] = false;
    return ex;
  }
  if (!j.contains("messages")) return line_error(where, "no \"messages\" (a conversation) or \"text\" field");
  Result<std::vector<chat::Message>> msgs = chat::parse_messages_json(line);
  if (!msgs.has_value()) return line_error(where, "field \"messages\": " + msgs.error().message());
  chat::ToolSet tools;
  if (j.contains("tools")) {
    Result<chat::ToolSet> t = chat::parse_tools_json(line);
    if (!t.has_value()) return line_error(where, "field \"tools\": " + t.error().message());
    tools = *t;
  }
  bool any_assistant = false;
  for (const chat::Message& m : *msgs) any_assistant |= m.role == "assistant";
  if (!any_assistant && !train_on_inputs) return line_error(where, "field \"messages\": no assistant message to train on");
  const chat::FormatOptions fo = training_format(false);
  // Render the conversation growing by one message; each message's ids are
  // what its rendering adds (the format renders each message on its own).
  std::vector<chat::Message> prefix;
  for (size_t i = 0; i < msgs->size(); ++i) {
    prefix.push_back((*msgs)[i]);
    Result<chat::Prompt> p = chat::render_prompt(prefix, tools, fo);
    if (!p.has_value()) return line_error(where, "field \"messages\": " + p.error().message());
    Result<std::vector<int32_t>> ids = p->ids(tok);
    if (!ids.has_value()) return line_error(where, ids.error().message());
    if (ids->size() < ex.ids.size() || !std::equal(ex.ids.begin(), ex.ids.end(), ids->begin()))
      return line_error(where, "messages[" + std::to_string(i) + "]: its rendering changes the earlier messages' tokens");
    const size_t start = ex.ids.size();
    const bool assistant = (*msgs)[i].role == "assistant";
    for (size_t k = start; k < ids->size(); ++k) {
      ex.ids.push_back((*ids)[k]);
      const bool content = assistant && k >= start + kHeaderTokens;
      ex.trained.push_back(train_on_inputs ? k > 0 : content);
    }
  }
  return ex;
}

Result<SftData> load_sft_jsonl(const std::string& path, const tokenizer::Tokenizer& tok, const SftOptions& o) {
  SftData d;
  HERD_ASSIGN_OR_RETURN(
      const int64_t n, for_each_jsonl_line(path, "training data", [&](const std::string& line, int64_t ln) -> Status {
        Result<Example> ex = parse_sft_line(line, path + ":" + std::to_string(ln), tok, o.train_on_inputs);
        if (!ex.has_value()) return ex.error();
        ex->line = ln;
        if (static_cast<int64_t>(ex->ids.size()) > o.max_tokens) {
          ex->ids.resize(static_cast<size_t>(o.max_tokens));
          ex->trained.resize(static_cast<size_t>(o.max_tokens));
          ++d.truncated;
        }
        if (ex->n_trained() == 0) {
          ++d.dropped;
          return Ok{};
        }
        d.examples.push_back(std::move(*ex));
        return Ok{};
      }));
  if (d.examples.empty())
    return err(ErrorCode::kInvalidArgument, "%s: no example to train on (%lld lines, %lld dropped)", path.c_str(),
               static_cast<long long>(n), static_cast<long long>(d.dropped));
  return d;
}

}  // namespace herd::train
