// Runtime::open: kernels, model, pool, repack (model/runtime.h).
#include "model/runtime.h"

#include <chrono>

namespace herd::model {

Result<std::unique_ptr<Runtime>> Runtime::open(const RuntimeOptions& o) {
  if (o.threads < 1) return err(ErrorCode::kInvalidArgument, "threads: %d must be >= 1", o.threads);
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Runtime> r(new Runtime());
  HERD_ASSIGN_OR_RETURN(r->table_, kernels::select_kernels(o.isa));
  HERD_ASSIGN_OR_RETURN(r->model_, LlamaModel::load(o.model_path));
  if (o.fp8_dynamic_activations && r->model_.use_fp8_dynamic_activations() == 0)
    return err(ErrorCode::kInvalidArgument, "--fp8-activations: %s has no FP8 weights", o.model_path.c_str());
  r->pool_ = std::make_unique<ThreadPool>(o.threads);
  Progress progress("herd: loading " + o.model_path, 0, o.progress, /*quiet_s=*/1.0);
  if (o.repack) r->model_.repack_weights(r->table_, *r->pool_, &progress);  // the r8 layouts (tensor/repack_r8.h)
  progress.finish();
  r->startup_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace herd::model
