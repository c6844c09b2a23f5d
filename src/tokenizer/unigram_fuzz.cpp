// libFuzzer target for the SentencePiece unigram tokenizer (unigram.h) and
// its normalizer's character map (sp_normalizer.h), both read from
// untrusted files. The first byte picks the mode:
//   even: the rest is a tokenizer.json; one that loads must encode a fixed
//         multilingual text and the input itself to ids inside its vocabulary;
//   odd:  the rest is a precompiled_charsmap blob; one that is accepted must
//         normalize the fixed text and the blob itself without reading
//         outside it (ASan), and a small fixed vocabulary must encode the
//         input to ids inside it.
// A crash, a sanitizer report or an id out of range aborts.
//
// Seeds: tests/fuzz_seeds/unigram_fuzz/ (a 39-piece tokenizer.json trained by
// spm_train with a three-rule character map, and that map alone).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/sp_normalizer.h"
#include "tokenizer/unigram.h"

namespace {

using herd::tokenizer::SpNormalizer;
using herd::tokenizer::UnigramTokenizer;

const std::string kSample = "Hello,  world! caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xef\xbc\xa1 123 \xf0\x9f\x98\x80\n\t x\xff";

void check_ids(const UnigramTokenizer& t, std::string_view text) {
  for (int32_t id : t.encode(text))
    if (id < 0 || id >= t.vocab_size()) {
      std::fprintf(stderr, "unigram_fuzz: id %d outside a vocabulary of %lld\n", id,
                   static_cast<long long>(t.vocab_size()));
      std::abort();
    }
}

const UnigramTokenizer& fixed_tokenizer() {
  static const UnigramTokenizer t = UnigramTokenizer::from_json(
      R"({"model":{"type":"Unigram","unk_id":0,"vocab":[["[UNK]",0],["\u2581",-2],["a",-3],["b",-3],)"
      R"(["\u2581ab",-2.5],["ab",-4],["\u00e9",-5]]},"added_tokens":[{"id":0,"content":"[UNK]","special":true}],)"
      R"("pre_tokenizer":{"type":"Metaspace","replacement":"\u2581","prepend_scheme":"always"}})",
      "fixed").value();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    herd::Result<UnigramTokenizer> t = UnigramTokenizer::from_json(rest, "fuzz");
    if (!t.has_value()) return 0;
    check_ids(*t, kSample);
    check_ids(*t, rest.substr(0, 4096));
    return 0;
  }
  herd::tokenizer::SpNormalizerOptions opts;
  herd::Result<SpNormalizer> n = SpNormalizer::create(rest, opts, "fuzz");
  if (n.has_value()) {
    (void)n->normalize(kSample);
    (void)n->normalize(rest.substr(0, 4096));
  }
  check_ids(fixed_tokenizer(), rest);
  return 0;
}
