// See model_card.h.
#include "model_card.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "base/mapped_file.h"
#include "formats/gguf.h"
#include "formats/hf_checkpoint.h"
#include "formats/torch_checkpoint.h"
#include "model/file_types.h"

namespace herd::cli {
namespace {

using Json = nlohmann::json;

// A GGUF scalar as JSON; arrays (the vocabulary, merges) as [] as Ollama shows them
// unless asked for verbose output.
Json gguf_json(const formats::GgufValue& v) {
  if (v.is_array()) return Json::array();
  if (v.type() == formats::GgufType::kBool) return v.as_bool();
  if (v.type() == formats::GgufType::kString) return std::string(v.as_string_view());
  if (v.is_float()) return *v.as_float();
  if (auto i = v.as_int(); i.has_value()) return *i;
  if (auto u = v.as_uint(); u.has_value()) return *u;
  return Json();
}

// Names the file by what `ls -l` shows (absolute path, size, mtime): a stable tag
// for clients that cache by digest, not a hash of the contents (hashing a 70B file
// at start-up would take minutes). SplitMix64 over the bytes, four lanes.
std::string identity_digest(const std::string& key) {
  std::string out;
  for (uint64_t lane = 0; lane < 4; ++lane) {
    uint64_t h = 0x9e3779b97f4a7c15ull * (lane + 1);
    for (unsigned char c : key) {
      h ^= c;
      h += 0x9e3779b97f4a7c15ull;
      h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
      h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
      h ^= h >> 31;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    out += buf;
  }
  return out;
}

void add_file(const std::string& path, server::ModelCard& card) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return;
  card.size_bytes += static_cast<int64_t>(st.st_size);
  card.modified_unix = std::max<int64_t>(card.modified_unix, static_cast<int64_t>(st.st_mtime));
}

}  // namespace

server::ModelCard model_card(const model::LlamaModel& m, const std::string& path, uint64_t kv_bytes) {
  const model::LlamaConfig& c = m.config();
  server::ModelCard card;
  Json& info = card.model_info;
  info["general.architecture"] = "llama";
  info["llama.block_count"] = c.n_layers;
  info["llama.context_length"] = c.n_ctx_train;
  info["llama.embedding_length"] = c.d_model;
  info["llama.feed_forward_length"] = c.d_ff;
  info["llama.attention.head_count"] = c.n_heads;
  info["llama.attention.head_count_kv"] = c.n_kv_heads;
  info["llama.attention.layer_norm_rms_epsilon"] = c.rms_eps;
  info["llama.rope.dimension_count"] = c.head_dim;
  info["llama.rope.freq_base"] = c.rope_theta;
  info["llama.vocab_size"] = c.vocab_size;
  info["tokenizer.ggml.bos_token_id"] = c.bos_id;
  if (const formats::GgufFile* g = m.gguf()) {
    card.format = "gguf";
    for (const auto& [k, v] : g->metadata()) info[k] = gguf_json(v);
    for (const formats::GgufTensor& t : g->tensors()) card.parameter_count += t.view().numel();
    if (const formats::GgufValue* ft = g->find("general.file_type"))
      if (auto id = ft->as_uint(); id.has_value())
        if (const model::FileType* f = model::file_type_by_gguf(static_cast<uint32_t>(*id))) card.quantization = f->display;
    if (auto t = g->get_string("tokenizer.chat_template"); t.has_value()) card.chat_template = *t;
    add_file(path, card);
  } else if (const formats::HfCheckpoint* h = m.hf()) {
    card.format = "safetensors";
    for (const formats::StTensor* t : h->tensors()) {
      int64_t n = 1;
      for (int64_t d : t->shape) n *= d;
      card.parameter_count += n;
    }
    for (const std::string& f : h->files()) add_file(h->dir() + "/" + f, card);
    add_file(h->dir() + "/config.json", card);
    if (auto cfg = read_text_file(h->dir() + "/tokenizer_config.json", 64u << 20); cfg.has_value()) {
      Json tc = Json::parse(*cfg, nullptr, false);
      if (tc.is_object() && tc.contains("chat_template") && tc["chat_template"].is_string())
        card.chat_template = tc["chat_template"].get<std::string>();
    }
  } else if (m.format() == model::ModelFormat::kMeta) {
    card.format = "pytorch";
    for (const formats::TorchCheckpoint* s : m.meta_shards()) {
      for (const formats::TorchTensor& t : s->tensors()) card.parameter_count += static_cast<int64_t>(t.numel());
      add_file(s->path(), card);
    }
    add_file(m.path() + "/params.json", card);
  }
  if (card.quantization.empty() && !m.layers().empty()) {
    std::string d = dtype_name(m.layers()[0].wq.w.file_dtype());
    for (char& ch : d) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    card.quantization = d;
  }
  info["general.parameter_count"] = card.parameter_count;
  char abs[4096];
  const std::string key = (realpath(path.c_str(), abs) ? std::string(abs) : path) + "|" +
                          std::to_string(card.size_bytes) + "|" + std::to_string(card.modified_unix);
  card.digest = identity_digest(key);
  card.memory_bytes = static_cast<int64_t>(m.weight_bytes() + kv_bytes);
  return card;
}

}  // namespace herd::cli
