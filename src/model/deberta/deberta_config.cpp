// config.json of a DeBERTa-v2/v3 classifier (see deberta_config.h).
#include "model/deberta/deberta_config.h"

#include <cmath>

#include "base/mapped_file.h"
#include "formats/config_json.h"

namespace herd::model::deberta {

namespace cj = formats::config_json;

Result<DebertaConfig> parse_deberta_config(std::string_view json_text, const char* file) {
  HERD_ASSIGN_OR_RETURN(cj::Json root, cj::parse_object(json_text, file));
  const cj::Fields f(root, file);
  DebertaConfig c;
  HERD_ASSIGN_OR_RETURN(std::optional<std::string> model_type, f.opt_string("model_type"));
  if (model_type != "deberta-v2")
    return err(ErrorCode::kUnsupported, "%s: model_type is '%s', expected 'deberta-v2' (DeBERTa-v2/v3)", file,
               model_type ? model_type->c_str() : "(absent)");
  if (const cj::Json* a = f.get("architectures")) {
    if (!a->is_array() || a->size() != 1 || (*a)[0] != "DebertaV2ForSequenceClassification")
      return err(ErrorCode::kUnsupported, "%s: architectures is %s, expected [\"DebertaV2ForSequenceClassification\"]",
                 file, cj::found(*a).c_str());
  }
  const auto dim_or = [&](const char* key, int64_t def, int64_t cap) -> Result<int64_t> {
    HERD_ASSIGN_OR_RETURN(std::optional<int64_t> v, f.opt_int(key));
    return v ? f.check_dim(key, *v, cap) : Result<int64_t>(def);
  };
  HERD_ASSIGN_OR_RETURN(c.vocab_size, dim_or("vocab_size", c.vocab_size, cj::kMaxVocab));
  HERD_ASSIGN_OR_RETURN(c.hidden_size, dim_or("hidden_size", c.hidden_size, cj::kMaxWidth));
  HERD_ASSIGN_OR_RETURN(c.embedding_size, dim_or("embedding_size", c.hidden_size, cj::kMaxWidth));
  HERD_ASSIGN_OR_RETURN(c.num_hidden_layers, dim_or("num_hidden_layers", c.num_hidden_layers, cj::kMaxLayers));
  HERD_ASSIGN_OR_RETURN(c.num_attention_heads, dim_or("num_attention_heads", c.num_attention_heads, cj::kMaxWidth));
  HERD_ASSIGN_OR_RETURN(c.intermediate_size, dim_or("intermediate_size", c.intermediate_size, cj::kMaxWidth));
  HERD_ASSIGN_OR_RETURN(c.max_position_embeddings, dim_or("max_position_embeddings", c.max_position_embeddings, 1 << 16));
  HERD_ASSIGN_OR_RETURN(c.pooler_hidden_size, dim_or("pooler_hidden_size", c.hidden_size, cj::kMaxWidth));
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> tv, f.opt_int("type_vocab_size"));
  if (tv) {
    if (*tv < 0 || *tv > 16) return f.bad_value("type_vocab_size", "is outside 0..16");
    c.type_vocab_size = *tv;
  }
  if (c.hidden_size % c.num_attention_heads != 0)
    return f.bad_value("num_attention_heads", "does not divide hidden_size");
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> ahs, f.opt_int("attention_head_size"));
  if (ahs && *ahs * c.num_attention_heads != c.hidden_size)
    return err(ErrorCode::kUnsupported, "%s: attention_head_size * heads != hidden_size is not supported", file);
  HERD_ASSIGN_OR_RETURN(std::optional<double> eps, f.opt_double("layer_norm_eps"));
  if (eps) {
    if (!(*eps > 0 && *eps < 1)) return f.bad_value("layer_norm_eps", "is outside (0, 1)");
    c.layer_norm_eps = *eps;
  }
  for (const char* key : {"hidden_act", "pooler_hidden_act"}) {
    HERD_ASSIGN_OR_RETURN(std::optional<std::string> act, f.opt_string(key));
    if (act && *act != "gelu")
      return err(ErrorCode::kUnsupported, "%s: %s is '%s'; herd's DeBERTa has 'gelu' only", file, key, act->c_str());
  }
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> conv, f.opt_int("conv_kernel_size"));
  if (conv && *conv > 0)
    return err(ErrorCode::kUnsupported, "%s: conv_kernel_size %lld (DeBERTa-v2's convolution layer) is not supported",
               file, static_cast<long long>(*conv));
  HERD_ASSIGN_OR_RETURN(std::optional<bool> ra, f.opt_bool("relative_attention"));
  c.relative_attention = ra.value_or(false);
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> mrp, f.opt_int("max_relative_positions"));
  c.max_relative_positions = mrp.value_or(-1);
  if (c.max_relative_positions < 1) c.max_relative_positions = c.max_position_embeddings;
  if (c.max_relative_positions > (1 << 16)) return f.bad_value("max_relative_positions", "is above 65536");
  HERD_ASSIGN_OR_RETURN(std::optional<int64_t> pb, f.opt_int("position_buckets"));
  c.position_buckets = pb.value_or(-1);
  if (c.position_buckets > (1 << 15)) return f.bad_value("position_buckets", "is above 32768");
  if (c.position_buckets > 0 && c.max_relative_positions <= c.position_buckets / 2 + 1)
    return f.bad_value("max_relative_positions", "must exceed position_buckets / 2 + 1 for log buckets");
  HERD_ASSIGN_OR_RETURN(std::optional<bool> pbi, f.opt_bool("position_biased_input"));
  c.position_biased_input = pbi.value_or(true);
  HERD_ASSIGN_OR_RETURN(std::optional<bool> sak, f.opt_bool("share_att_key"));
  c.share_att_key = sak.value_or(false);
  if (const cj::Json* pat = f.get("pos_att_type")) {
    std::vector<std::string> types;
    if (pat->is_string()) {  // "p2c|c2p", as older configs write it
      std::string s = pat->get<std::string>();
      size_t b = 0;
      while (b <= s.size()) {
        size_t e = s.find('|', b);
        if (e == std::string::npos) e = s.size();
        if (e > b) types.push_back(s.substr(b, e - b));
        b = e + 1;
      }
    } else if (pat->is_array()) {
      for (const cj::Json& t : *pat) {
        if (!t.is_string()) return f.wrong_type("pos_att_type", "strings", *pat);
        types.push_back(t.get<std::string>());
      }
    } else {
      return f.wrong_type("pos_att_type", "a list of strings", *pat);
    }
    for (const std::string& t : types) {
      if (t == "c2p") c.c2p = true;
      else if (t == "p2c") c.p2c = true;
      else return err(ErrorCode::kUnsupported, "%s: pos_att_type '%s' is not supported (c2p, p2c)", file, t.c_str());
    }
  }
  HERD_ASSIGN_OR_RETURN(std::optional<std::string> nre, f.opt_string("norm_rel_ebd"));
  c.norm_rel_ebd_layer_norm = nre && nre->find("layer_norm") != std::string::npos;

  if (const cj::Json* labels = f.get("id2label")) {
    if (!labels->is_object() || labels->empty() || labels->size() > 64)
      return f.wrong_type("id2label", "an object of 1..64 labels", *labels);
    c.labels.assign(labels->size(), std::string());
    for (auto it = labels->begin(); it != labels->end(); ++it) {
      char* end = nullptr;
      const long id = std::strtol(it.key().c_str(), &end, 10);
      if (it.key().empty() || *end != '\0' || id < 0 || id >= static_cast<long>(labels->size()) ||
          !it.value().is_string() || !c.labels[static_cast<size_t>(id)].empty())
        return f.bad_value("id2label", "must map the ids 0..n-1, once each, to label strings");
      c.labels[static_cast<size_t>(id)] = it.value().get<std::string>();
    }
  } else {
    HERD_ASSIGN_OR_RETURN(int64_t n, dim_or("num_labels", 2, 64));
    for (int64_t i = 0; i < n; ++i) c.labels.push_back("LABEL_" + std::to_string(i));
  }
  return c;
}

Result<DebertaConfig> load_deberta_config(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(std::string text, read_text_file(path, cj::kMaxConfigBytes));
  auto c = parse_deberta_config(text, path.c_str());
  if (!c) return std::move(c.error());
  return c;
}

int64_t deberta_relative_position(int64_t i, int64_t j, int64_t bucket_size, int64_t max_position) {
  const int64_t rel = i - j;
  if (bucket_size <= 0 || max_position <= 0) return rel;
  const int64_t mid = bucket_size / 2;
  const int64_t abs_pos = (rel < mid && rel > -mid) ? mid - 1 : (rel < 0 ? -rel : rel);
  if (abs_pos <= mid) return rel;
  const double log_pos =
      std::ceil(std::log(static_cast<double>(abs_pos) / mid) / std::log(static_cast<double>(max_position - 1) / mid) *
                static_cast<double>(mid - 1)) +
      static_cast<double>(mid);
  const int64_t b = static_cast<int64_t>(log_pos);
  return rel < 0 ? -b : b;
}

}  // namespace herd::model::deberta
