// herd bench: prompt-processing and decode speed, like llama-bench.
//
// Tests (each repeated -r times, after one warm-up that faults in every weight
// page):
//   pp<P>: P random token ids evaluated from an empty context in batches of -b
//          (default P), logits of the last token only;
//   tg<N>: N tokens decoded one at a time from an empty context.
// With -d D both start instead after D tokens already in the context (filled
// untimed before each repetition), as llama-bench's -d: "pp512 @ d4096".
// Token ids are random (uniform over the vocabulary, fixed seed): speed does
// not depend on them, so no tokenizer is needed.
//
// Besides tokens/s (mean, standard deviation and median over repetitions) it
// reports the time split between kernel families (matmul, attention, the
// rest: norms, RoPE, embedding, sampling-free glue), the process's peak RSS, a memory read bandwidth measured in the same
// run (kernels/read_bandwidth.h: every pool thread streams its share of a buffer 8x
// larger than a 32 MiB L3 with each of several readers, best pass), and the decode
// roofline share:
//   (weight bytes + KV cache bytes read per token) x tg tokens/s / read bandwidth.
// The bandwidth buffer is allocated after the tests, so it is not in the
// reported peak RSS. Peak RSS is also put beside its budget (issue 6): the
// model's file size plus the KV cache of the bench's context, and how far
// above their sum it is.
//
// Output: a markdown table (default) or, with -o json, an array of objects
// with llama-bench's field names plus herd's (isa, median_ts, peak_rss_bytes,
// mem_read_gbs, weight_bytes_per_token, kv_bytes_per_token, roofline_share, matmul_ns, attention_ns,
// other_ns: per repetition, averaged; model_file_bytes, kv_cache_bytes).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "kernels/kernel_table.h"
#include "kernels/read_bandwidth.h"
#include "kv/kv_cache.h"
#include "model/llama_context.h"
#include "model/runtime.h"

namespace herd::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct TestResult {
  std::string name;  // "pp512", "tg128"
  int64_t n_prompt = 0, n_gen = 0, n_depth = 0;
  std::vector<int64_t> ns;  // one per repetition
  kernels::KernelTimes times;  // summed over repetitions
  std::vector<double> ts;   // tokens/s per repetition
};

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}
double stddev(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));  // sample stddev, as llama-bench
}
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Bytes of the model on disk: the GGUF file, or an HF directory's
// .safetensors files.
uint64_t model_file_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return static_cast<uint64_t>(fs::file_size(path, ec));
  uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file(ec) && e.path().extension() == ".safetensors") n += e.file_size(ec);
  return n;
}

uint64_t peak_rss_bytes() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}


// Bytes of weights one decoded token reads: every matrix once, plus one
// embedding row (the embedding table is read in full only when it is also
// the output matrix) and the norm vectors.
uint64_t weight_bytes_per_token(const model::LlamaModel& m) {
  const auto& c = m.config();
  uint64_t b = m.weight_bytes();
  if (!c.tied_embeddings) b -= static_cast<uint64_t>(m.tok_embd().nbytes() - m.tok_embd().row_stride());
  return b;
}

uint64_t n_params(const model::LlamaModel& m) {
  uint64_t n = m.config().tied_embeddings ? 0 : static_cast<uint64_t>(m.tok_embd().numel());
  m.for_each_matmul_weight([&](int64_t, model::LlamaTensor, const TensorView& w) { n += static_cast<uint64_t>(w.numel()); });
  n += static_cast<uint64_t>(m.config().d_model) * (2 * m.layers().size() + 1);
  return n;
}

// "llama 8B Q4_0"-style description: the dtype holding the most matrix
// elements, as llama-bench names a file by its dominant type (an FP8
// checkpoint keeps layer 0's feed-forward in BF16: F8_E4M3, not BF16).
std::string model_type(const model::LlamaModel& m, uint64_t params) {
  char size[32];
  const double p = static_cast<double>(params);
  if (p >= 1e9)
    std::snprintf(size, sizeof size, "%.0fB", p / 1e9);
  else
    std::snprintf(size, sizeof size, "%.0fM", p / 1e6);
  std::map<DType, int64_t> elems;
  m.for_each_matmul_weight([&](int64_t, model::LlamaTensor, const TensorView& w) { elems[w.file_dtype()] += w.numel(); });
  const auto most = std::max_element(elems.begin(), elems.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  std::string t = most == elems.end() ? "?" : dtype_name(most->first);
  for (char& ch : t) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return std::string("llama ") + size + " " + t;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  ArgParser p("bench", "-m MODEL [-p N[,N...]] [-n N[,N...]] [-d N] [-t N] [-r N] [-o md|json|csv]");
  p.add("-m,--model", "PATH", "model: a .gguf file or a Hugging Face directory");
  p.add("-p,--n-prompt", "N[,N...]", "prompt tokens of the pp tests, one test each (default 512; 0 skips it)");
  p.add("-n,--n-gen", "N[,N...]", "decoded tokens of the tg tests, one test each (default 128; 0 skips it)");
  p.add("-d,--n-depth", "N", "tokens already in the context when each test starts (default 0)");
  p.add("-b,--batch-size", "N", "tokens per eval call in the pp test (default: all of them)");
  p.add("-t,--threads", "N", "compute threads (default: all hardware threads)");
  p.add("-r,--repetitions", "N", "repetitions of each test (default 3)");
  p.add("-o,--output", "FMT", "md (default), json or csv (one row per test, llama-bench's field names)");
  add_isa_option(p);
  p.add("--bw-mib", "N", "size of the bandwidth test buffer in MiB (default 256)");
  add_cache_type_options(p);
  add_fp8_activation_option(p);
  add_llama_cpp_compat_options(p);
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  note_ignored_options(p, "bench");
  if (!p.has("--model")) {
    std::fprintf(stderr, "herd bench: -m MODEL is required\n");
    return 2;
  }
  Result<std::vector<int64_t>> prompts = p.get_int_list("--n-prompt", 512, 0, 1 << 20);
  Result<std::vector<int64_t>> gens = p.get_int_list("--n-gen", 128, 0, 1 << 20);
  if (!prompts.has_value()) return fail_usage("bench", prompts.error());
  if (!gens.has_value()) return fail_usage("bench", gens.error());
  const Result<int64_t> n_prompt = *std::max_element(prompts->begin(), prompts->end());
  const Result<int64_t> n_gen = *std::max_element(gens->begin(), gens->end());
  Result<int64_t> threads = p.get_int("--threads", default_threads(), 1, 1024);
  Result<int64_t> reps = p.get_int("--repetitions", 3, 1, 1000);
  Result<int64_t> depth = p.get_int("--n-depth", 0, 0, 1 << 20);
  if (!depth.has_value()) return fail_usage("bench", depth.error());
  Result<int64_t> bw_mib = p.get_int("--bw-mib", 256, 16, 1 << 16);
  for (const auto* r : {&threads, &reps, &bw_mib})
    if (!r->has_value()) return fail_usage("bench", r->error());
  Result<CacheTypes> cache_types = get_cache_types(p);
  if (!cache_types.has_value()) return fail_usage("bench", cache_types.error());
  Result<int64_t> batch = p.get_int("--batch-size", std::max<int64_t>(*n_prompt, 1), 1, 1 << 20);
  if (!batch.has_value()) return fail_usage("bench", batch.error());
  const std::string fmt = p.get("--output", "md");
  if (fmt != "md" && fmt != "json" && fmt != "csv") {
    std::fprintf(stderr, "herd bench: -o must be md, json or csv, not '%s'\n", fmt.c_str());
    return 2;
  }

  Result<std::unique_ptr<model::Runtime>> rt =
      model::Runtime::open(runtime_options(p, *threads, stderr));
  if (!rt.has_value()) return fail_run("bench", rt.error());
  model::LlamaModel* model = &(*rt)->model();
  const kernels::KernelTable* table = &(*rt)->table();
  const model::LlamaConfig& cfg = model->config();
  if (Status s = cache_types_fit(*cache_types, cfg.head_dim); !s.has_value()) return fail_usage("bench", s.error());
  ThreadPool& pool = (*rt)->pool();
  kernels::KernelTimes times;
  kernels::ExecContext exec = (*rt)->exec();
  exec.times = &times;
  const int64_t B = std::min(*batch, std::max<int64_t>(std::max(*n_prompt, *depth), 1));
  const int64_t n_ctx = *depth + std::max<int64_t>(std::max(*n_prompt, *n_gen), 1) + 1;
  model::LlamaContext ctx(*model, n_ctx, B, exec, cache_types->k, cache_types->v);

  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(cfg.vocab_size - 1));
  std::vector<int32_t> toks(static_cast<size_t>(std::max({*n_prompt, *n_gen, *depth})));
  for (auto& t : toks) t = dist(rng);
  std::vector<float> logits;
  logits.reserve(static_cast<size_t>(cfg.vocab_size));

  // Warm-up: one decoded token reads every weight once (page faults, caches).
  ctx.reset();
  if (Status s = ctx.eval(std::span<const int32_t>(toks.data(), 1), false, &logits); !s.has_value())
    return fail_run("bench", s.error());

  std::vector<TestResult> results;
  auto run_test = [&](const std::string& name, int64_t np, int64_t ng) -> Status {
    TestResult r;
    r.name = name;
    r.n_prompt = np;
    r.n_gen = ng;
    r.n_depth = *depth;
    for (int64_t rep = 0; rep < *reps; ++rep) {
      ctx.reset();
      for (int64_t i = 0; i < *depth; i += B) {  // untimed: the context the test starts from
        const int64_t n = std::min(B, *depth - i);
        if (Status s = ctx.eval(std::span<const int32_t>(toks.data() + i, static_cast<size_t>(n)), false, &logits);
            !s.has_value())
          return s;
      }
      times = {};
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < np; i += B) {
        const int64_t n = std::min(B, np - i);
        if (Status s = ctx.eval(std::span<const int32_t>(toks.data() + i, static_cast<size_t>(n)), false, &logits);
            !s.has_value())
          return s;
      }
      for (int64_t i = 0; i < ng; ++i)
        if (Status s = ctx.eval(std::span<const int32_t>(toks.data() + i, 1), false, &logits); !s.has_value())
          return s;
      const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
      r.ns.push_back(ns);
      r.times.matmul_ns += times.matmul_ns;
      r.times.attention_ns += times.attention_ns;
      r.ts.push_back(static_cast<double>(np + ng) * 1e9 / static_cast<double>(std::max<int64_t>(ns, 1)));
      std::fprintf(stderr, "herd bench: %s rep %lld: %.3f tok/s\n", name.c_str(), static_cast<long long>(rep + 1),
                   r.ts.back());
    }
    results.push_back(std::move(r));
    return Ok{};
  };
  const std::string at = *depth > 0 ? " @ d" + std::to_string(*depth) : "";
  for (int64_t np : *prompts)
    if (np > 0)
      if (Status s = run_test("pp" + std::to_string(np) + at, np, 0); !s.has_value()) return fail_run("bench", s.error());
  for (int64_t ng : *gens)
    if (ng > 0)
      if (Status s = run_test("tg" + std::to_string(ng) + at, 0, ng); !s.has_value()) return fail_run("bench", s.error());

  const uint64_t rss = peak_rss_bytes();
  const kernels::ReadBandwidth probe = kernels::measure_read_bandwidth(pool, static_cast<size_t>(*bw_mib) << 20, 3);
  const double bw = probe.gbs;
  const uint64_t wbt = weight_bytes_per_token(*model);
  // A decoded token also reads the K and V rows of every earlier position:
  // averaged over the tg test, layers x (depth + (n_gen - 1) / 2) x
  // (bytes of a K row + bytes of a V row).
  auto kv_bytes_per_token = [&](const TestResult& r) {
    const double avg_keys = static_cast<double>(r.n_depth) + static_cast<double>(r.n_gen - 1) / 2.0 + 1.0;
    const int64_t kv_dim = cfg.n_kv_heads * cfg.head_dim;
    return static_cast<double>(cfg.n_layers) * avg_keys *
           static_cast<double>(kernels::kv_row_bytes(cache_types->k, kv_dim) +
                               kernels::kv_row_bytes(cache_types->v, kv_dim));
  };
  auto roofline = [&](const TestResult& r) {
    return (static_cast<double>(wbt) + kv_bytes_per_token(r)) * mean(r.ts) / (bw * 1e9);
  };
  const uint64_t params = n_params(*model);
  const std::string mtype = model_type(*model, params);
  const std::string fname = p.get("--model");
  const uint64_t file_bytes = model_file_bytes(fname);
  const uint64_t kv_bytes =
      kv::KvCache::bytes_for(cfg.n_layers, n_ctx, cfg.n_kv_heads * cfg.head_dim, cache_types->k, cache_types->v);

  if (fmt == "json" || fmt == "csv") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : results) {
      std::vector<double> nsd(r.ns.begin(), r.ns.end());
      nlohmann::json j;
      j["model_filename"] = fname;
      j["model_type"] = mtype;
      j["model_size"] = model->weight_bytes();
      j["model_n_params"] = params;
      j["n_batch"] = B;
      j["n_ubatch"] = B;
      j["n_threads"] = *threads;
      j["isa"] = table->isa;
      j["type_k"] = dtype_name(cache_types->k);
      j["type_v"] = dtype_name(cache_types->v);
      j["n_prompt"] = r.n_prompt;
      j["n_gen"] = r.n_gen;
      j["n_depth"] = r.n_depth;
      j["avg_ns"] = static_cast<uint64_t>(mean(nsd));
      j["stddev_ns"] = static_cast<uint64_t>(stddev(nsd));
      j["avg_ts"] = mean(r.ts);
      j["stddev_ts"] = stddev(r.ts);
      j["median_ts"] = median(r.ts);
      j["samples_ns"] = r.ns;
      j["samples_ts"] = r.ts;
      j["peak_rss_bytes"] = rss;
      j["model_file_bytes"] = file_bytes;
      j["kv_cache_bytes"] = kv_bytes;
      j["mem_read_gbs"] = bw;
      j["mem_read_reader"] = probe.reader;
      j["weight_bytes_per_token"] = wbt;
      if (r.n_gen > 0) {
        j["kv_bytes_per_token"] = kv_bytes_per_token(r);
        j["roofline_share"] = roofline(r);
      }
      const auto reps_n = static_cast<int64_t>(r.ns.size());
      j["matmul_ns"] = r.times.matmul_ns / reps_n;
      j["attention_ns"] = r.times.attention_ns / reps_n;
      j["other_ns"] = static_cast<int64_t>(mean(nsd)) - (r.times.matmul_ns + r.times.attention_ns) / reps_n;
      arr.push_back(j);
    }
    if (fmt == "json") {
      std::printf("%s\n", arr.dump(2).c_str());
      return 0;
    }
    // CSV: the same fields, a header line, one row per test; arrays space-separated;
    // every field quoted as llama-bench does.
    auto field = [](const nlohmann::json& v) {
      std::string t;
      if (v.is_string()) t = v.get<std::string>();
      else if (v.is_array())
        for (const auto& e : v) t += (t.empty() ? "" : " ") + e.dump();
      else t = v.dump();
      std::string q = "\"";
      for (char c : t) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      return q + "\"";
    };
    std::vector<std::string> keys;
    for (const auto& r : arr)
      for (const auto& [k, v] : r.items())
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    for (size_t i = 0; i < keys.size(); ++i) std::printf("%s%s", i ? "," : "", keys[i].c_str());
    std::printf("\n");
    for (const auto& r : arr) {
      for (size_t i = 0; i < keys.size(); ++i)
        std::printf("%s%s", i ? "," : "", r.contains(keys[i]) ? field(r[keys[i]]).c_str() : "");
      std::printf("\n");
    }
    return 0;
  }
  std::printf("| model | size | params | isa | threads | test | t/s | median t/s | peak RSS | roofline |\n");
  std::printf("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& r : results) {
    char roof[32] = "";
    if (r.n_gen > 0) std::snprintf(roof, sizeof roof, "%.0f%%", 100.0 * roofline(r));
    std::printf("| %s | %.2f GiB | %.2f B | %s | %lld | %s | %.2f ± %.2f | %.2f | %.2f GiB | %s |\n", mtype.c_str(),
                static_cast<double>(model->weight_bytes()) / (1 << 30), static_cast<double>(params) / 1e9, table->isa,
                static_cast<long long>(*threads), r.name.c_str(), mean(r.ts), stddev(r.ts), median(r.ts),
                static_cast<double>(rss) / (1 << 30), roof);
  }
  std::printf("\ntime split:");
  for (const auto& r : results) {
    double total = 0;
    for (int64_t v : r.ns) total += static_cast<double>(v);
    const double mm = static_cast<double>(r.times.matmul_ns), at_ns = static_cast<double>(r.times.attention_ns);
    std::printf(" %s: matmul %.0f%%, attention %.0f%%, other %.0f%%;", r.name.c_str(), 100 * mm / total,
                100 * at_ns / total, 100 * (total - mm - at_ns) / total);
  }
  const double base = static_cast<double>(file_bytes + kv_bytes);
  std::printf("\npeak RSS %.3f GiB = model file %.3f GiB + KV cache %.3f GiB (n_ctx %lld) %+.1f%%",
              static_cast<double>(rss) / (1 << 30), static_cast<double>(file_bytes) / (1 << 30),
              static_cast<double>(kv_bytes) / (1 << 30), static_cast<long long>(n_ctx),
              base > 0 ? 100.0 * (static_cast<double>(rss) - base) / base : 0.0);
  std::printf("\nmemory read bandwidth %.1f GB/s (%lld threads, %lld MiB buffer, best reader %s); weights read per token %.3f GB\n",
              bw, static_cast<long long>(*threads), static_cast<long long>(*bw_mib), probe.reader,
              static_cast<double>(wbt) / 1e9);
  return 0;
}

}  // namespace herd::cli
