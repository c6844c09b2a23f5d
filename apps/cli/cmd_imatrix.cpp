// herd imatrix: an importance matrix from calibration text, as llama.cpp's
// llama-imatrix computes it and in its file formats (model/imatrix.h), so
// llama-quantize --imatrix can use herd's file and herd can read theirs.
//
//   herd imatrix -m MODEL -f TEXT [-o imatrix.dat|imatrix.gguf] [--output-format dat|gguf]
//                [-c 512] [--chunks N] [-b N] [--process-output] [--no-ppl] [-t N]
//                [--isa ISA] [-ctk T -ctv T]
//
// The format: --output-format, else GGUF when the output name ends in .gguf
// (llama-imatrix's default file, imatrix.gguf), else the legacy .dat.
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
#include "base/progress.h"
#include "eval_options.h"
#include "model/imatrix.h"
#include "model/perplexity.h"

namespace herd::cli {

int cmd_imatrix(int argc, char** argv) {
  ArgParser p("imatrix", "-m MODEL -f TEXT [-o imatrix.dat] [options]");
  add_eval_options(p);
  p.add("-o,--output", "PATH", "the imatrix file to write (default imatrix.dat)");
  p.add("--output-format", "F", "gguf or dat (llama-imatrix's two formats; default: gguf for a .gguf name, else dat)");
  p.add("--process-output", "", "also collect output.weight's inputs (llama-imatrix's option)");
  p.add("--no-ppl", "", "do not print the perplexity");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  const std::string out = p.get("--output", "imatrix.dat");
  const std::string format =
      p.get("--output-format", out.size() >= 5 && out.compare(out.size() - 5, 5, ".gguf") == 0 ? "gguf" : "dat");
  if (format != "gguf" && format != "dat")
    return fail_usage("imatrix", err(ErrorCode::kInvalidArgument, "--output-format is gguf or dat, not '%s'", format.c_str()));
  EvalRun run;
  if (int rc = open_eval(p, "imatrix", &run); rc != 0) return rc;
  const model::LlamaModel& m = run.rt->model();
  const std::vector<int32_t>& ids = run.ids;
  const std::string& file = run.file;
  model::ImatrixCollector collector(p.has("--process-output"));
  model::PerplexityOptions o = run.options;
  o.taps = &collector;
  o.before_eval = [&collector](int64_t n) { collector.begin_eval(n); };
  const bool show = !p.has("--quiet") && !p.has("--no-ppl");
  catch_interrupts();
  Result<model::PerplexityResult> r = model::perplexity(m, ids, o, run.rt->exec(), [&](int64_t i, double ppl) {
    if (show) {
      std::printf("[%lld]%.4f,", static_cast<long long>(i), ppl);
      std::fflush(stdout);
    }
  });
  if (!r.has_value())
    return r.error().code() == ErrorCode::kInvalidArgument ? fail_usage("imatrix", r.error())
                                                           : fail_run("imatrix", r.error());
  if (show) std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_error);
  const model::ImatrixFile f =
      collector.result(static_cast<int32_t>(r->n_chunks), file, format == "gguf", static_cast<int32_t>(o.n_ctx));
  if (f.entries.empty())
    return fail_run("imatrix", err(ErrorCode::kInvalidArgument,
                                   "no matrix saw a batch of 16 tokens or more; use a larger -b / -c"));
  if (Status s = model::write_imatrix(out, f); !s.has_value()) return fail_run("imatrix", s.error());
  std::fprintf(stderr, "herd imatrix: %zu entries from %lld chunks (%lld forward calls of 16+ tokens) -> %s\n",
               f.entries.size(), static_cast<long long>(r->n_chunks), static_cast<long long>(collector.counted_evals()),
               out.c_str());
  return 0;
}

}  // namespace herd::cli
