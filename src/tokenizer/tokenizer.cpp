// Tokenizer encode/decode and StreamDecoder (see tokenizer.h).
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "tokenizer/embedded_vocab.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/utf8.h"

namespace herd::tokenizer {

Result<Tokenizer> Tokenizer::from_vocab(Vocab vocab) {
  HERD_TRY(validate_vocab(vocab));
  Tokenizer t;
  t.ranks_.build(vocab.token_bytes, vocab.n_ranked);
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (t.ranks_.find(std::string_view(&c, 1)) < 0) {
      return err(ErrorCode::kCorrupt,
                 "vocab has no token for byte 0x%02X; a byte-level BPE vocab needs all 256 so "
                 "every input can be encoded",
                 b);
    }
  }
  for (int32_t id = vocab.n_ranked; id < vocab.size(); ++id) {
    t.specials_by_length_.push_back(id);
    t.special_first_byte_[static_cast<uint8_t>(vocab.token_bytes[static_cast<size_t>(id)][0])] = true;
  }
  std::stable_sort(t.specials_by_length_.begin(), t.specials_by_length_.end(), [&](int32_t a, int32_t b) {
    return vocab.token_bytes[static_cast<size_t>(a)].size() > vocab.token_bytes[static_cast<size_t>(b)].size();
  });
  t.vocab_ = std::move(vocab);
  return t;
}

Result<Tokenizer> Tokenizer::llama3() {
  HERD_ASSIGN_OR_RETURN(Vocab v, vocab_from_tiktoken(embedded_llama3_tokenizer_model()));
  return from_vocab(std::move(v));
}

void Tokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = pretoken_end(text, pos);
    bpe_encode_piece(ranks_, text.substr(pos, end - pos), out);
    pos = end;
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  if (!parse_special || specials_by_length_.empty()) {
    encode_ordinary(text, out);
    return out;
  }
  // Leftmost match of any special text; at one position the longest wins. No Llama 3
  // special is a prefix of another, so this equals tiktoken's alternation.
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    int32_t hit = -1;
    if (!special_first_byte_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    for (int32_t id : specials_by_length_) {
      const std::string& s = vocab_.token_bytes[static_cast<size_t>(id)];
      if (s[0] == text[pos] && text.size() - pos >= s.size() &&
          std::memcmp(text.data() + pos, s.data(), s.size()) == 0) {
        hit = id;
        break;
      }
    }
    if (hit < 0) {
      ++pos;
      continue;
    }
    encode_ordinary(text.substr(start, pos - start), out);
    out.push_back(hit);
    pos += vocab_.token_bytes[static_cast<size_t>(hit)].size();
    start = pos;
  }
  encode_ordinary(text.substr(start), out);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) out += token_bytes(id);
  return out;
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_.size()) return {};
  return vocab_.token_bytes[static_cast<size_t>(id)];
}

bool Tokenizer::is_special(int32_t id) const { return id >= vocab_.n_ranked && id < vocab_.size(); }

int32_t Tokenizer::special_id(std::string_view text) const {
  for (int32_t id = vocab_.n_ranked; id < vocab_.size(); ++id) {
    if (vocab_.token_bytes[static_cast<size_t>(id)] == text) return id;
  }
  return -1;
}

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_->token_bytes(id);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    Utf8Step s = utf8_step(pending_, i);
    if (s.status == Utf8Status::kTruncated) break;  // hold back; may complete later
    if (s.status == Utf8Status::kValid) {
      out.append(pending_, i, s.len);
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += s.len;
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  append_utf8_lossy(out, pending_);
  pending_.clear();
  return out;
}

std::string Tokenizer::fingerprint() const {
  uint64_t h = 1469598103934665603ull;
  auto add = [&h](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  const int32_t n = n_vocab();
  add(&n, sizeof n);
  for (int32_t id = 0; id < n; ++id) {
    const std::string_view b = token_bytes(id);
    const uint64_t len = b.size();
    const uint8_t special = is_special(id) ? 1 : 0;
    add(&len, sizeof len);
    add(b.data(), b.size());
    add(&special, 1);
  }
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace herd::tokenizer
