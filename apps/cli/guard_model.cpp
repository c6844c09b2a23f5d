// Opening a guard model beside another (guard_model.h).
#include "guard_model.h"

#include <algorithm>
#include <cstdio>

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
  ge.n_ctx = ge.max_seq_len;
  ge.max_running = o.max_running;
  ge.max_queued = 64;
  Result<std::unique_ptr<engine::Engine>> e = engine::make_engine(gm, g->rt->table(), ge, &g->rt->pool());
  if (!e.has_value()) return e.error().with_context("--guard");
  g->engine = std::move(*e);
  Result<server::GuardShield> shield = server::GuardShield::make(*g->engine, *g->tok, go);
  if (!shield.has_value()) return shield.error();
  g->shield = std::make_unique<server::GuardShield>(std::move(*shield));
  return g;
}

}  // namespace herd::cli
