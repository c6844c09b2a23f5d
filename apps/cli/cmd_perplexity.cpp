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
#include "base/progress.h"
#include "eval_options.h"
#include "model/perplexity.h"

namespace herd::cli {

int cmd_perplexity(int argc, char** argv) {
  ArgParser p("perplexity", "-m MODEL -f TEXT [options]");
  add_eval_options(p);
  p.add("--json", "", "print one JSON object instead of llama-perplexity's lines");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  EvalRun run;
  if (int rc = open_eval(p, "perplexity", &run); rc != 0) return rc;
  const model::PerplexityOptions& o = run.options;
  const std::vector<int32_t>& ids = run.ids;
  const model::LlamaModel& m = run.rt->model();
  const bool json = p.has("--json"), quiet = p.has("--quiet") || json;
  catch_interrupts();
  const auto t0 = std::chrono::steady_clock::now();
  Result<model::PerplexityResult> r =
      model::perplexity(m, ids, o, run.rt->exec(), [&](int64_t i, double ppl) {
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
