// GGUF arrays and HF JSON files from a Vocab (see vocab_export.h). The large parts of
// tokenizer.json (vocab, merges) are written by hand: nlohmann::ordered_json inserts in
// linear time, which would be quadratic over 128000 keys.
#include "tokenizer/vocab_export.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenize.h"

namespace herd::tokenizer {
namespace {

using ojson = nlohmann::ordered_json;

std::string dump(const ojson& j, int indent = -1) {
  return j.dump(indent, ' ', false, ojson::error_handler_t::replace);
}

std::string quote(const std::string& s) { return dump(ojson(s)); }

// (left id, right id) pairs of every merge, in output order.
std::vector<std::pair<int32_t, int32_t>> merge_pairs(const Vocab& v) {
  RankTable ranks;
  ranks.build(v.token_bytes, v.n_ranked);
  std::vector<std::pair<int32_t, int32_t>> out, local;
  for (int32_t id = 0; id < v.n_ranked; ++id) {
    std::string_view t = v.token_bytes[static_cast<size_t>(id)];
    if (t.size() < 2) continue;
    local.clear();
    for (size_t k = 1; k < t.size(); ++k) {
      const int32_t l = ranks.find(t.substr(0, k));
      if (l < 0) continue;
      const int32_t r = ranks.find(t.substr(k));
      if (r >= 0) local.emplace_back(l, r);
    }
    std::sort(local.begin(), local.end());
    out.insert(out.end(), local.begin(), local.end());
  }
  return out;
}

ojson added_token(const Vocab& v, int32_t id) {
  ojson t;
  t["id"] = id;
  t["content"] = v.token_bytes[static_cast<size_t>(id)];
  t["single_word"] = false;
  t["lstrip"] = false;
  t["rstrip"] = false;
  t["normalized"] = false;
  t["special"] = v.token_types[static_cast<size_t>(id)] == kTokenTypeControl;
  return t;
}

std::string token_text(const Vocab& v, int32_t id) {
  return id >= 0 && id < v.size() ? v.token_bytes[static_cast<size_t>(id)] : std::string();
}

}  // namespace

std::vector<std::string> gguf_token_strings(const Vocab& v) {
  std::vector<std::string> out;
  out.reserve(v.token_bytes.size());
  for (int32_t id = 0; id < v.size(); ++id) {
    const std::string& b = v.token_bytes[static_cast<size_t>(id)];
    out.push_back(id < v.n_ranked ? bytes_to_byte_level(b) : b);
  }
  return out;
}

std::vector<int32_t> gguf_token_types(const Vocab& v) { return v.token_types; }

std::vector<std::string> gguf_merges(const Vocab& v) {
  std::vector<std::string> bl;  // byte-level text per ranked id
  bl.reserve(static_cast<size_t>(v.n_ranked));
  for (int32_t id = 0; id < v.n_ranked; ++id) bl.push_back(bytes_to_byte_level(v.token_bytes[static_cast<size_t>(id)]));
  std::vector<std::string> out;
  for (auto [l, r] : merge_pairs(v)) {
    out.push_back(bl[static_cast<size_t>(l)] + " " + bl[static_cast<size_t>(r)]);
  }
  return out;
}

std::string hf_tokenizer_json(const Vocab& v) {
  const std::string bos = token_text(v, v.bos_id);
  std::string out;
  out.reserve(size_t{12} << 20);
  out += "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n";
  out += "  \"added_tokens\": [";
  for (int32_t id = v.n_ranked; id < v.size(); ++id) {
    out += id == v.n_ranked ? "\n    " : ",\n    ";
    out += dump(added_token(v, id));
  }
  out += "\n  ],\n  \"normalizer\": null,\n";

  ojson pre;
  pre["type"] = "Sequence";
  ojson split;
  split["type"] = "Split";
  split["pattern"]["Regex"] = kLlama3PretokenizePattern;
  split["behavior"] = "Isolated";
  split["invert"] = false;
  ojson byte_level_pre;
  byte_level_pre["type"] = "ByteLevel";
  byte_level_pre["add_prefix_space"] = false;
  byte_level_pre["trim_offsets"] = true;
  byte_level_pre["use_regex"] = false;
  pre["pretokenizers"] = ojson::array({split, byte_level_pre});
  out += "  \"pre_tokenizer\": " + dump(pre) + ",\n";

  ojson post;
  post["type"] = "Sequence";
  ojson bl_post;
  bl_post["type"] = "ByteLevel";
  bl_post["add_prefix_space"] = true;
  bl_post["trim_offsets"] = false;
  bl_post["use_regex"] = true;
  auto special = [&](int type_id) {
    ojson s;
    s["SpecialToken"]["id"] = bos;
    s["SpecialToken"]["type_id"] = type_id;
    return s;
  };
  auto seq = [](const char* name, int type_id) {
    ojson s;
    s["Sequence"]["id"] = name;
    s["Sequence"]["type_id"] = type_id;
    return s;
  };
  ojson tmpl;
  tmpl["type"] = "TemplateProcessing";
  tmpl["single"] = ojson::array({special(0), seq("A", 0)});
  tmpl["pair"] = ojson::array({special(0), seq("A", 0), special(1), seq("B", 1)});
  ojson st;
  st["id"] = bos;
  st["ids"] = ojson::array({v.bos_id});
  st["tokens"] = ojson::array({bos});
  tmpl["special_tokens"][bos] = st;
  post["processors"] = ojson::array({bl_post, tmpl});
  out += "  \"post_processor\": " + dump(post) + ",\n";

  ojson dec;
  dec["type"] = "ByteLevel";
  dec["add_prefix_space"] = true;
  dec["trim_offsets"] = true;
  dec["use_regex"] = true;
  out += "  \"decoder\": " + dump(dec) + ",\n";

  out += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
         "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
         "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": true,\n"
         "    \"vocab\": {";
  std::vector<std::string> keys;  // quoted byte-level text per ranked id
  keys.reserve(static_cast<size_t>(v.n_ranked));
  for (int32_t id = 0; id < v.n_ranked; ++id) {
    keys.push_back(quote(bytes_to_byte_level(v.token_bytes[static_cast<size_t>(id)])));
    out += id == 0 ? "\n      " : ",\n      ";
    out += keys.back();
    out += ": ";
    out += std::to_string(id);
  }
  out += "\n    },\n    \"merges\": [";
  bool first = true;
  for (auto [l, r] : merge_pairs(v)) {
    out += first ? "\n      [" : ",\n      [";
    first = false;
    out += keys[static_cast<size_t>(l)];
    out += ", ";
    out += keys[static_cast<size_t>(r)];
    out += "]";
  }
  out += "\n    ]\n  }\n}\n";
  return out;
}

std::string hf_tokenizer_config_json(const Vocab& v, bool instruct, const std::string& chat_template) {
  ojson c;
  ojson decoder = ojson::object();
  for (int32_t id = v.n_ranked; id < v.size(); ++id) {
    ojson t = added_token(v, id);
    t.erase("id");
    decoder[std::to_string(id)] = t;
  }
  c["added_tokens_decoder"] = decoder;
  c["bos_token"] = token_text(v, v.bos_id);
  // The template text is the caller's (a converted model's own); none for a made model.
  if (!chat_template.empty()) c["chat_template"] = chat_template;
  c["clean_up_tokenization_spaces"] = true;
  c["eos_token"] = token_text(v, instruct ? v.eot_id : v.end_of_text_id);
  c["model_input_names"] = ojson::array({"input_ids", "attention_mask"});
  c["model_max_length"] = 131072;
  c["tokenizer_class"] = "PreTrainedTokenizerFast";
  return dump(c, 2) + "\n";
}

}  // namespace herd::tokenizer
