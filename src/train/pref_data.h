// Preference data for `herd dpo`: a JSONL file of (prompt, chosen, rejected)
// -> two token sequences per pair, trained (log-probs summed) on the
// completions only.
//
// Each line is one JSON object in TRL's preference layouts:
//   {"prompt": [messages] | "text", "chosen": [messages] | "text", "rejected": ..., "tools"?: [...]}
//   {"chosen": [messages], "rejected": [messages], "tools"?: [...]}  (implicit prompt: the
//       messages both conversations begin with)
// A string prompt is one user message, a string completion one assistant
// message. Prompt + completion are rendered as one conversation exactly as SFT
// data is (sft_data.h: the 3.1 format, the conversation's own system message),
// and the positions counted are the completion's assistant content and closing
// <|eot_id|>/<|eom_id|> (TRL and torchtune count the completion's tokens and
// its end token; message headers never count). A pair longer than max_tokens
// is cut to its first max_tokens tokens; a pair left with no counted token on
// either side is dropped and counted. A completion equal to the other, one
// with no assistant message, and anything malformed is an error naming the
// file, the line and the field; nothing is skipped silently. Lines are read as
// jsonl_lines.h limits them.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "tokenizer/tokenizer.h"
#include "train/sft_data.h"

namespace herd::train {

struct PrefPair {
  Example chosen, rejected;  // trained: the completion's counted positions
  // The reference model's log-prob sums of the counted positions (set by
  // DpoObjective::compute_reference before training).
  double ref_chosen = 0, ref_rejected = 0;
  int64_t line = 0;
};

struct PrefData {
  std::vector<PrefPair> pairs;
  int64_t truncated = 0;  // pairs with a side cut to max_tokens
  int64_t dropped = 0;    // pairs with a side left without a counted token
};

Result<PrefData> load_pref_jsonl(const std::string& path, const tokenizer::Tokenizer& tok, int64_t max_tokens);
// One line's pair (errors name `where`, e.g. "prefs.jsonl:12").
Result<PrefPair> parse_pref_line(const std::string& line, const std::string& where, const tokenizer::Tokenizer& tok);

}  // namespace herd::train
