// herd export-lora (export_lora.h): adapters merged into a base model's weights.
#include "train/export_lora.h"

#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "formats/hf_checkpoint.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"
#include "model/llama_model.h"
#include "model/llama_tensors.h"
#include "tensor/quant.h"
#include "train/lora_set.h"

namespace herd::train {
namespace {

struct Part {
  LoraSet::Matrix m;
  double weight;
};

using TensorIds = std::map<std::string, std::pair<model::LlamaTensor, int64_t>, std::less<>>;

// The layer matrices of an n_layers model, by file name (GGUF's or HF's).
TensorIds layer_matrices(int64_t n_layers, bool hf) {
  TensorIds ids;
  model::for_each_file_tensor(n_layers, [&](model::LlamaTensor t, int64_t il) {
    if (il >= 0 && !model::llama_tensor_info(t).norm)
      ids[hf ? model::hf_tensor_name(t, il) : model::gguf_tensor_name(t, il)] = {t, il};
  });
  return ids;
}

// The adapters on the tensor called `name` (none for a tensor no adapter targets).
Status parts_of(const std::string& name, const TensorIds& ids, const std::vector<std::pair<LoraSet, float>>& adapters,
                const TensorView& w, std::vector<Part>* parts) {
  parts->clear();
  auto it = ids.find(name);
  if (it == ids.end()) return Ok{};
  for (const auto& [set, weight] : adapters)
    if (std::optional<LoraSet::Matrix> m = set.matrix(it->second.second, it->second.first)) {
      if (m->n != w.rows() || m->k != w.cols())
        return err(ErrorCode::kInvalidArgument, "%s: the adapter is [%lld, %lld], the weight %s", name.c_str(),
                   static_cast<long long>(m->n), static_cast<long long>(m->k), shape_string(w.shape).c_str());
      if (dtype_info(w.dtype).row_scaled)
        return err(ErrorCode::kUnsupported, "%s is FP8: merging into FP8 weights is not supported (convert the base "
                   "to bf16 first)", name.c_str());
      parts->push_back({*m, weight});
    }
  return Ok{};
}

// dst = rows of (W + sum weight * scale * B A) stored as `out`, W's rows in exact f32.
void merge_rows(const TensorView& w, const std::vector<Part>& parts, DType out, uint8_t* dst, ThreadPool& pool) {
  const int64_t cols = w.cols(), rb = row_bytes(out, cols);
  pool.parallel_for(
      w.rows(),
      [&](int64_t r0, int64_t r1, int) {
        std::vector<float> row(static_cast<size_t>(cols));
        std::vector<double> acc(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
          dequantize_row_ref(w.dtype, w.row(r), row.data(), cols);
          for (int64_t j = 0; j < cols; ++j) acc[static_cast<size_t>(j)] = row[static_cast<size_t>(j)];
          for (const Part& p : parts) {
            const double f = p.weight * p.m.scale;
            for (int64_t q = 0; q < p.m.rank; ++q) {
              const double c = f * p.m.b[r * p.m.rank + q];
              const float* a = p.m.a + q * cols;
              for (int64_t j = 0; j < cols; ++j) acc[static_cast<size_t>(j)] += c * a[j];
            }
          }
          for (int64_t j = 0; j < cols; ++j) row[static_cast<size_t>(j)] = static_cast<float>(acc[static_cast<size_t>(j)]);
          quantize_row_ref(out, row.data(), dst + r * rb, cols);
        }
      },
      4);
}

Status fill(const TensorView& w, const std::vector<Part>& parts, DType out, uint8_t* dst, uint64_t n, ThreadPool& pool,
            Progress* progress) {
  if (interrupted()) return err(ErrorCode::kCancelled, "interrupted; nothing written");
  if (parts.empty()) std::memcpy(dst, w.data, n);
  else merge_rows(w, parts, out, dst, pool);
  if (progress) progress->add(n);
  return Ok{};
}

Result<ExportLoraReport> export_gguf(const ExportLoraOptions& o, const model::LlamaModel& m,
                                     const std::vector<std::pair<LoraSet, float>>& adapters, ThreadPool& pool,
                                     Progress* progress, FILE* log) {
  HERD_ASSIGN_OR_RETURN(formats::GgufFile in, formats::GgufFile::open(o.base));
  const TensorIds ids = layer_matrices(m.config().n_layers, false);
  formats::GgufWriter w(static_cast<uint32_t>(in.alignment()));
  for (const auto& [key, value] : in.metadata()) w.set(key, value);
  w.set("general.file_type", formats::GgufValue::u32(1));  // llama-export-lora: "output model is F16"
  ExportLoraReport rep;
  uint64_t total = 0;
  for (const formats::GgufTensor& t : in.tensors()) {
    auto parts = std::make_shared<std::vector<Part>>();
    const TensorView v = t.view();
    HERD_TRY(parts_of(t.name, ids, adapters, v, parts.get()));
    const DType out = parts->empty() ? t.dtype : t.dtype == DType::kF32 ? DType::kF32 : DType::kF16;
    total += static_cast<uint64_t>(v.rows()) * row_bytes(out, v.cols());
    ++rep.n_tensors;
    if (!parts->empty()) {
      ++rep.n_merged;
      if (log) std::fprintf(log, "  %-32s %s + %zu adapter(s) -> %s\n", t.name.c_str(), dtype_name(t.dtype), parts->size(), dtype_name(out));
    }
    HERD_TRY(w.add_tensor(t.name, out, t.shape, [v, parts, out, &pool, progress](uint8_t* dst, uint64_t n) {
      return fill(v, *parts, out, dst, n, pool, progress);
    }));
  }
  if (progress) progress->set_total(total);
  HERD_TRY(w.write(o.out));
  return rep;
}

Result<ExportLoraReport> export_hf(const ExportLoraOptions& o, const model::LlamaModel& m,
                                   const std::vector<std::pair<LoraSet, float>>& adapters, ThreadPool& pool,
                                   Progress* progress, FILE* log) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(o.out, ec) && !(fs::is_directory(o.out, ec) && fs::is_empty(o.out, ec)))
    return err(ErrorCode::kInvalidArgument, "%s exists and is not an empty directory; name a new one", o.out.c_str());
  HERD_ASSIGN_OR_RETURN(formats::HfCheckpoint ck, formats::HfCheckpoint::open(o.base));
  const TensorIds ids = layer_matrices(m.config().n_layers, true);
  const std::string tmp = o.out + ".tmp";
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return err(ErrorCode::kIo, "%s: cannot create: %s", tmp.c_str(), ec.message().c_str());
  auto cleanup = [&](Error e) {
    fs::remove_all(tmp, ec);
    return e;
  };
  ExportLoraReport rep;
  uint64_t total = 0;
  for (const formats::StTensor* t : ck.tensors()) total += t->nbytes;
  if (progress) progress->set_total(total);
  for (const std::string& file : ck.files()) {
    formats::SafetensorsWriter w;
    w.set_metadata("format", "pt");
    for (const formats::StTensor* t : ck.tensors()) {
      if (ck.file_of(t->name) != file) continue;
      ++rep.n_tensors;
      std::optional<TensorView> v = t->view();
      auto parts = std::make_shared<std::vector<Part>>();
      if (v) {
        Status st = parts_of(t->name, ids, adapters, *v, parts.get());
        if (!st.has_value()) return cleanup(st.error());
      }
      if (!parts->empty()) {
        ++rep.n_merged;
        if (log) std::fprintf(log, "  %-48s %s + %zu adapter(s)\n", t->name.c_str(), t->dtype_name.c_str(), parts->size());
      }
      const TensorView view = v ? *v : TensorView{};
      const uint8_t* raw = t->data;
      Status st = w.add_tensor(t->name, t->dtype, t->shape, [view, parts, raw, &pool, progress](uint8_t* dst, uint64_t n) -> Status {
        if (parts->empty()) {
          if (interrupted()) return err(ErrorCode::kCancelled, "interrupted; nothing written");
          std::memcpy(dst, raw, n);
          if (progress) progress->add(n);
          return Ok{};
        }
        return fill(view, *parts, view.dtype, dst, n, pool, progress);
      });
      if (!st.has_value()) return cleanup(st.error());
    }
    if (Status st = w.write(tmp + "/" + file); !st.has_value()) return cleanup(st.error());
  }
  // config.json, generation_config.json, the tokenizer files, the shard index: as they are.
  for (const fs::directory_entry& e : fs::directory_iterator(o.base, ec)) {
    if (!e.is_regular_file() || e.path().extension() == ".safetensors") continue;
    fs::copy_file(e.path(), fs::path(tmp) / e.path().filename(), ec);
    if (ec) return cleanup(Error(ErrorCode::kIo, e.path().string() + ": cannot copy: " + ec.message()));
  }
  fs::remove(o.out, ec);  // an empty directory, checked above
  fs::rename(tmp, o.out, ec);
  if (ec) return cleanup(Error(ErrorCode::kIo, o.out + ": cannot rename into place: " + ec.message()));
  return rep;
}

}  // namespace

Result<ExportLoraReport> export_lora(const ExportLoraOptions& o, ThreadPool& pool, Progress* progress, FILE* log) {
  if (o.adapters.empty()) return err(ErrorCode::kInvalidArgument, "no adapter (--lora PATH[:SCALE])");
  if (o.out.empty()) return err(ErrorCode::kInvalidArgument, "no output (-o)");
  HERD_ASSIGN_OR_RETURN(model::LlamaModel m, model::LlamaModel::load(o.base));
  std::vector<std::pair<LoraSet, float>> adapters;
  for (const auto& [path, weight] : o.adapters) {
    Result<LoraSet> s = LoraSet::read(path, m);
    if (!s.has_value()) return s.error().with_context("--lora " + path);
    adapters.emplace_back(std::move(*s), weight);
  }
  if (m.format() == model::ModelFormat::kGguf) return export_gguf(o, m, adapters, pool, progress, log);
  if (m.format() == model::ModelFormat::kMeta)
    return err(ErrorCode::kUnsupported,
               "%s is a Meta native checkpoint; merge into it after `herd convert` to GGUF or Hugging Face",
               o.base.c_str());
  return export_hf(o, m, adapters, pool, progress, log);
}

}  // namespace herd::train
