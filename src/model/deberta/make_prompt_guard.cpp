// Random-weight Prompt Guard directories (see make_prompt_guard.h).
#include "model/deberta/make_prompt_guard.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "base/half.h"
#include "base/mapped_file.h"
#include "base/rng.h"
#include "formats/safetensors_writer.h"
#include "model/deberta/deberta_config.h"
#include "tokenizer/unigram.h"

namespace herd::model::deberta {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Variant {
  const char* name;
  int64_t hidden, layers, heads, ff, vocab;
  int labels;  // 3: Prompt Guard's, 2: Prompt Guard 2's
};
constexpr Variant kVariants[] = {
    {"86m", 768, 12, 12, 3072, 251000, 3},
    {"2-86m", 768, 12, 12, 3072, 251000, 2},
    {"2-22m", 384, 12, 6, 1536, 128100, 2},
    {"tiny", 64, 2, 4, 128, 1024, 3},
};

uint64_t name_hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// The synthetic unigram vocabulary: specials, "▁", characters bare and after
// "▁", then words after "▁"; scores favour longer pieces as a trained
// model's do (a word beats its letters).
json synthetic_tokenizer(int64_t max_pieces) {
  std::vector<std::pair<std::string, double>> pieces = {{"[PAD]", 0}, {"[CLS]", 0}, {"[SEP]", 0}, {"[UNK]", 0}};
  const std::string sp = "\xe2\x96\x81";
  pieces.push_back({sp, -3.0});
  static const char* kWords[] = {
      "the", "to", "of", "and", "in", "is", "you", "that", "it", "for", "on", "with", "as", "are", "this",
      "be", "your", "all", "ignore", "previous", "instructions", "system", "prompt", "now", "do", "anything",
      "tell", "me", "how", "what", "please", "answer", "question", "user", "assistant", "rules", "secret",
      "password", "pretend", "act", "mode", "developer", "say", "write", "story", "hello", "world", "weather",
      "today", "capital", "france", "paris", "recipe", "code", "function", "data", "file", "email", "send"};
  for (int c = 33; c < 127; ++c) pieces.push_back({std::string(1, static_cast<char>(c)), -9.0 - c / 1000.0});
  for (int c = 33; c < 127; ++c) pieces.push_back({sp + std::string(1, static_cast<char>(c)), -8.5 - c / 1000.0});
  int rank = 0;
  for (const char* w : kWords) {
    pieces.push_back({sp + w, -5.0 - rank / 100.0});
    ++rank;
  }
  // Two-letter pieces to fill the vocabulary a little further.
  for (char a = 'a'; a <= 'z' && static_cast<int64_t>(pieces.size()) < max_pieces - 1; ++a)
    for (char b = 'a'; b <= 'z' && static_cast<int64_t>(pieces.size()) < max_pieces - 1; ++b)
      pieces.push_back({std::string{a, b}, -7.0 - (a - 'a') / 100.0 - (b - 'a') / 1000.0});
  json vocab = json::array();
  for (const auto& [p, s] : pieces) vocab.push_back(json::array({p, s}));
  const int64_t mask_id = static_cast<int64_t>(pieces.size());
  json added = json::array();
  const char* specials[] = {"[PAD]", "[CLS]", "[SEP]", "[UNK]"};
  for (int i = 0; i < 4; ++i)
    added.push_back({{"id", i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  added.push_back({{"id", mask_id}, {"content", "[MASK]"}, {"single_word", false}, {"lstrip", false},
                   {"rstrip", false}, {"normalized", false}, {"special", true}});
  const json metaspace = {{"type", "Metaspace"}, {"replacement", sp}, {"prepend_scheme", "always"}, {"split", true}};
  const auto special = [](const char* id) { return json{{"SpecialToken", {{"id", id}, {"type_id", 0}}}}; };
  json t = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         json::array({{{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}},
                      {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}})}}},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", json::array({metaspace})}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({special("[CLS]"), {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, special("[SEP]")})},
        {"pair", json::array({special("[CLS]"), {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, special("[SEP]"),
                              {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}, special("[SEP]")})},
        {"special_tokens",
         {{"[CLS]", {{"id", "[CLS]"}, {"ids", {1}}, {"tokens", {"[CLS]"}}}},
          {"[SEP]", {{"id", "[SEP]"}, {"ids", {2}}, {"tokens", {"[SEP]"}}}}}}}},
      {"decoder", metaspace},
      {"model", {{"type", "Unigram"}, {"unk_id", 3}, {"vocab", vocab}, {"byte_fallback", false}}},
  };
  return t;
}

Status write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  f.close();
  if (!f) return err(ErrorCode::kIo, "cannot write %s", p.string().c_str());
  return Ok{};
}

}  // namespace

Status make_prompt_guard(const PromptGuardMakeOptions& opt) {
  const Variant* v = nullptr;
  for (const Variant& x : kVariants)
    if (opt.variant == x.name) v = &x;
  if (!v)
    return err(ErrorCode::kInvalidArgument, "unknown Prompt Guard variant '%s' (86m, 2-86m, 2-22m, tiny)",
               opt.variant.c_str());
  formats::StDType st;
  if (opt.dtype == "f32") st = formats::StDType::kF32;
  else if (opt.dtype == "f16") st = formats::StDType::kF16;
  else if (opt.dtype == "bf16") st = formats::StDType::kBF16;
  else return err(ErrorCode::kInvalidArgument, "Prompt Guard dtype '%s' (f32, f16, bf16)", opt.dtype.c_str());
  if (opt.force_label >= v->labels)
    return err(ErrorCode::kInvalidArgument, "--force-label %d: the variant has %d labels", opt.force_label, v->labels);
  std::error_code ec;
  fs::create_directories(opt.out, ec);
  if (ec) return err(ErrorCode::kIo, "cannot create %s: %s", opt.out.c_str(), ec.message().c_str());

  // Tokenizer first: its size bounds the vocabulary.
  std::string tok_text;
  if (!opt.tokenizer.empty()) {
    HERD_ASSIGN_OR_RETURN(tok_text, read_text_file(opt.tokenizer, tokenizer::UnigramTokenizer::kMaxFileBytes));
  } else {
    tok_text = synthetic_tokenizer(v->vocab).dump();
  }
  HERD_ASSIGN_OR_RETURN(tokenizer::UnigramTokenizer tok, tokenizer::UnigramTokenizer::from_json(tok_text, "tokenizer"));
  const int64_t vocab = std::max<int64_t>(v->vocab, tok.vocab_size() + 1);
  HERD_TRY(write_text(fs::path(opt.out) / "tokenizer.json", tok_text));

  json id2label, label2id;
  const char* names3[] = {"BENIGN", "INJECTION", "JAILBREAK"};
  for (int i = 0; i < v->labels; ++i) {
    const std::string name = v->labels == 3 ? names3[i] : "LABEL_" + std::to_string(i);
    id2label[std::to_string(i)] = name;
    label2id[name] = i;
  }
  const json config = {
      {"architectures", {"DebertaV2ForSequenceClassification"}},
      {"attention_probs_dropout_prob", 0.1},
      {"hidden_act", "gelu"},
      {"hidden_dropout_prob", 0.1},
      {"hidden_size", v->hidden},
      {"id2label", id2label},
      {"initializer_range", 0.02},
      {"intermediate_size", v->ff},
      {"label2id", label2id},
      {"layer_norm_eps", 1e-7},
      {"max_position_embeddings", 512},
      {"max_relative_positions", -1},
      {"model_type", "deberta-v2"},
      {"norm_rel_ebd", "layer_norm"},
      {"num_attention_heads", v->heads},
      {"num_hidden_layers", v->layers},
      {"pad_token_id", 0},
      {"pooler_dropout", 0},
      {"pooler_hidden_act", "gelu"},
      {"pooler_hidden_size", v->hidden},
      {"pos_att_type", {"p2c", "c2p"}},
      {"position_biased_input", false},
      {"position_buckets", 256},
      {"relative_attention", true},
      {"share_att_key", true},
      {"torch_dtype", opt.dtype == "f32" ? "float32" : opt.dtype == "f16" ? "float16" : "bfloat16"},
      {"type_vocab_size", 0},
      {"vocab_size", vocab},
  };
  HERD_TRY(write_text(fs::path(opt.out) / "config.json", config.dump(2) + "\n"));
  // Read back through herd's own parser: what is written must load.
  HERD_TRY(parse_deberta_config(config.dump(), "config.json"));

  const json special_map = {{"bos_token", "[CLS]"}, {"cls_token", "[CLS]"}, {"eos_token", "[SEP]"},
                            {"mask_token", "[MASK]"}, {"pad_token", "[PAD]"}, {"sep_token", "[SEP]"},
                            {"unk_token", "[UNK]"}};
  HERD_TRY(write_text(fs::path(opt.out) / "special_tokens_map.json", special_map.dump(2) + "\n"));
  json tok_config = special_map;
  tok_config["do_lower_case"] = false;
  tok_config["model_max_length"] = 512;
  tok_config["split_by_punct"] = false;
  tok_config["sp_model_kwargs"] = json::object();
  tok_config["tokenizer_class"] = "DebertaV2Tokenizer";
  tok_config["vocab_type"] = "spm";
  HERD_TRY(write_text(fs::path(opt.out) / "tokenizer_config.json", tok_config.dump(2) + "\n"));

  formats::SafetensorsWriter w;
  w.set_metadata("format", "pt");
  const auto add = [&](const std::string& name, std::vector<int64_t> shape, int kind) -> Status {
    // kind 0: 0.02 x a unit-variance draw; 1: 1 + 0.1 x a draw (norm weight); 2: the forced
    // classifier bias. Draws are base/rng.h approx_normal (Box-Muller per value made the 86M
    // model's 278M values take ~9 s).
    return w.add_tensor(name, st, shape, [&, name, kind, shape](uint8_t* dst, uint64_t) -> Status {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      Rng r(opt.seed, name_hash(name));
      for (int64_t i = 0; i < n; ++i) {
        const float z = approx_normal(r.at(static_cast<uint64_t>(i)));
        float x = kind == 1 ? 1.0f + 0.1f * z : 0.02f * z;
        if (kind == 2) x = i == opt.force_label ? 30.0f : 0.0f;
        if (st == formats::StDType::kF32) {
          std::memcpy(dst + 4 * i, &x, 4);
        } else {
          const uint16_t h = st == formats::StDType::kF16 ? f32_to_f16(x) : f32_to_bf16(x);
          std::memcpy(dst + 2 * i, &h, 2);
        }
      }
      return Ok{};
    });
  };
  const int64_t H = v->hidden;
  HERD_TRY(add("deberta.embeddings.word_embeddings.weight", {vocab, H}, 0));
  HERD_TRY(add("deberta.embeddings.LayerNorm.weight", {H}, 1));
  HERD_TRY(add("deberta.embeddings.LayerNorm.bias", {H}, 0));
  for (int64_t l = 0; l < v->layers; ++l) {
    const std::string p = "deberta.encoder.layer." + std::to_string(l) + ".";
    for (const char* proj : {"query_proj", "key_proj", "value_proj"}) {
      HERD_TRY(add(p + "attention.self." + proj + ".weight", {H, H}, 0));
      HERD_TRY(add(p + "attention.self." + proj + ".bias", {H}, 0));
    }
    HERD_TRY(add(p + "attention.output.dense.weight", {H, H}, 0));
    HERD_TRY(add(p + "attention.output.dense.bias", {H}, 0));
    HERD_TRY(add(p + "attention.output.LayerNorm.weight", {H}, 1));
    HERD_TRY(add(p + "attention.output.LayerNorm.bias", {H}, 0));
    HERD_TRY(add(p + "intermediate.dense.weight", {v->ff, H}, 0));
    HERD_TRY(add(p + "intermediate.dense.bias", {v->ff}, 0));
    HERD_TRY(add(p + "output.dense.weight", {H, v->ff}, 0));
    HERD_TRY(add(p + "output.dense.bias", {H}, 0));
    HERD_TRY(add(p + "output.LayerNorm.weight", {H}, 1));
    HERD_TRY(add(p + "output.LayerNorm.bias", {H}, 0));
  }
  HERD_TRY(add("deberta.encoder.rel_embeddings.weight", {512, H}, 0));
  HERD_TRY(add("deberta.encoder.LayerNorm.weight", {H}, 1));
  HERD_TRY(add("deberta.encoder.LayerNorm.bias", {H}, 0));
  HERD_TRY(add("pooler.dense.weight", {H, H}, 0));
  HERD_TRY(add("pooler.dense.bias", {H}, 0));
  HERD_TRY(add("classifier.weight", {v->labels, H}, 0));
  HERD_TRY(add("classifier.bias", {v->labels}, opt.force_label >= 0 ? 2 : 0));
  return w.write((fs::path(opt.out) / "model.safetensors").string());
}

}  // namespace herd::model::deberta
