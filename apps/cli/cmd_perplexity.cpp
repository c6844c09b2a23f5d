// herd perplexity: a model's perplexity on a text file, by llama-perplexity's
// method (model/perplexity.h), so the figures compare across the two tools.
//
//   herd perplexity -m MODEL -f TEXT [-c 512] [--chunks N] [-b N] [-t N] [--isa ISA]
//                   [-ctk T -ctv T] [--json]
//
// Prints llama-perplexity's running estimate "[1]8.1234,[2]..." and its final
// line "Final estimate: PPL = X +/- Y" on stdout (with --json one object
// instead), and the speed on stderr. The text is read whole (at most 1 GiB),
// tokenized with BOS in front and special-token texts as plain text.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.h"
#include "base/mapped_file.h"
#include "base/progress.h"
#include "model/model_tokenizer.h"
#include "model/perplexity.h"
#include "model/runtime.h"

namespace herd::cli {

int cmd_perplexity(int argc, char** argv) {
  ArgParser p("perplexity", "-m MODEL -f TEXT [options]");
  p.add("-m,--model", "PATH", "the model (GGUF, Hugging Face or Meta native directory)");
  p.add("-f,--file", "PATH", "the text to score (e.g. wikitext-2's wiki.test.raw)");
  p.add("-c,--ctx-size", "N", "tokens per chunk (default 512, as llama-perplexity)");
  p.add("--chunks", "N", "score at most N chunks (default: all)");
  p.add("-b,--batch-size", "N", "tokens per forward call (default: the chunk)");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("--isa", "ISA", "kernel ISA: auto (default), avx512bf16, avx512vnni, avx512, avx2, ref");
  p.add("--json", "", "print one JSON object instead of llama-perplexity's lines");
  p.add("-q,--quiet", "", "no running estimate");
  add_cache_type_options(p);
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.positionals().empty() || !p.has("--model") || !p.has("--file"))
    return fail_usage("perplexity", err(ErrorCode::kInvalidArgument, "give -m MODEL and -f TEXT"));
  Result<int64_t> n_ctx = p.get_int("--ctx-size", 512, 4, 1 << 20);
  Result<int64_t> chunks = p.get_int("--chunks", -1, -1, 1 << 30);
  Result<int64_t> threads = p.get_int("--threads", default_threads(), 1, 1024);
  for (const auto* r : {&n_ctx, &chunks, &threads})
    if (!r->has_value()) return fail_usage("perplexity", r->error());
  Result<int64_t> batch = p.get_int("--batch-size", *n_ctx, 1, 1 << 20);
  if (!batch.has_value()) return fail_usage("perplexity", batch.error());
  Result<CacheTypes> cache = get_cache_types(p);
  if (!cache.has_value()) return fail_usage("perplexity", cache.error());
  Result<std::string> text = read_text_file(p.get("--file"), size_t{1} << 30);
  if (!text.has_value()) return fail_run("perplexity", text.error());

  Result<std::unique_ptr<model::Runtime>> rt =
      model::Runtime::open({p.get("--model"), p.get("--isa", "auto"), static_cast<int>(*threads), stderr});
  if (!rt.has_value()) return fail_run("perplexity", rt.error());
  const model::LlamaModel& m = (*rt)->model();
  if (Status s = cache_types_fit(*cache, m.config().head_dim); !s.has_value()) return fail_usage("perplexity", s.error());
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(m);
  if (!tok.has_value()) return fail_run("perplexity", tok.error());
  const std::vector<int32_t> ids = tok->encode(*text, true);
  std::fprintf(stderr, "herd perplexity: %zu tokens, chunks of %lld, %d threads, kernels %s\n", ids.size(),
               static_cast<long long>(*n_ctx), (*rt)->pool().size(), (*rt)->table().isa);

  model::PerplexityOptions o;
  o.n_ctx = *n_ctx;
  o.n_chunks = *chunks;
  o.batch = *batch;
  o.bos_id = m.config().bos_id;
  o.kv_k = cache->k;
  o.kv_v = cache->v;
  const bool json = p.has("--json"), quiet = p.has("--quiet") || json;
  catch_interrupts();
  const auto t0 = std::chrono::steady_clock::now();
  Result<model::PerplexityResult> r =
      model::perplexity(m, ids, o, (*rt)->exec(), [&](int64_t i, double ppl) {
        if (!quiet) {
          std::printf("[%lld]%.4f,", static_cast<long long>(i), ppl);
          std::fflush(stdout);
        }
      });
  if (!r.has_value())
    return r.error().code() == ErrorCode::kInvalidArgument ? fail_usage("perplexity", r.error())
                                                           : fail_run("perplexity", r.error());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double evaluated = static_cast<double>(r->n_chunks * o.n_ctx);
  if (json) {
    nlohmann::json j = {{"ppl", r->ppl},         {"ppl_error", r->ppl_error}, {"mean_nll", r->mean_nll},
                        {"chunks", r->n_chunks}, {"n_ctx", o.n_ctx},          {"scored_tokens", r->count},
                        {"tokens", ids.size()},  {"seconds", secs}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    if (!quiet) std::printf("\n");
    std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_error);
  }
  std::fprintf(stderr, "herd perplexity: %lld chunks, %.0f tokens evaluated in %.2f s (%.1f tok/s)\n",
               static_cast<long long>(r->n_chunks), evaluated, secs, evaluated / secs);
  return 0;
}

}  // namespace herd::cli
