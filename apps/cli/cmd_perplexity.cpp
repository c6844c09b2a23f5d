// herd perplexity: a model's perplexity on a text file, by llama-perplexity's
// method (model/perplexity.h), so the figures compare across the two tools;
// and its KL-divergence mode (model/kl_divergence.h), in llama.cpp's file
// format, to measure what quantization changes:
//
//   herd perplexity -m MODEL -f TEXT [-c 512] [--chunks N] [-b N] [-t N] [--isa ISA]
//                   [-ctk T -ctv T] [--json]
//   herd perplexity -m BASE -f TEXT --kl-divergence-base FILE    (also writes FILE)
//   herd perplexity -m OTHER --kl-divergence-base FILE --kl-divergence [--chunks N]
//
// Prints llama-perplexity's running estimate "[1]8.1234,[2]..." and its final
// line "Final estimate: PPL = X +/- Y" on stdout; with --kl-divergence its
// per-chunk table and its statistics ("====== Perplexity statistics ======",
// "Mean    KLD: ...", "Same top p: ..."); with --json one object instead. The
// speed goes to stderr. The text is read whole (at most 1 GiB), tokenized
// with BOS in front and special-token texts as plain text; --kl-divergence
// takes the tokens, the context and the chunks from the base file (-f and -c
// are not used). The base file is written to FILE.tmp and renamed at the end:
// an interrupted run leaves no partial file under FILE.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.h"
#include "base/progress.h"
#include "eval_options.h"
#include "model/kl_divergence.h"
#include "model/perplexity.h"

namespace herd::cli {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

nlohmann::json kld_json(const model::KldStats& s) {
  std::vector<float> kld = s.kld_values, dp = s.dp_values;
  std::sort(kld.begin(), kld.end());
  std::sort(dp.begin(), dp.end());
  const model::MeanUnc lp = model::mean_and_uncertainty(s.sum_nll, s.sum_nll2, s.count);
  const model::MeanUnc lb = model::mean_and_uncertainty(s.sum_nll_base, s.sum_nll_base2, s.count);
  const model::MeanUnc kl = model::mean_and_uncertainty(s.sum_kld, s.sum_kld2, s.count);
  const model::MeanUnc d = model::mean_and_uncertainty(s.sum_dp, s.sum_dp2, s.count);
  const model::MeanUnc mse = model::mean_and_uncertainty(s.sum_dp2, s.sum_dp4, s.count);
  return {{"scored_tokens", s.count},
          {"mean_nll", lp.mean},
          {"mean_nll_base", lb.mean},
          {"ppl", std::exp(lp.mean)},
          {"ppl_base", std::exp(lb.mean)},
          {"mean_kld", kl.mean},
          {"mean_kld_error", kl.unc},
          {"max_kld", kld.empty() ? 0.0 : kld.back()},
          {"mean_dp", d.mean},
          {"rms_dp", std::sqrt(mse.mean)},
          {"max_abs_dp", dp.empty() ? 0.0 : std::max(-dp.front(), dp.back())},
          {"same_top", s.count ? static_cast<double>(s.same_top) / static_cast<double>(s.count) : 0.0}};
}

}  // namespace

int cmd_perplexity(int argc, char** argv) {
  ArgParser p("perplexity", "-m MODEL -f TEXT [options]");
  add_eval_options(p);
  p.add("--kl-divergence-base", "FILE",
        "alone: also write the model's log-probs of every scored token to FILE (llama-perplexity's format); with "
        "--kl-divergence: read them and compare this model against them");
  p.add("--kl-divergence", "", "KL divergence of this model from the --kl-divergence-base file's (tokens, context "
                               "and chunks come from the file)");
  p.add("--json", "", "print one JSON object instead of llama-perplexity's lines");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  const bool kld_mode = p.has("--kl-divergence");
  const std::string base_path = p.get("--kl-divergence-base");
  if (kld_mode && base_path.empty())
    return fail_usage("perplexity", err(ErrorCode::kInvalidArgument, "--kl-divergence needs --kl-divergence-base FILE"));
  EvalRun run;
  if (int rc = open_eval(p, "perplexity", &run, !kld_mode); rc != 0) return rc;
  model::PerplexityOptions o = run.options;
  std::vector<int32_t> ids = run.ids;
  const model::LlamaModel& m = run.rt->model();
  const int64_t vocab = m.config().vocab_size;
  const bool json = p.has("--json"), quiet = p.has("--quiet") || json;

  // The base file: read (--kl-divergence) or written beside the run.
  File base;
  std::string tmp_path;
  model::KldStats stats;
  std::vector<uint16_t> row(static_cast<size_t>(model::log_prob_row_u16(vocab)));
  if (kld_mode) {
    base.reset(std::fopen(base_path.c_str(), "rb"));
    if (!base) return fail_run("perplexity", err(ErrorCode::kNotFound, "cannot open %s", base_path.c_str()));
    Result<model::LogProbFile> h = model::read_log_prob_header(base.get(), base_path, vocab);
    if (!h.has_value()) return fail_run("perplexity", h.error());
    ids = std::move(h->tokens);
    o.n_ctx = h->n_ctx;
    o.batch = std::min<int64_t>(o.batch, o.n_ctx);
    if (!p.has("--batch-size")) o.batch = o.n_ctx;
    // Every chunk of the file, or the first --chunks of them (their rows come first).
    if (o.n_chunks < 0 || o.n_chunks > h->n_chunk) o.n_chunks = h->n_chunk;
    o.min_chunks = 1;  // a base file of one chunk is llama-perplexity's too
    std::fprintf(stderr, "herd perplexity: KL divergence from %s: %d chunks of %u tokens, %d threads, kernels %s\n",
                 base_path.c_str(), h->n_chunk, h->n_ctx, run.rt->pool().size(), run.rt->table().isa);
    o.on_scored = [&](std::span<const float> logits, int32_t next) -> Status {
      if (std::fread(row.data(), sizeof(uint16_t), row.size(), base.get()) != row.size())
        return err(ErrorCode::kIo, "%s: reading log-probs failed", base_path.c_str());
      HERD_TRY(model::check_log_prob_row(row.data(), vocab, base_path, stats.count));
      stats.add(logits, row.data(), next);
      return Ok{};
    };
  } else if (!base_path.empty()) {
    // The chunks perplexity() will evaluate (a text under two chunks is refused there).
    const int64_t n_chunk = std::min<int64_t>(static_cast<int64_t>(ids.size()) / o.n_ctx,
                                              o.n_chunks < 0 ? INT32_MAX : o.n_chunks);
    tmp_path = base_path + ".tmp";
    base.reset(std::fopen(tmp_path.c_str(), "wb"));
    if (!base) return fail_run("perplexity", err(ErrorCode::kIo, "cannot create %s", tmp_path.c_str()));
    if (Status s = model::write_log_prob_header(base.get(), tmp_path, static_cast<uint32_t>(o.n_ctx),
                                                static_cast<int32_t>(vocab), static_cast<int32_t>(n_chunk), ids);
        !s.has_value()) {
      base.reset();
      std::remove(tmp_path.c_str());
      return fail_run("perplexity", s.error());
    }
    o.on_scored = [&](std::span<const float> logits, int32_t next) -> Status {
      model::encode_log_probs(logits, next, row.data());
      if (std::fwrite(row.data(), sizeof(uint16_t), row.size(), base.get()) != row.size())
        return err(ErrorCode::kIo, "%s: write failed", tmp_path.c_str());
      return Ok{};
    };
  }

  catch_interrupts();
  const auto t0 = std::chrono::steady_clock::now();
  if (kld_mode && !quiet) std::printf("%s", model::kld_chunk_header().c_str());
  Result<model::PerplexityResult> r = model::perplexity(m, ids, o, run.rt->exec(), [&](int64_t i, double ppl) {
    if (quiet) return;
    if (kld_mode)
      std::printf("%s", model::kld_chunk_line(i, stats).c_str());
    else
      std::printf("[%lld]%.4f,", static_cast<long long>(i), ppl);
    std::fflush(stdout);
  });
  if (!r.has_value()) {
    if (!tmp_path.empty()) {
      base.reset();
      std::remove(tmp_path.c_str());
    }
    return r.error().code() == ErrorCode::kInvalidArgument ? fail_usage("perplexity", r.error())
                                                           : fail_run("perplexity", r.error());
  }
  if (!tmp_path.empty()) {
    std::FILE* f = base.release();
    if (std::fclose(f) != 0 || std::rename(tmp_path.c_str(), base_path.c_str()) != 0) {
      std::remove(tmp_path.c_str());
      return fail_run("perplexity", err(ErrorCode::kIo, "cannot write %s", base_path.c_str()));
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double evaluated = static_cast<double>(r->n_chunks * o.n_ctx);
  if (json) {
    nlohmann::json j = {{"ppl", r->ppl},         {"ppl_error", r->ppl_error}, {"mean_nll", r->mean_nll},
                        {"chunks", r->n_chunks}, {"n_ctx", o.n_ctx},          {"scored_tokens", r->count},
                        {"tokens", ids.size()},  {"seconds", secs}};
    if (kld_mode) j["kl_divergence"] = kld_json(stats);
    std::printf("%s\n", j.dump().c_str());
  } else if (kld_mode) {
    std::printf("\n%s", model::kld_report(stats).c_str());
  } else {
    if (!quiet) std::printf("\n");
    std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_error);
  }
  if (!tmp_path.empty()) std::fprintf(stderr, "herd perplexity: wrote the log-probs to %s\n", base_path.c_str());
  std::fprintf(stderr, "herd perplexity: %lld chunks, %.0f tokens evaluated in %.2f s (%.1f tok/s)\n",
               static_cast<long long>(r->n_chunks), evaluated, secs, evaluated / secs);
  return 0;
}

}  // namespace herd::cli
