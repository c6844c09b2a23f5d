// vocab_from_hf_tokenizer_json (see vocab.h): reads the parts of an HF tokenizer.json that
// define a Llama 3 tokenizer and checks the parts that would make it a different one.
// nlohmann::json is used in its non-throwing form and wrapped, so no exception escapes.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/json_depth.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/vocab.h"

namespace herd::tokenizer {
namespace {

using nlohmann::json;

// If the pre-tokenizer has a Split with a Regex pattern, it must be Llama 3's.
Status check_pre_tokenizer(const json& root) {
  auto pt = root.find("pre_tokenizer");
  if (pt == root.end() || pt->is_null()) return Ok{};
  std::vector<const json*> stack = {&*pt};
  while (!stack.empty()) {
    const json* node = stack.back();
    stack.pop_back();
    if (!node->is_object()) continue;
    auto list = node->find("pretokenizers");
    if (list != node->end() && list->is_array()) {
      for (const json& child : *list) stack.push_back(&child);
    }
    auto type = node->find("type");
    if (type == node->end() || !type->is_string() || type->get_ref<const std::string&>() != "Split") continue;
    auto pattern = node->find("pattern");
    if (pattern == node->end() || !pattern->is_object()) continue;
    auto regex = pattern->find("Regex");
    if (regex == pattern->end() || !regex->is_string()) continue;
    if (regex->get_ref<const std::string&>() != kLlama3PretokenizePattern) {
      return err(ErrorCode::kUnsupported,
                 "tokenizer.json pre_tokenizer regex is not the Llama 3 pattern (got %.80s...); "
                 "herd implements only the Llama 3 pre-tokenizer",
                 regex->get_ref<const std::string&>().c_str());
    }
  }
  return Ok{};
}

Result<Vocab> parse(std::string_view text) {
  if (!json_depth_within(text))
    return err(ErrorCode::kCorrupt, "tokenizer.json nests deeper than %d levels", kMaxJsonDepth);
  json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return err(ErrorCode::kCorrupt, "tokenizer.json is not a JSON object");
  }
  auto model = root.find("model");
  if (model == root.end() || !model->is_object()) {
    return err(ErrorCode::kCorrupt, "tokenizer.json has no \"model\" object");
  }
  auto type = model->find("type");
  if (type == model->end() || !type->is_string() || type->get_ref<const std::string&>() != "BPE") {
    return err(ErrorCode::kUnsupported, "tokenizer.json model.type is %s, expected \"BPE\"",
               type == model->end() ? "missing" : type->dump().c_str());
  }
  auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object() || vocab->empty()) {
    return err(ErrorCode::kCorrupt, "tokenizer.json has no model.vocab object");
  }
  HERD_TRY(check_pre_tokenizer(root));

  const size_t n_ranked = vocab->size();
  if (n_ranked > (size_t{1} << 30)) return err(ErrorCode::kOutOfRange, "model.vocab too large");
  std::vector<std::string> tokens(n_ranked);
  std::vector<bool> filled(n_ranked, false);
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer()) {
      return err(ErrorCode::kCorrupt, "model.vocab[%s] is not an integer id", json(it.key()).dump().c_str());
    }
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || static_cast<size_t>(id) >= n_ranked || filled[static_cast<size_t>(id)]) {
      return err(ErrorCode::kCorrupt,
                 "model.vocab id %lld for %s is out of 0..%zu or repeated (ids must be dense)",
                 static_cast<long long>(id), json(it.key()).dump().c_str(), n_ranked - 1);
    }
    auto bytes = byte_level_to_bytes(it.key());
    if (!bytes) return std::move(bytes.error()).with_context(str_printf("model.vocab id %lld", static_cast<long long>(id)));
    tokens[static_cast<size_t>(id)] = std::move(*bytes);
    filled[static_cast<size_t>(id)] = true;
  }

  Vocab v;
  v.n_ranked = static_cast<int32_t>(n_ranked);
  v.token_bytes = std::move(tokens);
  v.token_types.assign(n_ranked, kTokenTypeNormal);
  auto added = root.find("added_tokens");
  if (added != root.end() && added->is_array()) {
    std::vector<std::pair<int64_t, const json*>> extra;
    for (const json& t : *added) {
      auto id = t.find("id");
      auto content = t.find("content");
      if (!t.is_object() || id == t.end() || !id->is_number_integer() || content == t.end() ||
          !content->is_string()) {
        return err(ErrorCode::kCorrupt, "tokenizer.json added_tokens entry %s lacks id/content",
                   t.dump().substr(0, 120).c_str());
      }
      extra.emplace_back(id->get<int64_t>(), &t);
    }
    std::sort(extra.begin(), extra.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [id, t] : extra) {
      if (id != v.size()) {
        return err(ErrorCode::kUnsupported,
                   "tokenizer.json added token id %lld, expected %d (herd needs added tokens to "
                   "follow model.vocab densely)",
                   static_cast<long long>(id), v.size());
      }
      auto special = t->find("special");
      const bool is_special = special != t->end() && special->is_boolean() && special->get<bool>();
      v.token_bytes.push_back(t->at("content").get<std::string>());
      v.token_types.push_back(is_special ? kTokenTypeControl : kTokenTypeUserDefined);
    }
  }
  HERD_TRY(validate_vocab(v));
  HERD_TRY(assign_llama3_special_ids(v));
  return v;
}

}  // namespace

Result<Vocab> vocab_from_hf_tokenizer_json(std::string_view json_text) {
  try {
    return parse(json_text);
  } catch (const std::exception& e) {
    return err(ErrorCode::kCorrupt, "tokenizer.json: %s", e.what());
  }
}

}  // namespace herd::tokenizer
