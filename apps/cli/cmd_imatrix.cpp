// herd imatrix: an importance matrix from calibration text, as llama.cpp's
// llama-imatrix computes it and in its file format (model/imatrix.h), so
// llama-quantize --imatrix can use herd's file and herd can read theirs.
//
//   herd imatrix -m MODEL -f TEXT [-o imatrix.dat] [-c 512] [--chunks N] [-b N]
//                [--process-output] [--no-ppl] [-t N] [--isa ISA]
//
// The text goes through the model in llama-perplexity's chunks (model/
// perplexity.h: BOS per chunk, -c tokens each, batches of -b); the inputs of
// every layer matrix (and of output.weight with --process-output) are summed
// as squares per column. The perplexity of the same pass is printed as
// llama-imatrix prints it (--no-ppl: only the final line is left out; the
// logits are computed either way). The file is written at the end, whole, to
// a temporary name renamed into place; Ctrl-C writes nothing.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "base/mapped_file.h"
#include "base/progress.h"
#include "model/imatrix.h"
#include "model/model_tokenizer.h"
#include "model/perplexity.h"
#include "model/runtime.h"

namespace herd::cli {

int cmd_imatrix(int argc, char** argv) {
  ArgParser p("imatrix", "-m MODEL -f TEXT [-o imatrix.dat] [options]");
  p.add("-m,--model", "PATH", "the model (GGUF, Hugging Face or Meta native directory), ideally in f16/bf16/f32");
  p.add("-f,--file", "PATH", "calibration text");
  p.add("-o,--output", "PATH", "the imatrix file to write (default imatrix.dat)");
  p.add("-c,--ctx-size", "N", "tokens per chunk (default 512, as llama-imatrix)");
  p.add("--chunks", "N", "use at most N chunks (default: all)");
  p.add("-b,--batch-size", "N", "tokens per forward call (default: the chunk)");
  p.add("--process-output", "", "also collect output.weight's inputs (llama-imatrix's option)");
  p.add("--no-ppl", "", "do not print the perplexity");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("--isa", "ISA", "kernel ISA: auto (default), avx512bf16, avx512vnni, avx512, avx2, ref");
  p.add("-q,--quiet", "", "no running estimate");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.positionals().empty() || !p.has("--model") || !p.has("--file"))
    return fail_usage("imatrix", err(ErrorCode::kInvalidArgument, "give -m MODEL and -f TEXT"));
  Result<int64_t> n_ctx = p.get_int("--ctx-size", 512, 4, 1 << 20);
  Result<int64_t> chunks = p.get_int("--chunks", -1, -1, 1 << 30);
  Result<int64_t> threads = p.get_int("--threads", default_threads(), 1, 1024);
  for (const auto* r : {&n_ctx, &chunks, &threads})
    if (!r->has_value()) return fail_usage("imatrix", r->error());
  Result<int64_t> batch = p.get_int("--batch-size", *n_ctx, 1, 1 << 20);
  if (!batch.has_value()) return fail_usage("imatrix", batch.error());
  const std::string out = p.get("--output", "imatrix.dat");
  const std::string file = p.get("--file");
  Result<std::string> text = read_text_file(file, size_t{1} << 30);
  if (!text.has_value()) return fail_run("imatrix", text.error());

  Result<std::unique_ptr<model::Runtime>> rt =
      model::Runtime::open({p.get("--model"), p.get("--isa", "auto"), static_cast<int>(*threads), stderr});
  if (!rt.has_value()) return fail_run("imatrix", rt.error());
  const model::LlamaModel& m = (*rt)->model();
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(m);
  if (!tok.has_value()) return fail_run("imatrix", tok.error());
  const std::vector<int32_t> ids = tok->encode(*text, true);
  std::fprintf(stderr, "herd imatrix: %zu tokens, chunks of %lld, %d threads, kernels %s\n", ids.size(),
               static_cast<long long>(*n_ctx), (*rt)->pool().size(), (*rt)->table().isa);

  model::ImatrixCollector collector(p.has("--process-output"));
  model::PerplexityOptions o;
  o.n_ctx = *n_ctx;
  o.n_chunks = *chunks;
  o.batch = *batch;
  o.bos_id = m.config().bos_id;
  o.taps = &collector;
  o.before_eval = [&collector](int64_t n) { collector.begin_eval(n); };
  const bool show = !p.has("--quiet") && !p.has("--no-ppl");
  catch_interrupts();
  Result<model::PerplexityResult> r = model::perplexity(m, ids, o, (*rt)->exec(), [&](int64_t i, double ppl) {
    if (show) {
      std::printf("[%lld]%.4f,", static_cast<long long>(i), ppl);
      std::fflush(stdout);
    }
  });
  if (!r.has_value())
    return r.error().code() == ErrorCode::kInvalidArgument ? fail_usage("imatrix", r.error())
                                                           : fail_run("imatrix", r.error());
  if (show) std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_error);
  const model::ImatrixFile f = collector.result(static_cast<int32_t>(r->n_chunks), file);
  if (f.entries.empty())
    return fail_run("imatrix", err(ErrorCode::kInvalidArgument,
                                   "no matrix saw a batch of 16 tokens or more; use a larger -b / -c"));
  if (Status s = model::write_imatrix_dat(out, f); !s.has_value()) return fail_run("imatrix", s.error());
  std::fprintf(stderr, "herd imatrix: %zu entries from %lld chunks (%lld forward calls of 16+ tokens) -> %s\n",
               f.entries.size(), static_cast<long long>(r->n_chunks), static_cast<long long>(collector.counted_evals()),
               out.c_str());
  return 0;
}

}  // namespace herd::cli
