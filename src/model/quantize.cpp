// herd quantize (model/quantize.h): a Llama GGUF rewritten in another file type.
#include "model/quantize.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string_view>
#include <vector>

#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "model/file_types.h"
#include "model/imatrix.h"
#include "model/llama_model.h"
#include "model/llama_tensors.h"
#include "model/quant_mix.h"
#include "tensor/quant.h"

namespace herd::model {
namespace {

using formats::GgufFile;
using formats::GgufTensor;
using formats::GgufValue;

// The layer of "blk.N." names, -1 otherwise (llama_model_loader's weight_name_comparer).
int64_t name_layer(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return -1;
  int64_t n = 0;
  size_t i = 4;
  for (; i < name.size() && i < 14 && name[i] >= '0' && name[i] <= '9'; ++i) n = n * 10 + (name[i] - '0');
  return i > 4 ? n : -1;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// llama-quantize's "quantize this tensor?" for a Llama model.
bool quantizable(const GgufTensor& t) {
  return ends_with(t.name, "weight") && t.shape.size() >= 2 && t.name.find("_norm.weight") == std::string::npos;
}

// Every row of src (dtype `from`) into dst as `to`: exact f32, then the reference quantizer.
void convert_rows(const GgufTensor& src, DType to, uint8_t* dst, ThreadPool& pool, const float* importance) {
  const int64_t cols = src.shape.back();
  const int64_t rows = static_cast<int64_t>(src.nbytes / row_bytes(src.dtype, cols));
  const int64_t rb_in = row_bytes(src.dtype, cols), rb_out = row_bytes(to, cols);
  pool.parallel_for(
      rows,
      [&](int64_t r0, int64_t r1, int) {
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
          dequantize_row_ref(src.dtype, src.data + r * rb_in, row.data(), cols);
          quantize_row_weighted(to, row.data(), dst + r * rb_out, cols, importance);
        }
      },
      16);
}

}  // namespace

Result<QuantizeReport> quantize_gguf(const QuantizeOptions& o, ThreadPool& pool, Progress* progress, FILE* log) {
  const FileType* ft = file_type_by_name(o.type);
  if (!ft)
    return err(ErrorCode::kInvalidArgument, "unknown type '%s'; expected one of %s (or llama-quantize's spelling, e.g. Q4_K_M)",
               o.type.c_str(), file_type_names().c_str());
  for (const auto& d : {o.output_type, o.token_embedding_type})
    if (d && (dtype_info(*d).row_scaled || !formats::ggml_type_id(*d)))
      return err(ErrorCode::kInvalidArgument, "a GGUF cannot hold %s tensors", dtype_name(*d));
  // Loading checks the file is a Llama model herd can run (names, shapes, metadata).
  HERD_ASSIGN_OR_RETURN(LlamaModel model, LlamaModel::load(o.in));
  if (model.format() != ModelFormat::kGguf)
    return err(ErrorCode::kUnsupported, "%s is a model directory; `herd quantize` reads a GGUF file",
               o.in.c_str());
  HERD_ASSIGN_OR_RETURN(GgufFile in, GgufFile::open(o.in));
  const LlamaConfig& c = model.config();
  // The importance matrix as llama-quantize uses it (either file format: imatrix_importance).
  std::map<std::string, std::vector<float>> importance;
  if (!o.imatrix.empty()) {
    Result<ImatrixFile> im = read_imatrix(o.imatrix);
    if (!im.has_value()) return std::move(im.error().with_context("--imatrix"));
    for (const ImatrixEntry& e : im->entries) importance[e.name] = imatrix_importance(*im, e);
  }
  QuantMixModel mix{c.n_layers, c.n_heads, c.n_kv_heads, in.find_tensor("output.weight") != nullptr};
  mix.has_imatrix = !o.imatrix.empty();

  formats::GgufWriter w(static_cast<uint32_t>(in.alignment()));
  for (const auto& [key, value] : in.metadata()) {
    if (key == "general.quantization_version" || key == "general.file_type" || key == "split.no" ||
        key == "split.count" || key == "split.tensors.count")
      continue;
    w.set(key, value);
  }
  w.set("general.quantization_version", GgufValue::u32(2));
  w.set("general.file_type", GgufValue::u32(ft->gguf_ftype));

  std::vector<const GgufTensor*> order;
  for (const GgufTensor& t : in.tensors()) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const GgufTensor* a, const GgufTensor* b) {
    const int64_t la = name_layer(a->name), lb = name_layer(b->name);
    return la != lb ? la < lb : a->name < b->name;
  });

  QuantizeReport rep;
  uint64_t total = 0;
  for (const GgufTensor* t : order) {
    DType to = t->dtype;
    if (quantizable(*t)) {
      const std::optional<GgufTensorId> id = parse_gguf_tensor_name(t->name);
      to = ft->base;
      if (!o.pure && id) {
        Result<DType> d = quant_mix_dtype(*ft, id->id, id->layer, t->shape.back(), mix);
        if (!d.has_value()) return std::move(d.error().with_context(t->name));
        to = *d;
      }
      if (o.token_embedding_type && t->name == "token_embd.weight") to = *o.token_embedding_type;
      if (o.output_type && t->name == "output.weight") to = *o.output_type;
      if (t->shape.back() % dtype_info(to).block_elems != 0)
        return err(ErrorCode::kInvalidArgument, "%s: rows of %lld elements cannot be stored as %s", t->name.c_str(),
                   static_cast<long long>(t->shape.back()), dtype_name(to));
      if (to != t->dtype && dtype_info(t->dtype).quantized && !o.allow_requantize)
        return err(ErrorCode::kInvalidArgument,
                   "%s is %s: requantizing a quantized tensor loses quality and is refused without --allow-requantize",
                   t->name.c_str(), dtype_name(t->dtype));
    }
    const float* weights = nullptr;
    if (auto it = importance.find(t->name); it != importance.end() && to != t->dtype) {
      if (static_cast<int64_t>(it->second.size()) == t->shape.back()) {
        weights = it->second.data();
        ++rep.n_weighted;
      } else if (t->name != "token_embd.weight") {
        return err(ErrorCode::kInvalidArgument, "--imatrix %s: '%s' has %zu values but the tensor's rows have %lld",
                   o.imatrix.c_str(), t->name.c_str(), it->second.size(), static_cast<long long>(t->shape.back()));
      }
    }
    const uint64_t rows = t->nbytes / row_bytes(t->dtype, t->shape.back());
    const uint64_t nbytes = rows * row_bytes(to, t->shape.back());
    total += nbytes;
    rep.bytes_in += t->nbytes;
    rep.bytes_out += nbytes;
    ++rep.n_tensors;
    if (to != t->dtype) ++rep.n_converted;
    if (log)
      std::fprintf(log, "  %-32s %-6s -> %-6s %9.2f -> %9.2f MiB\n", t->name.c_str(), dtype_name(t->dtype), dtype_name(to),
                   t->nbytes / 1048576.0, nbytes / 1048576.0);
    HERD_TRY(w.add_tensor(t->name, to, t->shape, [t, to, &pool, progress, weights](uint8_t* dst, uint64_t n) -> Status {
      if (interrupted()) return err(ErrorCode::kCancelled, "interrupted; no file written");
      if (to == t->dtype) std::memcpy(dst, t->data, n);
      else convert_rows(*t, to, dst, pool, weights);
      if (progress) progress->add(n);
      return Ok{};
    }));
  }
  if (progress) progress->set_total(total);
  HERD_TRY(w.write(o.out));
  return rep;
}

}  // namespace herd::model
