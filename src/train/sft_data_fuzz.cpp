// libFuzzer target: one line of training data on arbitrary bytes, read both as fine-tuning
// data (train/sft_data.h) and as a preference pair (train/pref_data.h), with the embedded
// Llama 3 tokenizer. Properties checked: no crash (ASan/UBSan); a line that parses gives
// examples whose masks have one entry per token, whose first token is never trained, and
// that render the same way twice; a pair has a counted token on each side.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "train/pref_data.h"
#include "train/sft_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const herd::tokenizer::Tokenizer tok = *herd::tokenizer::Tokenizer::llama3();
  if (size > 4096) return 0;  // one line of a data file; longer inputs only slow the search
  const std::string line(reinterpret_cast<const char*>(data), size);
  for (bool all : {false, true}) {
    herd::Result<herd::train::Example> ex = herd::train::parse_sft_line(line, "fuzz:1", tok, all);
    if (!ex.has_value()) continue;
    if (ex->ids.size() != ex->trained.size() || ex->ids.empty() || ex->trained[0]) std::abort();
    herd::Result<herd::train::Example> again = herd::train::parse_sft_line(line, "fuzz:1", tok, all);
    if (!again.has_value() || again->ids != ex->ids || again->trained != ex->trained) std::abort();
  }
  herd::Result<herd::train::PrefPair> p = herd::train::parse_pref_line(line, "fuzz:1", tok);
  if (p.has_value()) {
    for (const herd::train::Example* e : {&p->chosen, &p->rejected})
      if (e->ids.size() != e->trained.size() || e->ids.empty() || e->trained[0] || e->n_trained() == 0) std::abort();
    herd::Result<herd::train::PrefPair> again = herd::train::parse_pref_line(line, "fuzz:1", tok);
    if (!again.has_value() || again->chosen.ids != p->chosen.ids || again->rejected.trained != p->rejected.trained)
      std::abort();
  }
  return 0;
}
