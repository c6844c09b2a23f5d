// Fine-tuning data: a JSONL file of examples -> token sequences with the
// positions that are trained on.
//
// Each line is one JSON object:
//   {"messages": [...], "tools"?: [...]}  an OpenAI-shaped conversation (tool calls and
//       tool results included), rendered in the exact Llama 3.1 format
//       (chat/llama3_format.h) with the conversation's own system message verbatim
//       (SystemPreamble::kNone, as torchtune renders training data); the loss is on
//       the assistant turns only (each turn's content and its closing <|eot_id|> or
//       <|eom_id|>, not its header), or on every token but the first with
//       train_on_inputs;
//   {"text": "..."}  plain text for continued pretraining: BOS + the text + <|end_of_text|>,
//       every token but the first trained.
// An example longer than max_tokens is cut to its first max_tokens tokens (torchtune
// truncates the same way); one left with no trained token is dropped and counted.
// Blank lines are skipped. Anything else is an error naming the file, the line and
// the field; nothing is skipped silently. A line may hold 16 MiB and nest 64 levels
// (base/json_depth.h); longer or deeper lines are refused before they are parsed.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "chat/llama3_format.h"
#include "tokenizer/tokenizer.h"

namespace herd::train {

struct Example {
  std::vector<int32_t> ids;
  std::vector<bool> trained;  // [ids.size()]: ids[i] is a target (predicted from ids[0..i))
  int64_t line = 0;           // 1-based line in the file
  int64_t n_trained() const;
};

struct SftData {
  std::vector<Example> examples;
  int64_t truncated = 0;  // examples cut to max_tokens
  int64_t dropped = 0;    // examples with no trained token (after the cut)
};

struct SftOptions {
  int64_t max_tokens = 2048;
  bool train_on_inputs = false;
};

// How training renders a conversation (the conversation's own system message
// verbatim, SystemPreamble::kNone, as torchtune does); with
// add_generation_prompt, the assistant header a completion follows (herd synth
// samples the completions herd finetune then trains on).
chat::FormatOptions training_format(bool add_generation_prompt);

// Reads and renders the whole file.
Result<SftData> load_sft_jsonl(const std::string& path, const tokenizer::Tokenizer& tok, const SftOptions& o);
// One line's example (errors name `where`, e.g. "data.jsonl:12").
Result<Example> parse_sft_line(const std::string& line, const std::string& where, const tokenizer::Tokenizer& tok,
                               bool train_on_inputs);

}  // namespace herd::train
