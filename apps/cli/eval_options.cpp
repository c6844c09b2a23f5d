// The shared options and setup of herd perplexity and herd imatrix (eval_options.h).
#include "eval_options.h"

#include <cstdio>

#include "base/mapped_file.h"
#include "model/model_tokenizer.h"

namespace herd::cli {

void add_eval_options(ArgParser& p) {
  p.add("-m,--model", "PATH", "the model (GGUF, Hugging Face or Meta native directory)");
  p.add("-f,--file", "PATH", "the text (e.g. wikitext-2's wiki.test.raw, or calibration text)");
  p.add("-c,--ctx-size", "N", "tokens per chunk (default 512, as llama.cpp's tools)");
  p.add("--chunks", "N", "use at most N chunks (default: all)");
  p.add("-b,--batch-size", "N", "tokens per forward call (default: the chunk)");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("--isa", "ISA", "kernel ISA: auto (default), avx512bf16, avx512vnni, avx512, avx2, ref");
  p.add("-q,--quiet", "", "no running estimate");
  add_cache_type_options(p);
  add_fp8_activation_option(p);
}

int open_eval(const ArgParser& p, const char* command, EvalRun* run, bool need_text) {
  if (!p.positionals().empty() || !p.has("--model") || (need_text && !p.has("--file")))
    return fail_usage(command, err(ErrorCode::kInvalidArgument, "give -m MODEL and -f TEXT"));
  Result<int64_t> n_ctx = p.get_int("--ctx-size", 512, 4, 1 << 20);
  Result<int64_t> chunks = p.get_int("--chunks", -1, -1, 1 << 30);
  Result<int64_t> threads = p.get_int("--threads", default_threads(), 1, 1024);
  for (const auto* r : {&n_ctx, &chunks, &threads})
    if (!r->has_value()) return fail_usage(command, r->error());
  Result<int64_t> batch = p.get_int("--batch-size", *n_ctx, 1, 1 << 20);
  if (!batch.has_value()) return fail_usage(command, batch.error());
  Result<CacheTypes> cache = get_cache_types(p);
  if (!cache.has_value()) return fail_usage(command, cache.error());
  std::string text;
  if (need_text) {
    run->file = p.get("--file");
    Result<std::string> t = read_text_file(run->file, size_t{1} << 30);
    if (!t.has_value()) return fail_run(command, t.error());
    text = std::move(*t);
  }

  Result<std::unique_ptr<model::Runtime>> rt =
      model::Runtime::open(runtime_options(p, *threads, stderr));
  if (!rt.has_value()) return fail_run(command, rt.error());
  run->rt = std::move(*rt);
  const model::LlamaModel& m = run->rt->model();
  if (Status s = cache_types_fit(*cache, m.config().head_dim); !s.has_value()) return fail_usage(command, s.error());
  if (need_text) {
    Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(m);
    if (!tok.has_value()) return fail_run(command, tok.error());
    run->ids = tok->encode(text, true);
    std::fprintf(stderr, "herd %s: %zu tokens, chunks of %lld, %d threads, kernels %s\n", command, run->ids.size(),
                 static_cast<long long>(*n_ctx), run->rt->pool().size(), run->rt->table().isa);
  }
  model::PerplexityOptions& o = run->options;
  o.n_ctx = *n_ctx;
  o.n_chunks = *chunks;
  o.batch = *batch;
  o.bos_id = m.config().bos_id;
  o.kv_k = cache->k;
  o.kv_v = cache->v;
  return 0;
}

}  // namespace herd::cli
