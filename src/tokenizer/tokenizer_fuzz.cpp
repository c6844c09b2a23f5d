// libFuzzer target for the tokenizer: encode arbitrary bytes, decode them back.
//
// Built by cmake/fuzz.cmake (HERD_FUZZ=ON, clang) with ASan and UBSan; run by
// tools/run_fuzz.sh. For every input x (any bytes: invalid UTF-8, NUL, CESU-8
// surrogates, special-token text) it checks the contract of tokenizer.h:
//  * encode never crashes and every id is inside the vocab;
//  * with parse_special off no special id appears, and decode(encode(x)) == x;
//  * with parse_special on decode(encode(x)) == x as well (a special token decodes
//    to its text, so the round trip is exact either way);
//  * if x is valid UTF-8, feeding the ids to a StreamDecoder one at a time emits
//    only valid UTF-8 and the concatenation of push()es and flush() equals x
//    (tokenizer.h: "for valid UTF-8 output the concatenation ... equals decode");
//  * for any x the stream output is valid UTF-8 and pending_bytes() stays <= 3.
// Any violation aborts, which libFuzzer reports as a crash with the input saved.
//
// Seed mode: with HERD_FUZZ_SEED_DIR set, LLVMFuzzerInitialize writes a few seeds
// (multilingual text, emoji ZWJ sequences, special-token text, whitespace runs,
// invalid bytes) into that directory; `HERD_FUZZ_SEED_DIR=dir ./tokenizer_fuzz -runs=0`
// only writes them.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

using herd::tokenizer::StreamDecoder;
using herd::tokenizer::Tokenizer;

const Tokenizer* g_tok = nullptr;

[[noreturn]] void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "tokenizer_fuzz: %s (input %zu bytes)\n", what, input.size());
  std::abort();
}

bool valid_utf8(std::string_view s) {
  std::string repaired;
  herd::tokenizer::append_utf8_lossy(repaired, s);
  return repaired == s;
}

void write_seeds(const std::string& dir) {
  const char* seeds[] = {
      "Hello world! I'm sure you're right, it's 'quoted'",
      "naïve café 😀 日本語のテキスト Привет, мир مرحبا שלום สวัสดี नमस्ते 안녕하세요",
      "👨‍👩‍👧‍👦 👍🏽 🇫🇷🇯🇵 e\xCC\x81 \xC3\xA9",
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
      "<|reserved_special_token_247|><|eom_id|<|python_tag|>",
      "def f(x):\n    return x**2\r\n\r\n\t\t  \xC2\xA0\xE3\x80\x80 end   ",
      "3.14159 and 1,000,000 1234567890123 ٣٤٥ ²³",
      "'S 'T 'Re 'LL 'VE 'M 'D 's't're",
      "a\xFF\x62\xF0\x9F c\xED\xA0\x80 d \xC0\xAF",  // invalid: FF, cut emoji, surrogate, overlong
  };
  int n = 0;
  for (const char* s : seeds) {
    std::string path = dir + "/seed" + std::to_string(n++);
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) continue;
    const std::string_view v = s;
    std::fwrite(v.data(), 1, v.size(), f);
    std::fclose(f);
  }
  // The NUL seed cannot be a C string.
  std::string nul("a\0b\0\0c", 6);
  FILE* f = std::fopen((dir + "/seed_nul").c_str(), "wb");
  if (f) {
    std::fwrite(nul.data(), 1, nul.size(), f);
    std::fclose(f);
  }
}

void check_ids(const std::vector<int32_t>& ids, bool parse_special, std::string_view input) {
  for (int32_t id : ids) {
    if (id < 0 || id >= g_tok->n_vocab()) fail("id outside the vocab", input);
    if (!parse_special && g_tok->is_special(id)) fail("special id with parse_special off", input);
  }
  if (g_tok->decode(ids) != input) fail("decode(encode(x)) != x", input);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto r = Tokenizer::llama3();
  if (!r) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", r.error().to_string().c_str());
    std::abort();
  }
  g_tok = new Tokenizer(std::move(*r));
  if (const char* dir = std::getenv("HERD_FUZZ_SEED_DIR")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view x(reinterpret_cast<const char*>(data), size);

  const std::vector<int32_t> plain = g_tok->encode(x, /*add_bos=*/false, /*parse_special=*/false);
  check_ids(plain, false, x);
  const std::vector<int32_t> special = g_tok->encode(x, false, true);
  check_ids(special, true, x);

  // encode_ordinary appends: it must agree with encode(parse_special=false).
  std::vector<int32_t> appended = {g_tok->vocab().bos_id};
  g_tok->encode_ordinary(x, appended);
  if (appended.size() != plain.size() + 1 ||
      !std::equal(plain.begin(), plain.end(), appended.begin() + 1)) {
    fail("encode_ordinary != encode(parse_special=false)", x);
  }

  const bool valid = valid_utf8(x);
  for (const std::vector<int32_t>* ids : {&plain, &special}) {
    StreamDecoder d(*g_tok);
    std::string all;
    for (int32_t id : *ids) {
      std::string piece = d.push(id);
      if (!valid_utf8(piece)) fail("StreamDecoder emitted invalid UTF-8", x);
      if (d.pending_bytes() > 3) fail("StreamDecoder holds more than 3 bytes", x);
      all += piece;
    }
    std::string tail = d.flush();
    if (!valid_utf8(tail)) fail("StreamDecoder flush emitted invalid UTF-8", x);
    all += tail;
    if (valid && all != x) fail("StreamDecoder concatenation != decode for valid UTF-8", x);
  }
  return 0;
}
