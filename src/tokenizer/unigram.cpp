// UnigramTokenizer (see unigram.h): tokenizer.json reading and SentencePiece's
// unigram Viterbi encoding.
#include "tokenizer/unigram.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "base/json_depth.h"
#include "base/mapped_file.h"
#include "tokenizer/base64.h"

namespace herd::tokenizer {
namespace {

using nlohmann::json;

Error bad(std::string_view source, const std::string& what) {
  return err(ErrorCode::kCorrupt, "%.*s: %s", static_cast<int>(source.size()), source.data(), what.c_str());
}
Error unsupported(std::string_view source, const std::string& what) {
  return err(ErrorCode::kUnsupported, "%.*s: %s", static_cast<int>(source.size()), source.data(), what.c_str());
}

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string type_of(const json& node) {
  const json* t = member(node, "type");
  return t && t->is_string() ? t->get<std::string>() : std::string();
}

// The normalizer: Precompiled (the map), Strip and Replace(" {2,}", " ")
// (HF's spelling of SentencePiece's remove_extra_whitespaces), alone or in a
// Sequence. Anything else would change the text in a way herd does not do.
Status read_normalizer(const json* node, std::string_view source, std::string* charsmap, bool* extra_ws) {
  if (!node) return Ok{};
  std::vector<const json*> list;
  if (type_of(*node) == "Sequence") {
    const json* items = member(*node, "normalizers");
    if (!items || !items->is_array()) return bad(source, "normalizer Sequence without a 'normalizers' array");
    for (const json& n : *items) list.push_back(&n);
  } else {
    list.push_back(node);
  }
  for (const json* n : list) {
    const std::string t = type_of(*n);
    if (t == "Precompiled") {
      const json* m = member(*n, "precompiled_charsmap");
      if (!m) continue;
      if (!m->is_string()) return bad(source, "normalizer Precompiled: 'precompiled_charsmap' is not a string");
      if (!decode_base64(m->get_ref<const std::string&>(), *charsmap))
        return bad(source, "normalizer Precompiled: 'precompiled_charsmap' is not valid base64");
    } else if (t == "Strip") {
      *extra_ws = true;
    } else if (t == "Replace") {
      const json* pattern = member(*n, "pattern");
      const json* regex = pattern ? member(*pattern, "Regex") : nullptr;
      const json* content = member(*n, "content");
      if (!regex || !regex->is_string() || *regex != " {2,}" || !content || *content != " ")
        return unsupported(source, "normalizer Replace other than ' {2,}' -> ' ' (SentencePiece's whitespace rule)");
      *extra_ws = true;
    } else {
      return unsupported(source, "normalizer type '" + t + "' (herd reads Precompiled, Strip, Replace)");
    }
  }
  return Ok{};
}

// The pre-tokenizer: Metaspace ("▁", a prefix space), alone or in a Sequence.
Status read_pre_tokenizer(const json* node, std::string_view source, bool* dummy_prefix) {
  if (!node) return unsupported(source, "no pre_tokenizer (a unigram tokenizer.json has Metaspace)");
  std::vector<const json*> list;
  if (type_of(*node) == "Sequence") {
    const json* items = member(*node, "pretokenizers");
    if (!items || !items->is_array()) return bad(source, "pre_tokenizer Sequence without a 'pretokenizers' array");
    for (const json& n : *items) list.push_back(&n);
  } else {
    list.push_back(node);
  }
  bool seen = false;
  for (const json* n : list) {
    const std::string t = type_of(*n);
    if (t != "Metaspace") return unsupported(source, "pre_tokenizer type '" + t + "' (herd reads Metaspace)");
    const json* rep = member(*n, "replacement");
    if (rep && *rep != "\xe2\x96\x81") return unsupported(source, "Metaspace replacement other than U+2581");
    const json* scheme = member(*n, "prepend_scheme");
    const json* add = member(*n, "add_prefix_space");
    if (scheme && scheme->is_string()) {
      if (*scheme == "first") return unsupported(source, "Metaspace prepend_scheme 'first'");
      *dummy_prefix = *scheme == "always";
    } else if (add && add->is_boolean()) {
      *dummy_prefix = add->get<bool>();
    }
    seen = true;
  }
  if (!seen) return unsupported(source, "pre_tokenizer without Metaspace");
  return Ok{};
}

}  // namespace

int32_t UnigramTokenizer::special_id(std::string_view content) const {
  for (const auto& [text, id] : specials_)
    if (text == content) return id;
  return -1;
}

Result<UnigramTokenizer> UnigramTokenizer::load(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(std::string text, read_text_file(path, kMaxFileBytes));
  return from_json(text, path);
}

Result<UnigramTokenizer> UnigramTokenizer::from_json(std::string_view text, std::string_view source) {
  if (text.size() > kMaxFileBytes) return bad(source, "larger than 64 MiB");
  if (!json_depth_within(text)) return bad(source, "JSON nests too deeply");
  json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return bad(source, "not a JSON object");
  const json* model = member(root, "model");
  if (!model || type_of(*model) != "Unigram")
    return unsupported(source, "model.type is '" + (model ? type_of(*model) : std::string()) +
                                   "', expected 'Unigram' (a SentencePiece unigram tokenizer)");
  const json* bf = member(*model, "byte_fallback");
  if (bf && *bf == true) return unsupported(source, "model.byte_fallback (byte pieces) is not read by herd");

  UnigramTokenizer t;
  const json* vocab = member(*model, "vocab");
  if (!vocab || !vocab->is_array() || vocab->empty()) return bad(source, "model.vocab is not a non-empty array");
  if (vocab->size() > kMaxPieces) return bad(source, "model.vocab has more than 2^22 pieces");
  t.pieces_.reserve(vocab->size());
  t.scores_.reserve(vocab->size());
  for (size_t i = 0; i < vocab->size(); ++i) {
    const json& e = (*vocab)[i];
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
      return bad(source, str_printf("model.vocab[%zu] is not [piece, score]", i));
    const std::string& p = e[0].get_ref<const std::string&>();
    const double s = e[1].get<double>();
    if (p.empty() || p.size() > kMaxPieceBytes)
      return bad(source, str_printf("model.vocab[%zu] is empty or longer than %zu bytes", i, kMaxPieceBytes));
    if (!std::isfinite(s)) return bad(source, str_printf("model.vocab[%zu] has a score that is not finite", i));
    t.pieces_.push_back(p);
    t.scores_.push_back(static_cast<float>(s));
  }
  const int64_t n = static_cast<int64_t>(t.pieces_.size());
  const json* unk = member(*model, "unk_id");
  if (!unk || !unk->is_number_integer() || unk->get<int64_t>() < 0 || unk->get<int64_t>() >= n)
    return bad(source, "model.unk_id is missing or not an id of model.vocab");
  t.unk_id_ = static_cast<int32_t>(unk->get<int64_t>());

  t.special_.assign(t.pieces_.size(), 0);
  t.special_[static_cast<size_t>(t.unk_id_)] = 1;
  if (const json* added = member(root, "added_tokens")) {
    if (!added->is_array()) return bad(source, "added_tokens is not an array");
    for (const json& a : *added) {
      const json* id = member(a, "id");
      const json* content = member(a, "content");
      const json* special = member(a, "special");
      if (!id || !id->is_number_integer() || !content || !content->is_string())
        return bad(source, "an added_tokens entry without an integer 'id' and a string 'content'");
      const int64_t v = id->get<int64_t>();
      if (v < 0 || v > std::numeric_limits<int32_t>::max()) return bad(source, "an added token's id is out of range");
      if (special && *special == true) {
        t.specials_.emplace_back(content->get<std::string>(), static_cast<int32_t>(v));
        if (v < n) t.special_[static_cast<size_t>(v)] = 1;
      }
    }
  }

  t.sorted_.resize(t.pieces_.size());
  for (int32_t i = 0; i < static_cast<int32_t>(n); ++i) t.sorted_[static_cast<size_t>(i)] = i;
  std::sort(t.sorted_.begin(), t.sorted_.end(),
            [&](int32_t a, int32_t b) { return t.pieces_[static_cast<size_t>(a)] < t.pieces_[static_cast<size_t>(b)]; });
  for (size_t i = 1; i < t.sorted_.size(); ++i)
    if (t.pieces_[static_cast<size_t>(t.sorted_[i])] == t.pieces_[static_cast<size_t>(t.sorted_[i - 1])])
      return bad(source, "model.vocab lists the piece '" + t.pieces_[static_cast<size_t>(t.sorted_[i])] + "' twice");
  t.min_score_ = std::numeric_limits<float>::max();
  for (size_t i = 0; i < t.pieces_.size(); ++i)
    if (!t.special_[i]) t.min_score_ = std::min(t.min_score_, t.scores_[i]);
  if (t.min_score_ == std::numeric_limits<float>::max()) t.min_score_ = 0.0f;

  std::string charsmap;
  bool extra_ws = false;
  HERD_TRY(read_normalizer(member(root, "normalizer"), source, &charsmap, &extra_ws));
  bool dummy_prefix = true;
  HERD_TRY(read_pre_tokenizer(member(root, "pre_tokenizer"), source, &dummy_prefix));
  SpNormalizerOptions opts;
  opts.add_dummy_prefix = dummy_prefix;
  opts.remove_extra_whitespaces = extra_ws;
  opts.escape_whitespaces = true;
  HERD_ASSIGN_OR_RETURN(t.normalizer_, SpNormalizer::create(charsmap, opts, source));

  if (const json* post = member(root, "post_processor")) {
    if (type_of(*post) != "TemplateProcessing")
      return unsupported(source, "post_processor type '" + type_of(*post) + "' (herd reads TemplateProcessing)");
    const json* single = member(*post, "single");
    const json* specials = member(*post, "special_tokens");
    if (!single || !single->is_array() || !specials || !specials->is_object())
      return bad(source, "post_processor TemplateProcessing without 'single' and 'special_tokens'");
    bool after = false, seen_a = false;
    for (const json& item : *single) {
      if (member(item, "Sequence")) {
        if (seen_a) return unsupported(source, "post_processor 'single' with the sequence twice");
        seen_a = after = true;
        continue;
      }
      const json* sp = member(item, "SpecialToken");
      const json* name = sp ? member(*sp, "id") : nullptr;
      if (!name || !name->is_string()) return bad(source, "post_processor 'single' item is neither Sequence nor SpecialToken");
      const json* entry = member(*specials, name->get_ref<const std::string&>().c_str());
      const json* ids = entry ? member(*entry, "ids") : nullptr;
      if (!ids || !ids->is_array()) return bad(source, "post_processor special token '" + name->get<std::string>() + "' has no ids");
      for (const json& id : *ids) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > std::numeric_limits<int32_t>::max())
          return bad(source, "post_processor special token id out of range");
        (after ? t.suffix_ : t.prefix_).push_back(static_cast<int32_t>(id.get<int64_t>()));
      }
    }
    if (!seen_a) return bad(source, "post_processor 'single' has no sequence");
  }
  return t;
}

int32_t UnigramTokenizer::step(size_t depth, uint8_t c, size_t* lo, size_t* hi) const {
  const auto byte_at = [&](int32_t id) -> int {
    const std::string& p = pieces_[static_cast<size_t>(id)];
    return p.size() <= depth ? -1 : static_cast<uint8_t>(p[depth]);
  };
  const auto first = sorted_.begin();
  *lo = static_cast<size_t>(std::partition_point(first + static_cast<ptrdiff_t>(*lo), first + static_cast<ptrdiff_t>(*hi),
                                                 [&](int32_t id) { return byte_at(id) < c; }) - first);
  *hi = static_cast<size_t>(std::partition_point(first + static_cast<ptrdiff_t>(*lo), first + static_cast<ptrdiff_t>(*hi),
                                                 [&](int32_t id) { return byte_at(id) <= c; }) - first);
  if (*lo == *hi) return -1;
  const int32_t id = sorted_[*lo];
  return pieces_[static_cast<size_t>(id)].size() == depth + 1 ? id : -1;
}

std::vector<int32_t> UnigramTokenizer::encode(std::string_view text) const {
  const std::string norm = normalizer_.normalize(text);
  const size_t size = norm.size();
  struct Best {
    float score = 0.0f;
    int64_t start = -1;
    int32_t id = -1;
  };
  std::vector<Best> best(size + 1);
  const float unk_score = min_score_ - kUnkPenalty;
  size_t start = 0;
  while (start < size) {
    const float here = best[start].score;
    static constexpr uint8_t kCharLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    const size_t mblen = std::min<size_t>(kCharLen[static_cast<uint8_t>(norm[start]) >> 4], size - start);
    bool has_single = false;
    size_t lo = 0, hi = sorted_.size();
    for (size_t d = 0; start + d < size && lo < hi; ++d) {
      const int32_t id = step(d, static_cast<uint8_t>(norm[start + d]), &lo, &hi);
      if (id < 0 || special_[static_cast<size_t>(id)]) continue;
      Best& target = best[start + d + 1];
      // SentencePiece forms this sum in double (its score expression is a
      // double) and stores the path's score as float; ties between paths of
      // the same pieces in another order fall as its do only this way.
      const double cand = static_cast<double>(scores_[static_cast<size_t>(id)]) + static_cast<double>(here);
      if (target.start == -1 || cand > static_cast<double>(target.score))
        target = {static_cast<float>(cand), static_cast<int64_t>(start), id};
      if (d + 1 == mblen) has_single = true;
    }
    if (!has_single) {
      Best& target = best[start + mblen];
      const float cand = unk_score + here;
      if (target.start == -1 || cand > target.score) target = {cand, static_cast<int64_t>(start), unk_id_};
    }
    start += mblen;
  }
  std::vector<int32_t> ids;
  for (size_t end = size; end > 0; end = static_cast<size_t>(best[end].start)) {
    // A run of unknown characters is one unknown piece, as SentencePiece
    // returns it (and HF's fuse_unk).
    if (best[end].id == unk_id_ && !ids.empty() && ids.back() == unk_id_) continue;
    ids.push_back(best[end].id);
  }
  std::reverse(ids.begin(), ids.end());
  return ids;
}

}  // namespace herd::tokenizer
