// libFuzzer target: one line of fine-tuning data (train/sft_data.h) on arbitrary bytes,
// with the embedded Llama 3 tokenizer. Properties checked: no crash (ASan/UBSan); a line
// that parses gives an example whose mask has one entry per token, whose first token is
// never trained, and that renders the same way twice.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

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
  return 0;
}
