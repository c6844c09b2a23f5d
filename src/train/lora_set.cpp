// LoRA adapters, their initialisation and PEFT files (lora_set.h).
#include "train/lora_set.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "base/rng.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "formats/hf_permute.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"
#include "model/llama_tensors.h"
#include "tensor/quant.h"

namespace herd::train {
namespace {

constexpr const char* kShort[7] = {"q", "k", "v", "o", "gate", "up", "down"};
constexpr const char* kPeftModule[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
constexpr model::LlamaTensor kTensor[7] = {model::LlamaTensor::kWq,    model::LlamaTensor::kWk,
                                           model::LlamaTensor::kWv,    model::LlamaTensor::kWo,
                                           model::LlamaTensor::kWGate, model::LlamaTensor::kWUp,
                                           model::LlamaTensor::kWDown};

std::string peft_name(int64_t layer, int slot, char ab) {
  return "base_model.model.model.layers." + std::to_string(layer) + "." + kPeftModule[slot] + ".lora_" +
         std::string(1, ab) + ".weight";
}

// The q and k rows of B are permuted between the model's order and a file's:
// PEFT files hold Hugging Face's order, GGUF files Meta's (file_meta).
bool permuted(const model::LlamaModel& m, int slot, bool file_meta = false) {
  const bool model_meta = m.config().rope_style == kernels::RopeStyle::kInterleaved;
  return slot <= 1 && model_meta != file_meta;
}
int64_t heads_of(const model::LlamaModel& m, int slot) {
  return slot == 0 ? m.config().n_heads : m.config().n_kv_heads;
}

// Shape [n, k] of layer matrix `slot`.
std::pair<int64_t, int64_t> matrix_shape(const model::LlamaModel& m, size_t il, int slot) {
  std::pair<int64_t, int64_t> s;
  int i = 0;
  model::for_each_layer_linear(m.layers()[il], [&](model::LlamaTensor, const model::Linear& lin) {
    if (i++ == slot) s = {lin.w.rows(), lin.w.cols()};
  });
  return s;
}

Status write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) return err(ErrorCode::kIo, "%s: cannot write", tmp.c_str());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return err(ErrorCode::kIo, "%s: cannot rename", path.c_str());
  return Ok{};
}

}  // namespace

Result<LoraTargets> parse_lora_targets(const std::string& list) {
  if (list == "all") return kAllTargets;
  LoraTargets t = 0;
  size_t b = 0;
  while (b <= list.size()) {
    const size_t e = std::min(list.find(',', b), list.size());
    const std::string name = list.substr(b, e - b);
    int found = -1;
    for (int i = 0; i < 7; ++i)
      if (name == kShort[i] || name == std::string(kShort[i]) + "_proj") found = i;
    if (found < 0)
      return err(ErrorCode::kInvalidArgument, "--lora-targets: unknown module '%s' (q, k, v, o, gate, up, down or all)",
                 name.c_str());
    t |= static_cast<LoraTargets>(1u << found);
    b = e + 1;
  }
  return t;
}

std::string lora_targets_string(LoraTargets t) {
  std::string s;
  for (int i = 0; i < 7; ++i)
    if (t & (1u << i)) s += (s.empty() ? "" : ",") + std::string(kShort[i]);
  return s;
}

double LoraSpec::scale() const { return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / rank; }

void LoraSet::link_grads() {
  for (auto& g : grads_.layers) g = model::LayerGrads{};
  for (Entry& e : entries_)
    grads_.layers[static_cast<size_t>(e.layer - first_layer_)].lora[static_cast<size_t>(e.slot)] = {e.da.data(),
                                                                                                  e.db.data()};
}

Result<LoraSet> LoraSet::create(const model::LlamaModel& m, const LoraSpec& spec, uint64_t seed) {
  if (spec.rank < 1 || spec.rank > 4096) return err(ErrorCode::kInvalidArgument, "--lora-rank %lld: 1..4096", static_cast<long long>(spec.rank));
  if (!(spec.alpha > 0)) return err(ErrorCode::kInvalidArgument, "--lora-alpha must be > 0");
  if (spec.targets == 0) return err(ErrorCode::kInvalidArgument, "--lora-targets: none");
  if (!m.holds_embedding() || !m.holds_head())
    return err(ErrorCode::kInvalidArgument, "LoRA training needs the whole model (it holds a layer range)");
  LoraSet s;
  s.spec_ = spec;
  s.grads_.layers.resize(m.layers().size());
  for (size_t il = 0; il < m.layers().size(); ++il) {
    for (int slot = 0; slot < 7; ++slot) {
      if (!(spec.targets & (1u << slot))) continue;
      Entry e;
      e.layer = static_cast<int64_t>(il);
      e.slot = slot;
      std::tie(e.n, e.k) = matrix_shape(m, il, slot);
      e.a.resize(static_cast<size_t>(spec.rank * e.k));
      e.b.assign(static_cast<size_t>(e.n * spec.rank), 0.0f);
      e.da.assign(e.a.size(), 0.0f);
      e.db.assign(e.b.size(), 0.0f);
      // Kaiming-uniform with a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in)).
      Rng r(seed, static_cast<uint64_t>(il * 7 + static_cast<size_t>(slot)));
      const double bound = 1.0 / std::sqrt(static_cast<double>(e.k));
      for (float& v : e.a) v = static_cast<float>((2.0 * r.next_double() - 1.0) * bound);
      s.entries_.push_back(std::move(e));
    }
  }
  s.link_grads();
  return s;
}

Status LoraSet::attach(model::LlamaModel& m, float weight, int32_t set, int32_t id) const {
  for (const Entry& e : entries_) {
    const model::LoraAdapter ad{e.a.data(), e.b.data(), spec_.rank, static_cast<float>(spec_.scale() * weight), set,
                                id,         spec_.scale(), weight};
    HERD_TRY(m.attach_lora(e.layer, kTensor[e.slot], ad));
  }
  return Ok{};
}

std::optional<LoraSet::Matrix> LoraSet::matrix(int64_t layer, model::LlamaTensor t) const {
  for (const Entry& e : entries_)
    if (e.layer == layer && kTensor[e.slot] == t) return Matrix{e.a.data(), e.b.data(), spec_.rank, e.n, e.k, spec_.scale()};
  return std::nullopt;
}

std::vector<Param> LoraSet::params() {
  std::vector<Param> p;
  for (Entry& e : entries_) {
    p.push_back({e.a.data(), e.da.data(), static_cast<int64_t>(e.a.size())});
    p.push_back({e.b.data(), e.db.data(), static_cast<int64_t>(e.b.size())});
  }
  return p;
}

void LoraSet::zero_grads() {
  for (Entry& e : entries_) {
    std::fill(e.da.begin(), e.da.end(), 0.0f);
    std::fill(e.db.begin(), e.db.end(), 0.0f);
  }
}

int64_t LoraSet::n_params() const {
  int64_t n = 0;
  for (const Entry& e : entries_) n += static_cast<int64_t>(e.a.size() + e.b.size());
  return n;
}

std::vector<std::span<float>> LoraSet::values() {
  std::vector<std::span<float>> v;
  for (std::vector<float>* t : tensors()) v.emplace_back(*t);
  return v;
}

std::string LoraSet::fingerprint() const {
  char buf[192];
  std::snprintf(buf, sizeof buf, "rank=%lld alpha=%.17g targets=%u rslora=%d", static_cast<long long>(spec_.rank),
                spec_.alpha, static_cast<unsigned>(spec_.targets), spec_.rslora ? 1 : 0);
  std::string fp = buf;
  if (spec_.dropout > 0) {
    std::snprintf(buf, sizeof buf, " dropout=%.17g", spec_.dropout);
    fp += buf;
  }
  return fp;
}

std::vector<std::vector<float>*> LoraSet::tensors() {
  std::vector<std::vector<float>*> t;
  for (Entry& e : entries_) {
    t.push_back(&e.a);
    t.push_back(&e.b);
  }
  return t;
}

Status LoraSet::write_peft(const std::string& dir, const model::LlamaModel& m, const std::string& base_name) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return err(ErrorCode::kIo, "%s: cannot create the directory: %s", dir.c_str(), ec.message().c_str());
  formats::SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const Entry& e : entries_) {
    const int64_t r = spec_.rank;
    HERD_TRY(w.add_tensor(peft_name(e.layer, e.slot, 'A'), formats::StDType::kF32, {r, e.k},
                          [&e](uint8_t* dst, uint64_t n) -> Status {
                            std::memcpy(dst, e.a.data(), n);
                            return Ok{};
                          }));
    const bool perm = permuted(m, e.slot);
    const int64_t heads = heads_of(m, e.slot);
    HERD_TRY(w.add_tensor(peft_name(e.layer, e.slot, 'B'), formats::StDType::kF32, {e.n, r},
                          [&e, perm, heads, r](uint8_t* dst, uint64_t n) -> Status {
                            if (!perm) {
                              std::memcpy(dst, e.b.data(), n);
                              return Ok{};
                            }
                            return formats::permute_qk_rows(formats::QkOrder::kMetaToHf,
                                                            reinterpret_cast<const uint8_t*>(e.b.data()), dst, e.n,
                                                            heads, static_cast<uint64_t>(r) * 4);
                          }));
  }
  HERD_TRY(w.write(dir + "/adapter_model.safetensors"));
  nlohmann::ordered_json c;
  c["peft_type"] = "LORA";
  c["task_type"] = "CAUSAL_LM";
  c["base_model_name_or_path"] = base_name;
  c["r"] = spec_.rank;
  c["lora_alpha"] = spec_.alpha;
  c["lora_dropout"] = spec_.dropout;
  c["use_rslora"] = spec_.rslora;
  c["use_dora"] = false;
  c["bias"] = "none";
  c["fan_in_fan_out"] = false;
  c["inference_mode"] = true;
  nlohmann::json mods = nlohmann::json::array();
  for (int i = 0; i < 7; ++i)
    if (spec_.targets & (1u << i)) mods.push_back(std::string(kPeftModule[i]).substr(std::string(kPeftModule[i]).find('.') + 1));
  c["target_modules"] = mods;
  return write_file_atomic(dir + "/adapter_config.json", c.dump(2) + "\n");
}

Result<LoraSet> LoraSet::read_peft(const std::string& dir, const model::LlamaModel& m) {
  const std::string cfg_path = dir + "/adapter_config.json";
  std::ifstream f(cfg_path);
  if (!f) return err(ErrorCode::kNotFound, "%s: not found (a PEFT adapter directory has adapter_config.json)", cfg_path.c_str());
  nlohmann::json c;
  try {
    c = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    return err(ErrorCode::kInvalidArgument, "%s: %s", cfg_path.c_str(), e.what());
  }
  auto field = [&](const char* k) { return c.contains(k) ? c[k] : nlohmann::json(); };
  if (field("peft_type") != "LORA")
    return err(ErrorCode::kInvalidArgument, "%s: peft_type is not \"LORA\"", cfg_path.c_str());
  if (field("use_dora").is_boolean() && field("use_dora").get<bool>())
    return err(ErrorCode::kUnsupported, "%s: DoRA adapters are not supported", cfg_path.c_str());
  if (field("bias").is_string() && field("bias") != "none")
    return err(ErrorCode::kUnsupported, "%s: adapters with biases (bias \"%s\") are not supported", cfg_path.c_str(),
               field("bias").get<std::string>().c_str());
  if (!field("r").is_number_integer() || !field("lora_alpha").is_number())
    return err(ErrorCode::kInvalidArgument, "%s: r (an integer) and lora_alpha (a number) are required", cfg_path.c_str());
  LoraSet s;
  s.spec_.rank = field("r").get<int64_t>();
  s.spec_.alpha = field("lora_alpha").get<double>();
  s.spec_.rslora = field("use_rslora").is_boolean() && field("use_rslora").get<bool>();
  s.spec_.targets = 0;
  if (s.spec_.rank < 1 || s.spec_.rank > 4096) return err(ErrorCode::kInvalidArgument, "%s: r out of range", cfg_path.c_str());
  const std::string st_path = dir + "/adapter_model.safetensors";
  Result<formats::SafetensorsFile> st = formats::SafetensorsFile::open(st_path);
  if (!st.has_value()) {
    if (std::filesystem::exists(dir + "/adapter_model.bin"))
      return err(ErrorCode::kUnsupported, "%s: only adapter_model.safetensors is read (not the pickled .bin)", dir.c_str());
    return st.error();
  }
  Found found;
  for (const formats::StTensor& t : st->tensors()) {
    int64_t layer = -1;
    int slot = -1;
    char ab = 0;
    for (int64_t il = 0; il < static_cast<int64_t>(m.layers().size()) && slot < 0; ++il)
      for (int k = 0; k < 7 && slot < 0; ++k)
        for (char x : {'A', 'B'})
          if (t.name == peft_name(il + m.layer_range().first, k, x)) layer = il, slot = k, ab = x;
    if (slot < 0)
      return err(ErrorCode::kInvalidArgument, "%s: tensor %s is not a LoRA tensor of this model's layers", st_path.c_str(),
                 t.name.c_str());
    std::optional<TensorView> v = t.view();
    if (!v) return err(ErrorCode::kUnsupported, "%s: %s is %s (F32, F16 or BF16 are read)", st_path.c_str(), t.name.c_str(), t.dtype_name.c_str());
    HERD_TRY(s.take(found, m, layer, slot, ab, *v, false, st_path + ": " + t.name));
  }
  HERD_TRY(s.finish(found, m, st_path));
  return s;
}

Status LoraSet::take(Found& found, const model::LlamaModel& m, int64_t layer, int slot, char ab, const TensorView& v,
                     bool file_meta, const std::string& where) {
  const int64_t r = spec_.rank;
  const auto [n, k] = matrix_shape(m, static_cast<size_t>(layer), slot);
  const std::vector<int64_t> want = ab == 'A' ? std::vector<int64_t>{r, k} : std::vector<int64_t>{n, r};
  if (v.shape != want)
    return err(ErrorCode::kInvalidArgument, "%s has shape %s, the base model needs %s (another base model?)",
               where.c_str(), shape_string(v.shape).c_str(), shape_string(want).c_str());
  if (dtype_info(v.dtype).row_scaled)
    return err(ErrorCode::kUnsupported, "%s is %s; adapters are read in F32, F16, BF16 or a block type", where.c_str(),
               dtype_name(v.dtype));
  Entry& e = found[{layer, slot}];
  e.layer = layer + m.layer_range().first;
  e.slot = slot;
  e.n = n;
  e.k = k;
  std::vector<float>& dst = ab == 'A' ? e.a : e.b;
  if (!dst.empty()) return err(ErrorCode::kInvalidArgument, "%s: a second copy", where.c_str());
  dst.resize(static_cast<size_t>(v.numel()));
  for (int64_t row = 0; row < v.rows(); ++row)
    dequantize_row_ref(v.dtype, v.row(row), dst.data() + row * v.cols(), v.cols());
  if (ab == 'B' && permuted(m, slot, file_meta)) {
    std::vector<float> in = dst;
    HERD_TRY(formats::permute_qk_rows(file_meta ? formats::QkOrder::kMetaToHf : formats::QkOrder::kHfToMeta,
                                      reinterpret_cast<const uint8_t*>(in.data()), reinterpret_cast<uint8_t*>(dst.data()),
                                      n, heads_of(m, slot), static_cast<uint64_t>(r) * 4));
  }
  return Ok{};
}

Status LoraSet::finish(Found& found, const model::LlamaModel& m, const std::string& path) {
  if (found.empty()) return err(ErrorCode::kInvalidArgument, "%s: no LoRA tensors", path.c_str());
  grads_.layers.resize(m.layers().size());
  first_layer_ = m.layer_range().first;
  spec_.targets = 0;
  for (auto& [key, e] : found) {
    if (e.a.empty() || e.b.empty())
      return err(ErrorCode::kInvalidArgument, "%s: layer %lld %s has lora_%s but not lora_%s", path.c_str(),
                 static_cast<long long>(e.layer), kPeftModule[e.slot], e.a.empty() ? "B" : "A", e.a.empty() ? "A" : "B");
    e.da.assign(e.a.size(), 0.0f);
    e.db.assign(e.b.size(), 0.0f);
    spec_.targets |= static_cast<LoraTargets>(1u << e.slot);
    entries_.push_back(std::move(e));
  }
  link_grads();
  return Ok{};
}

Status LoraSet::write_gguf(const std::string& path, const model::LlamaModel& m, const std::string& base_name) const {
  formats::GgufWriter w;
  using formats::GgufValue;
  w.set("general.architecture", GgufValue::string("llama"));
  w.set("general.type", GgufValue::string("adapter"));
  w.set("general.name", GgufValue::string(base_name + " LoRA"));
  w.set("adapter.type", GgufValue::string("lora"));
  // llama.cpp scales by alpha / rank; an rsLoRA adapter (alpha / sqrt(rank)) is
  // stored with the alpha that gives its scale.
  w.set("adapter.lora.alpha", GgufValue::f32(static_cast<float>(spec_.scale() * static_cast<double>(spec_.rank))));
  const int64_t r = spec_.rank;
  for (const Entry& e : entries_) {
    const std::string base = model::gguf_tensor_name(kTensor[e.slot], e.layer);
    HERD_TRY(w.add_tensor(base + ".lora_a", DType::kF32, {r, e.k}, [&e](uint8_t* dst, uint64_t n) -> Status {
      std::memcpy(dst, e.a.data(), n);
      return Ok{};
    }));
    const bool perm = permuted(m, e.slot, true);
    const int64_t heads = heads_of(m, e.slot);
    HERD_TRY(w.add_tensor(base + ".lora_b", DType::kF32, {e.n, r}, [&e, perm, heads, r](uint8_t* dst, uint64_t n) -> Status {
      if (!perm) {
        std::memcpy(dst, e.b.data(), n);
        return Ok{};
      }
      return formats::permute_qk_rows(formats::QkOrder::kHfToMeta, reinterpret_cast<const uint8_t*>(e.b.data()), dst,
                                      e.n, heads, static_cast<uint64_t>(r) * 4);
    }));
  }
  return w.write(path);
}

Result<LoraSet> LoraSet::read_gguf(const std::string& path, const model::LlamaModel& m) {
  HERD_ASSIGN_OR_RETURN(formats::GgufFile f, formats::GgufFile::open(path));
  auto str = [&](const char* key) -> std::string {
    const formats::GgufValue* v = f.find(key);
    return v ? std::string(v->as_string_view()) : std::string();
  };
  if (str("general.type") != "adapter" || str("adapter.type") != "lora")
    return err(ErrorCode::kInvalidArgument, "%s: not a LoRA adapter (general.type \"%s\", adapter.type \"%s\"; "
               "expected \"adapter\" and \"lora\")", path.c_str(), str("general.type").c_str(), str("adapter.type").c_str());
  if (str("general.architecture") != "llama")
    return err(ErrorCode::kInvalidArgument, "%s: an adapter for architecture \"%s\", not llama", path.c_str(),
               str("general.architecture").c_str());
  LoraSet s;
  s.spec_.rank = 0;
  for (const formats::GgufTensor& t : f.tensors())
    if (t.shape.size() == 2 && t.name.size() > 7 && t.name.substr(t.name.size() - 7) == ".lora_a") {
      if (s.spec_.rank != 0 && s.spec_.rank != t.shape[0])
        return err(ErrorCode::kUnsupported, "%s: tensors of different ranks (%lld and %lld)", path.c_str(),
                   static_cast<long long>(s.spec_.rank), static_cast<long long>(t.shape[0]));
      s.spec_.rank = t.shape[0];
    }
  if (s.spec_.rank < 1 || s.spec_.rank > 4096)
    return err(ErrorCode::kInvalidArgument, "%s: no lora_a tensor of rank 1..4096", path.c_str());
  double alpha = 0;
  if (f.find("adapter.lora.alpha")) {
    HERD_ASSIGN_OR_RETURN(alpha, f.get_float("adapter.lora.alpha"));
  }
  // llama.cpp: alpha 0 (or absent) means a scale of 1.
  s.spec_.alpha = alpha != 0 ? alpha : static_cast<double>(s.spec_.rank);
  if (!std::isfinite(s.spec_.alpha)) return err(ErrorCode::kInvalidArgument, "%s: adapter.lora.alpha is not finite", path.c_str());
  Found found;
  for (const formats::GgufTensor& t : f.tensors()) {
    const std::string_view name = t.name;
    const size_t dot = name.rfind('.');
    const std::string_view suffix = dot == std::string_view::npos ? std::string_view() : name.substr(dot);
    const std::optional<model::GgufTensorId> id =
        suffix == ".lora_a" || suffix == ".lora_b" ? model::parse_gguf_tensor_name(name.substr(0, dot)) : std::nullopt;
    int slot = -1;
    for (int k = 0; k < 7 && id; ++k)
      if (kTensor[k] == id->id) slot = k;
    const int64_t layer = id ? id->layer - m.layer_range().first : -1;
    if (slot < 0 || layer < 0 || layer >= static_cast<int64_t>(m.layers().size()))
      return err(ErrorCode::kUnsupported, "%s: tensor %s is not a LoRA tensor of a layer matrix of this model "
                 "(adapters on token_embd or output are not supported)", path.c_str(), t.name.c_str());
    HERD_TRY(s.take(found, m, layer, slot, suffix == ".lora_a" ? 'A' : 'B', t.view(), true, path + ": " + t.name));
  }
  HERD_TRY(s.finish(found, m, path));
  return s;
}

Result<LoraSet> LoraSet::read(const std::string& path, const model::LlamaModel& m) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return read_peft(path, m);
  return read_gguf(path, m);
}

}  // namespace herd::train
