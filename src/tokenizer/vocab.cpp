// Vocab readers for tokenizer.model and GGUF token arrays, and the Llama 3.1 special
// token list (see vocab.h). The tokenizer.json reader is in vocab_hf_json.cpp.
#include "tokenizer/vocab.h"

#include <unordered_map>
#include <unordered_set>

#include "tokenizer/base64.h"
#include "tokenizer/byte_level.h"

namespace herd::tokenizer {
namespace {

// Finds a duplicate among the ranked tokens; returns its later id or -1.
// The vector is not resized while the views live.
int32_t find_duplicate(const std::vector<std::string>& tokens, int32_t n, int32_t* first) {
  std::unordered_map<std::string_view, int32_t> seen;
  seen.reserve(static_cast<size_t>(n) * 2);
  for (int32_t i = 0; i < n; ++i) {
    auto [it, inserted] = seen.emplace(tokens[static_cast<size_t>(i)], i);
    if (!inserted) {
      *first = it->second;
      return i;
    }
  }
  return -1;
}

}  // namespace

std::vector<std::string> llama3_special_token_names() {
  std::vector<std::string> names = {
      "<|begin_of_text|>",           "<|end_of_text|>",   "<|reserved_special_token_0|>",
      "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
      "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
      "<|eom_id|>",                  "<|eot_id|>",        "<|python_tag|>",
  };
  for (int i = 3; names.size() < static_cast<size_t>(kLlama3NumSpecialTokens); ++i) {
    names.push_back(str_printf("<|reserved_special_token_%d|>", i));
  }
  return names;  // the last is <|reserved_special_token_247|>
}

Status validate_vocab(const Vocab& v) {
  if (v.token_types.size() != v.token_bytes.size()) {
    return err(ErrorCode::kCorrupt, "vocab has %zu tokens but %zu token types",
               v.token_bytes.size(), v.token_types.size());
  }
  if (v.n_ranked <= 0 || v.n_ranked > v.size()) {
    return err(ErrorCode::kCorrupt, "vocab has %d ranked tokens of %d", v.n_ranked, v.size());
  }
  for (int32_t i = 0; i < v.size(); ++i) {
    const int32_t t = v.token_types[static_cast<size_t>(i)];
    const bool ranked = i < v.n_ranked;
    if (ranked && t != kTokenTypeNormal) {
      return err(ErrorCode::kCorrupt, "ranked token %d has type %d, expected 1 (NORMAL)", i, t);
    }
    if (!ranked && t == kTokenTypeNormal) {
      return err(ErrorCode::kUnsupported,
                 "token %d is NORMAL but follows special tokens (ranked tokens must be ids "
                 "0..%d); herd's BPE needs rank == id",
                 i, v.n_ranked - 1);
    }
    if (v.token_bytes[static_cast<size_t>(i)].empty()) {
      return err(ErrorCode::kCorrupt, "token %d is empty", i);
    }
  }
  int32_t first = -1;
  const int32_t dup = find_duplicate(v.token_bytes, v.n_ranked, &first);
  if (dup >= 0) {
    return err(ErrorCode::kCorrupt, "ranked tokens %d and %d have the same bytes", first, dup);
  }
  return Ok{};
}

Status assign_llama3_special_ids(Vocab& v) {
  std::unordered_map<std::string_view, int32_t> by_text;
  for (int32_t i = v.n_ranked; i < v.size(); ++i) by_text.emplace(v.token_bytes[static_cast<size_t>(i)], i);
  auto find = [&](const char* text) {
    auto it = by_text.find(text);
    return it == by_text.end() ? -1 : it->second;
  };
  v.bos_id = find("<|begin_of_text|>");
  v.end_of_text_id = find("<|end_of_text|>");
  v.pad_id = find("<|finetune_right_pad_id|>");
  v.start_header_id = find("<|start_header_id|>");
  v.end_header_id = find("<|end_header_id|>");
  v.eom_id = find("<|eom_id|>");
  v.eot_id = find("<|eot_id|>");
  v.python_tag_id = find("<|python_tag|>");
  v.eos_id = v.end_of_text_id;
  const struct {
    const char* name;
    int32_t id;
  } required[] = {{"<|begin_of_text|>", v.bos_id},
                  {"<|end_of_text|>", v.end_of_text_id},
                  {"<|start_header_id|>", v.start_header_id},
                  {"<|end_header_id|>", v.end_header_id},
                  {"<|eot_id|>", v.eot_id}};
  for (const auto& r : required) {
    if (r.id < 0) {
      return err(ErrorCode::kCorrupt,
                 "vocab has no special token %s (hint: not a Llama 3.x tokenizer?)", r.name);
    }
  }
  return Ok{};
}

Result<Vocab> vocab_from_tiktoken(std::string_view text) {
  Vocab v;
  std::string bytes;
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.find(' ', sp + 1) != std::string_view::npos) {
      return err(ErrorCode::kCorrupt,
                 "tokenizer.model line %zu: expected \"<base64> <rank>\" (hint: is this a "
                 "tiktoken rank file, not a SentencePiece model?)",
                 line_no);
    }
    std::string_view b64 = line.substr(0, sp), rank_text = line.substr(sp + 1);
    if (!decode_base64(b64, bytes)) {
      return err(ErrorCode::kCorrupt, "tokenizer.model line %zu: invalid base64 '%.*s'", line_no,
                 static_cast<int>(std::min<size_t>(b64.size(), 64)), b64.data());
    }
    int64_t rank = 0;
    if (rank_text.empty() || rank_text.size() > 9) rank = -1;
    for (char c : rank_text) {
      if (c < '0' || c > '9') {
        rank = -1;
        break;
      }
      rank = rank * 10 + (c - '0');
    }
    if (rank != static_cast<int64_t>(v.token_bytes.size())) {
      return err(ErrorCode::kCorrupt, "tokenizer.model line %zu: rank '%.*s', expected %zu (ranks must be dense and in order)",
                 line_no, static_cast<int>(std::min<size_t>(rank_text.size(), 32)), rank_text.data(),
                 v.token_bytes.size());
    }
    v.token_bytes.push_back(bytes);
  }
  if (v.token_bytes.empty()) return err(ErrorCode::kCorrupt, "tokenizer.model has no tokens");
  v.n_ranked = v.size();
  v.token_types.assign(v.token_bytes.size(), kTokenTypeNormal);
  // Duplicates are reported by line (= rank + 1 when there are no blank lines).
  int32_t first = -1;
  const int32_t dup = find_duplicate(v.token_bytes, v.n_ranked, &first);
  if (dup >= 0) {
    return err(ErrorCode::kCorrupt, "tokenizer.model: rank %d has the same bytes as rank %d (lines %d and %d)",
               dup, first, dup + 1, first + 1);
  }
  for (std::string& name : llama3_special_token_names()) {
    v.token_bytes.push_back(std::move(name));
    v.token_types.push_back(kTokenTypeControl);
  }
  HERD_TRY(validate_vocab(v));
  HERD_TRY(assign_llama3_special_ids(v));
  return v;
}

Result<Vocab> vocab_from_gguf_tokens(const std::vector<std::string>& tokens,
                                     const std::vector<int64_t>& types) {
  if (tokens.size() != types.size()) {
    return err(ErrorCode::kCorrupt,
               "tokenizer.ggml.tokens has %zu entries but tokenizer.ggml.token_type has %zu",
               tokens.size(), types.size());
  }
  if (tokens.size() > (size_t{1} << 30)) {
    return err(ErrorCode::kOutOfRange, "tokenizer.ggml.tokens has %zu entries", tokens.size());
  }
  Vocab v;
  v.token_bytes.reserve(tokens.size());
  v.token_types.reserve(tokens.size());
  bool in_ranked = true;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int64_t t = types[i];
    if (t == kTokenTypeNormal) {
      if (!in_ranked) {
        return err(ErrorCode::kUnsupported,
                   "GGUF token %zu is NORMAL after a special token; herd needs the ranked "
                   "tokens first (rank == id)",
                   i);
      }
      auto bytes = byte_level_to_bytes(tokens[i]);
      if (!bytes) return std::move(bytes.error()).with_context(str_printf("GGUF token %zu", i));
      v.token_bytes.push_back(std::move(*bytes));
    } else if (t == kTokenTypeControl || t == kTokenTypeUserDefined) {
      in_ranked = false;
      v.token_bytes.push_back(tokens[i]);
    } else {
      return err(ErrorCode::kUnsupported,
                 "GGUF token %zu has token type %lld; a Llama 3 vocab has only 1 (NORMAL) and "
                 "3 (CONTROL)",
                 i, static_cast<long long>(t));
    }
    v.token_types.push_back(static_cast<int32_t>(t));
    if (in_ranked) v.n_ranked = static_cast<int32_t>(i + 1);
  }
  HERD_TRY(validate_vocab(v));
  HERD_TRY(assign_llama3_special_ids(v));
  return v;
}

}  // namespace herd::tokenizer
