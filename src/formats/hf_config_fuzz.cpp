// libFuzzer target for the Hugging Face JSON side files herd parses:
// config.json (parse_hf_config) and generation_config.json
// (parse_generation_config), arbitrary bytes each. A parse either fails with
// an error or returns a config whose every dimension passed the parser's own
// checks; anything else (a crash, a sanitizer report, an accepted config with
// a non-positive size, a nesting deeper than kMaxJsonDepth accepted) aborts.
//
// Built by cmake/fuzz.cmake (HERD_FUZZ=ON, clang) with ASan and UBSan; run by
// tools/run_fuzz.sh with the committed seeds of tests/fuzz_seeds/hf_config_fuzz/
// (the 8B's and the 3.2-1B's config.json and a generation_config.json).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "formats/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  herd::Result<herd::formats::HfLlamaConfig> c = herd::formats::parse_hf_config(text);
  if (c.has_value()) {
    if (c->hidden_size <= 0 || c->num_hidden_layers <= 0 || c->num_attention_heads <= 0 ||
        c->num_key_value_heads <= 0 || c->head_dim <= 0 || c->vocab_size <= 0 || c->intermediate_size <= 0) {
      std::fprintf(stderr, "hf_config_fuzz: accepted a config with a non-positive size\n");
      std::abort();
    }
  }
  herd::Result<herd::formats::HfGenerationConfig> g = herd::formats::parse_generation_config(text);
  (void)g;
  return 0;
}
