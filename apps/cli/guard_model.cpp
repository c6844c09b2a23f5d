// Opening a guard model beside another (guard_model.h).
#include "guard_model.h"

#include <algorithm>
#include <cstdio>

#include "args.h"
#include "model/model_tokenizer.h"

namespace herd::cli {

Result<std::unique_ptr<GuardModel>> open_guard_model(const GuardModelOptions& o) {
  auto g = std::make_unique<GuardModel>();
  Result<std::unique_ptr<model::Runtime>> rt = model::Runtime::open({o.path, o.isa, o.threads, stderr});
  if (!rt.has_value()) return rt.error().with_context("--guard");
  g->rt = std::move(*rt);
  const model::LlamaModel& gm = g->rt->model();
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(gm);
  if (!tok.has_value()) return tok.error().with_context("--guard");
  g->tok = std::make_unique<tokenizer::Tokenizer>(std::move(*tok));
  server::GuardOptions go;
  go.threshold = o.threshold;
  go.model_id = o.model_id;
  if (!o.variant.empty()) {
    if (o.variant != "8b" && o.variant != "1b")
      return err(ErrorCode::kInvalidArgument, "--guard-variant must be 8b or 1b, got '%s'", o.variant.c_str());
    go.variant = o.variant == "8b" ? chat::GuardVariant::k8B : chat::GuardVariant::k1B;
  } else {
    Result<chat::GuardVariant> v = chat::guard_variant_for(gm.config().name, gm.config().d_model);
    if (!v.has_value()) return err(ErrorCode::kInvalidArgument, "%s (--guard-variant)", v.error().message().c_str());
    go.variant = *v;
  }
  if (!o.exclude.empty()) {
    Result<std::vector<std::string>> ex = chat::parse_guard_codes(o.exclude, chat::guard_categories(go.variant));
    if (!ex.has_value()) return ex.error().with_context("--guard-exclude");
    go.excluded = std::move(*ex);
  }
  engine::EngineOptions ge;
  ge.threads = o.threads;
  ge.max_seq_len = std::min<int64_t>(std::max<int64_t>(gm.config().n_ctx_train, 16), o.max_seq_len);
  ge.n_ctx = ge.max_seq_len * std::max(o.kv_sequences, 1);
  ge.max_running = o.max_running;
  ge.max_queued = o.max_queued;
  Result<std::unique_ptr<engine::Engine>> e = engine::make_engine(gm, g->rt->table(), ge, &g->rt->pool());
  if (!e.has_value()) return e.error().with_context("--guard");
  g->engine = std::move(*e);
  Result<server::GuardShield> shield = server::GuardShield::make(*g->engine, *g->tok, go);
  if (!shield.has_value()) return shield.error();
  g->shield = std::make_unique<server::GuardShield>(std::move(*shield));
  return g;
}

void add_guard_options(ArgParser& p, const char* use) {
  p.add("--guard", "PATH", use);
  p.add("--guard-shields", "LIST", "which shields: input (user turns before inference), output (replies before "
        "release), or input,output (default)");
  p.add("--guard-variant", "V", "8b or 1b (default: from the guard's name or shape)");
  p.add("--guard-exclude", "CODES", "categories left out of the guard's prompt, e.g. S6,S7");
  p.add("--guard-threshold", "P", "flag when P(unsafe) is at least P and the guard says unsafe (default 0.5)");
}

Result<GuardOption> open_guard_option(const ArgParser& p, int threads, int64_t max_seq_len) {
  GuardOption g;
  if (!p.has("--guard")) {
    if (p.has("--guard-variant") || p.has("--guard-exclude") || p.has("--guard-threshold") || p.has("--guard-shields"))
      return err(ErrorCode::kInvalidArgument,
                 "--guard-variant, --guard-exclude, --guard-threshold and --guard-shields need --guard");
    return g;
  }
  Result<double> thr = p.get_double("--guard-threshold", 0.5);
  if (!thr.has_value() || !(*thr >= 0 && *thr <= 1))
    return err(ErrorCode::kInvalidArgument, "--guard-threshold must be a number in [0, 1]");
  const std::string shields = p.get("--guard-shields", "input,output");
  g.input = shields == "input" || shields == "input,output" || shields == "output,input";
  g.output = shields == "output" || shields == "input,output" || shields == "output,input";
  if (!g.input && !g.output)
    return err(ErrorCode::kInvalidArgument, "--guard-shields must be input, output or input,output");
  GuardModelOptions gmo;
  gmo.path = p.get("--guard");
  gmo.isa = p.get("--isa", "auto");
  gmo.threads = threads;
  gmo.variant = p.get("--guard-variant", "");
  gmo.exclude = p.get("--guard-exclude", "");
  gmo.threshold = *thr;
  gmo.model_id = basename_of(p.get("--guard"));
  gmo.max_seq_len = max_seq_len;
  HERD_ASSIGN_OR_RETURN(g.model, open_guard_model(gmo));
  return g;
}

}  // namespace herd::cli
