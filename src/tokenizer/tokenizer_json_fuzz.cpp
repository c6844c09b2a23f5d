// libFuzzer target for HF tokenizer.json (vocab_from_hf_tokenizer_json) and
// the tokenizer built from what it accepts: arbitrary bytes are parsed; a
// vocabulary that parses (and has the Llama 3 special tokens: herd's
// requirement, assign_llama3_special_ids) becomes a Tokenizer, which must
// encode a fixed multilingual text to ids inside the vocabulary and decode
// them back to the same text. A crash, a sanitizer report or a broken round
// trip aborts.
//
// Seeds: tests/fuzz_seeds/tokenizer_json_fuzz/ (a tokenizer.json small enough
// for -max_len: byte-level tokens, a few merges, added special tokens).
// Built by cmake/fuzz.cmake (HERD_FUZZ=ON, clang) with ASan and UBSan; run by
// tools/run_fuzz.sh.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace herd::tokenizer;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  herd::Result<Vocab> v = vocab_from_hf_tokenizer_json(text);
  if (!v.has_value()) return 0;
  if (!assign_llama3_special_ids(*v).has_value()) return 0;
  const int n = v->size();
  herd::Result<Tokenizer> tok = Tokenizer::from_vocab(std::move(*v));
  if (!tok.has_value()) return 0;
  const std::string sample = "Hello, world! caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac 123  \n\t x";
  const std::vector<int32_t> ids = tok->encode(sample, false);
  for (int32_t id : ids)
    if (id < 0 || id >= n) {
      std::fprintf(stderr, "tokenizer_json_fuzz: id %d outside a vocabulary of %d\n", id, n);
      std::abort();
    }
  if (tok->decode(ids) != sample) {
    std::fprintf(stderr, "tokenizer_json_fuzz: decode(encode(x)) != x\n");
    std::abort();
  }
  return 0;
}
