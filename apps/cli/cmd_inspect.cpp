// herd inspect: what a model file holds and what running it will cost.
//
// Prints the format's metadata (GGUF key/values, or config.json), the tensor
// table (name, dtype, shape, bytes), the dtype mix, and a memory plan:
// weights as stored (mmapped, paged in on use), the f32 KV cache per token
// and at a few context sizes, and the activation buffers for a batch; for an
// FP8 model what FP8 saves against BF16; and at each context whether one
// machine of --node-memory (default: this host's) holds it all, or how many
// would, each holding a range of layers (model/rank_plan.h).
#include <cstdio>
#include <algorithm>
#include <cmath>
#include <map>

#include "args.h"
#include "base/mapped_file.h"
#include "commands.h"
#include "formats/gguf.h"
#include "formats/hf_checkpoint.h"
#include "formats/torch_checkpoint.h"
#include "formats/safetensors.h"
#include "kernels/kernel_table.h"
#include "kv/kv_cache.h"
#include "model/chat_template_info.h"
#include "model/activations.h"
#include "model/llama_model.h"
#include "model/model_tokenizer.h"
#include "model/rank_plan.h"

namespace herd::cli {
namespace {

double mib(uint64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0); }
double gib(uint64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0 * 1024.0); }

// This host's memory (MemTotal), 0 if unknown.
uint64_t host_memory_bytes() {
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return 0;
  unsigned long long kib = 0;
  char line[256];
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemTotal: %llu kB", &kib) == 1) break;
  std::fclose(f);
  return static_cast<uint64_t>(kib) * 1024;
}
uint64_t held_bytes(const TensorView& w) { return static_cast<uint64_t>(w.held_bytes()); }

struct TensorRow {
  std::string name, dtype, shape;
  uint64_t bytes;
};

}  // namespace

int cmd_inspect(int argc, char** argv) {
  ArgParser p("inspect", "MODEL [options]");
  p.add("--no-tensors", "", "leave out the tensor table");
  p.add("-m,--model", "PATH", "the model (also accepted as the positional MODEL)");
  p.add("--max-elems", "N", "array elements shown per metadata value (default 8)");
  p.add("-c,--ctx-size", "N", "context size for the memory plan (default 4096 and the trained context)");
  p.add("-b,--batch-size", "N", "batch size for the activation plan (default 64)");
  p.add("--node-memory", "GIB", "memory of one machine for the plan of how many it takes (default: this host's)");
  add_cache_type_options(p);
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  // The model as a positional (herd's habit) or -m (every other command's).
  std::vector<std::string> models = p.positionals();
  if (p.has("--model")) models.push_back(p.get("--model"));
  if (models.size() != 1) {
    std::fprintf(stderr, "herd inspect: give exactly one MODEL path (positional or -m)\n");
    p.print_usage(stderr);
    return 2;
  }
  auto max_elems = p.get_int("--max-elems", 8, 0, 1 << 20);
  auto ctx_arg = p.get_int("--ctx-size", 0, 0, 1 << 30);
  auto batch = p.get_int("--batch-size", 64, 1, 1 << 16);
  for (const auto* r : {&max_elems, &ctx_arg, &batch})
    if (!r->has_value()) {
      std::fprintf(stderr, "herd inspect: %s\n", r->error().to_string().c_str());
      return 2;
    }
  auto node_gib = p.get_double("--node-memory", 0.0);
  if (!node_gib.has_value() || !(*node_gib >= 0.0 && *node_gib <= 1e9)) {
    std::fprintf(stderr, "herd inspect: --node-memory takes a size in GiB above 0\n");
    return 2;
  }
  auto cache_types = get_cache_types(p);
  if (!cache_types.has_value()) {
    std::fprintf(stderr, "herd inspect: %s\n", cache_types.error().to_string().c_str());
    return 2;
  }
  const std::string path = models[0];
  Result<model::LlamaModel> m = model::LlamaModel::load(path);
  if (!m.has_value()) {
    std::fprintf(stderr, "herd inspect: %s\n", m.error().to_string().c_str());
    return 1;
  }
  const model::LlamaConfig& c = m->config();
  std::vector<TensorRow> rows;
  uint64_t file_bytes = 0;
  if (const formats::GgufFile* g = m->gguf()) {
    std::printf("%s: GGUF v%u, %zu metadata keys, %zu tensors, alignment %llu, %.1f MiB\n\n", path.c_str(), g->version(),
                g->metadata().size(), g->tensors().size(), static_cast<unsigned long long>(g->alignment()),
                mib(g->file_size()));
    std::printf("metadata:\n");
    for (const auto& [k, v] : g->metadata())
      std::printf("  %-42s %-14s %s\n", k.c_str(), v.type_string().c_str(),
                  v.to_display_string(static_cast<size_t>(*max_elems)).c_str());
    for (const auto& t : g->tensors())
      rows.push_back({t.name, dtype_name(t.dtype), shape_string(t.shape), t.nbytes});
    file_bytes = g->file_size();
  } else if (m->format() == model::ModelFormat::kMeta) {
    const std::vector<const formats::TorchCheckpoint*> shards = m->meta_shards();
    std::printf("%s: Meta native checkpoint, %zu consolidated.NN.pth shard(s)\n\n", path.c_str(), shards.size());
    Result<std::string> params = read_text_file(path + "/params.json");
    if (params.has_value()) std::printf("params.json:\n%s\n", params->c_str());
    for (const formats::TorchCheckpoint* s : shards)
      for (const formats::TorchTensor& t : s->tensors()) {
        rows.push_back({shards.size() > 1 ? s->path().substr(path.size() + 1) + ":" + t.name : t.name,
                        formats::torch_storage_info(t.type).dtype, shape_string(t.shape), t.nbytes});
        file_bytes += t.nbytes;
      }
  } else {
    const formats::HfCheckpoint* h = m->hf();
    std::printf("%s: Hugging Face checkpoint, %zu safetensors file(s)\n\n", path.c_str(), h->files().size());
    Result<std::string> cfg = read_text_file(path + "/config.json");
    if (cfg.has_value()) std::printf("config.json:\n%s\n", cfg->c_str());
    for (const formats::StTensor* t : h->tensors()) {
      rows.push_back({t->name, t->dtype_name, shape_string(t->shape), t->nbytes});
      file_bytes += t->nbytes;
    }
  }
  std::map<std::string, std::pair<int, uint64_t>> mix;
  for (const auto& r : rows) {
    mix[r.dtype].first++;
    mix[r.dtype].second += r.bytes;
  }
  if (!p.has("--no-tensors")) {
    std::printf("\ntensors:\n  %-48s %-6s %-18s %12s\n", "name", "dtype", "shape", "bytes");
    for (const auto& r : rows)
      std::printf("  %-48s %-6s %-18s %12llu\n", r.name.c_str(), r.dtype.c_str(), r.shape.c_str(),
                  static_cast<unsigned long long>(r.bytes));
  }
  std::printf("\ndtype mix:\n");
  for (const auto& [d, v] : mix) std::printf("  %-6s %5d tensors %10.1f MiB\n", d.c_str(), v.first, mib(v.second));

  std::printf("\nmodel: %s\n", c.name.c_str());
  std::printf("  d_model %lld, d_ff %lld, n_layers %lld, n_heads %lld, n_kv_heads %lld, head_dim %lld, vocab %lld\n",
              static_cast<long long>(c.d_model), static_cast<long long>(c.d_ff), static_cast<long long>(c.n_layers),
              static_cast<long long>(c.n_heads), static_cast<long long>(c.n_kv_heads), static_cast<long long>(c.head_dim),
              static_cast<long long>(c.vocab_size));
  std::printf("  trained context %lld, rope theta %g, rms eps %g, tied embeddings %s, rope pairs %s\n",
              static_cast<long long>(c.n_ctx_train), c.rope_theta, c.rms_eps, c.tied_embeddings ? "yes" : "no",
              c.rope_style == kernels::RopeStyle::kInterleaved ? "interleaved (Meta/GGUF order)" : "halves (HF order)");
  double max_div = 1.0;
  for (size_t i = 0; i < c.inv_freq.size(); ++i)
    max_div = std::max(max_div, std::pow(c.rope_theta, -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim)) / c.inv_freq[i]);
  std::printf("  llama3 rope scaling: %s (largest frequency divisor %.4g)\n", max_div > 1.0001 ? "yes" : "no", max_div);
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(*m);
  if (tok.has_value()) {
    std::printf("  tokenizer: %d tokens, bos %d, eos %d\n", tok->n_vocab(), tok->vocab().bos_id, tok->vocab().eos_id);
  } else {
    std::printf("  tokenizer: none usable (%s)\n", tok.error().to_string().c_str());
  }
  std::printf("  chat format: %s\n", model::chat_template_info(*m, tok.has_value() ? &*tok : nullptr).description.c_str());

  if (Status s = cache_types_fit(*cache_types, c.head_dim); !s.has_value()) {
    std::fprintf(stderr, "herd inspect: %s\n", s.error().to_string().c_str());
    return kExitUsage;
  }
  const int64_t kv_dim = c.n_kv_heads * c.head_dim;
  const uint64_t per_tok = kv::KvCache::bytes_for(c.n_layers, 1, kv_dim, cache_types->k, cache_types->v);
  const int64_t B = *batch;
  std::printf("\nmemory plan (weights are mmapped and paged in as used):\n");
  std::printf("  weights           %10.1f MiB (as stored; file %.1f MiB)\n", mib(m->weight_bytes()), mib(file_bytes));
  char kv_label[32];
  std::snprintf(kv_label, sizeof kv_label, "KV cache (%s/%s)", dtype_name(cache_types->k), dtype_name(cache_types->v));
  std::printf("  %-17s %10.3f MiB per token\n", kv_label, mib(per_tok));
  std::vector<int64_t> ctxs = {*ctx_arg > 0 ? *ctx_arg : 4096};
  if (*ctx_arg == 0 && c.n_ctx_train != 4096) ctxs.push_back(c.n_ctx_train);
  Result<kernels::KernelTable> table = kernels::select_kernels("auto");
  if (!table.has_value()) {
    std::fprintf(stderr, "herd inspect: %s\n", table.error().to_string().c_str());
    return 1;
  }
  for (int64_t n : ctxs) {
    const uint64_t kvb = per_tok * static_cast<uint64_t>(n);
    // A context's buffers for batch B and n keys on this host's kernels and threads (model/activations.h).
    const uint64_t act = model::Activations::planned_bytes(*m, *table, B, n, default_threads());
    const uint64_t logits = static_cast<uint64_t>(c.vocab_size) * 4 * static_cast<uint64_t>(B);
    std::printf("  ctx %-8lld      KV %9.1f MiB + activations (batch %lld) %.1f MiB + logits %.1f MiB -> total %.1f MiB\n",
                static_cast<long long>(n), mib(kvb), static_cast<long long>(B), mib(act), mib(logits),
                mib(m->weight_bytes() + kvb + act + logits));
  }

  // FP8 (Meta's fp8_mixed): what its F8_E4M3 matrices take, and the same model in BF16.
  uint64_t fp8_bytes = 0, fp8_elems = 0, all_elems = 0;
  int fp8_count = 0, matrix_count = 0;
  m->for_each_matmul_weight([&](int64_t, model::LlamaTensor, const TensorView& w) {
    ++matrix_count;
    all_elems += static_cast<uint64_t>(w.numel());
    if (!dtype_info(w.dtype).row_scaled) return;
    ++fp8_count;
    fp8_bytes += held_bytes(w);
    fp8_elems += static_cast<uint64_t>(w.numel());
  });
  if (fp8_count > 0) {
    const uint64_t bf16_all = m->weight_bytes() - fp8_bytes + 2 * fp8_elems;
    std::printf("  FP8: %d of %d matrices in F8_E4M3 with row scales, %.2f GiB (%.1f%% of the matrices' weights); "
                "in BF16 the model would take %.2f GiB, FP8 saves %.2f GiB\n",
                fp8_count, matrix_count, gib(fp8_bytes), 100.0 * static_cast<double>(fp8_elems) / static_cast<double>(all_elems),
                gib(bf16_all), gib(bf16_all - m->weight_bytes()));
  }

  // How many machines: each rank a contiguous range of layers (model/rank_plan.h).
  const uint64_t node = *node_gib > 0 ? static_cast<uint64_t>(*node_gib * 1024.0 * 1024.0 * 1024.0) : host_memory_bytes();
  if (node == 0) {
    std::printf("\nnode plan: this host's memory is unknown (give --node-memory GIB)\n");
    return 0;
  }
  model::RankPlanInput in;
  const uint64_t norm_bytes = static_cast<uint64_t>(c.d_model) * 4;
  for (const model::LayerWeights& l : m->layers()) {
    uint64_t b = 2 * norm_bytes;
    model::for_each_layer_matrix(l, [&](model::LlamaTensor, const TensorView& w) { b += held_bytes(w); });
    in.layer_bytes.push_back(b);
  }
  in.embedding_bytes = held_bytes(m->tok_embd());
  in.tied = c.tied_embeddings;
  in.tied_bytes = in.tied ? in.embedding_bytes : 0;
  std::printf("\nnode plan (one machine of %.1f GiB%s; ranks split by layers, as MPI pipeline ranks would hold them):\n",
              gib(node), *node_gib > 0 ? ", --node-memory" : ", this host");
  for (int64_t n : ctxs) {
    model::RankPlanInput at = in;
    const uint64_t kv_layer = per_tok * static_cast<uint64_t>(n) / static_cast<uint64_t>(std::max<int64_t>(c.n_layers, 1));
    for (uint64_t& b : at.layer_bytes) b += kv_layer;
    at.rank_bytes = model::Activations::planned_bytes(*m, *table, B, n, default_threads());
    at.head_bytes = norm_bytes + held_bytes(m->output()) + static_cast<uint64_t>(c.vocab_size) * 4 * static_cast<uint64_t>(B);
    const uint64_t one = model::single_rank_bytes(at);
    Result<std::vector<model::RankSpan>> ranks = model::plan_ranks(at, node);
    if (!ranks.has_value()) {
      std::printf("  ctx %-8lld needs %.1f GiB on one machine; no split by layers fits %.1f GiB machines: %s\n",
                  static_cast<long long>(n), gib(one), gib(node), ranks.error().message().c_str());
      continue;
    }
    if (ranks->size() == 1) {
      std::printf("  ctx %-8lld fits one machine: %.1f of %.1f GiB\n", static_cast<long long>(n), gib(one), gib(node));
      continue;
    }
    std::printf("  ctx %-8lld needs %.1f GiB: more than one machine; %zu machines of %.1f GiB, layers per rank:\n",
                static_cast<long long>(n), gib(one), ranks->size(), gib(node));
    for (size_t r = 0; r < ranks->size(); ++r)
      std::printf("    rank %-3zu layers %3lld-%-3lld %8.1f GiB\n", r, static_cast<long long>((*ranks)[r].first),
                  static_cast<long long>((*ranks)[r].last - 1), gib((*ranks)[r].bytes));
  }
  return 0;
}

}  // namespace herd::cli
