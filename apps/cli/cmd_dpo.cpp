// herd dpo: direct preference optimisation of a LoRA adapter on the user's
// preference pairs (train/dpo.h through the shared training loop,
// train/finetune.h); the reference is the model the run starts from (the base,
// or the base with --lora-init's adapter), its log-probs computed once before
// training. Output as herd finetune's: PEFT directory + adapter.gguf.
#include <cstdio>

#include "commands.h"
#include "model/model_tokenizer.h"
#include "train/dpo.h"
#include "train_options.h"

namespace herd::cli {

int cmd_dpo(int argc, char** argv) {
  ArgParser p("dpo", "-m MODEL --data PREFS.jsonl -o ADAPTER_DIR [options]");
  // torchtune's LoRA DPO recipe: lr 5e-4, weight decay 0.05 (spec/post-training-safety.md A2).
  TrainDefaults defaults;
  defaults.lr = 5e-4;
  defaults.weight_decay = 0.05;
  add_train_options(p, defaults);
  p.add("--data", "FILE",
        "JSONL preference pairs: {\"prompt\": [...] or \"...\", \"chosen\": [...] or \"...\", \"rejected\": ...} (TRL's layouts)");
  p.add("--beta", "X", "DPO's beta (default 0.1)");
  p.add("--loss", "KIND", "sigmoid (DPO, default), ipo or hinge");
  p.add("--label-smoothing", "X", "conservative DPO's epsilon, sigmoid loss only (default 0)");
  p.add("--rpo-alpha", "X", "add X times the chosen completion's mean NLL (the Llama 3 recipe's 0.2; default 0)");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.has("--model") || !p.has("--data") || !p.has("--output")) {
    std::fprintf(stderr, "herd dpo: -m, --data and -o are required\n");
    p.print_usage(stderr);
    return kExitUsage;
  }
  train::DpoOptions o;
  auto beta = p.get_double("--beta", 0.1);
  auto eps = p.get_double("--label-smoothing", 0.0);
  auto rpo = p.get_double("--rpo-alpha", 0.0);
  if (const Error* e = first_error(beta, eps, rpo)) return fail_usage("dpo", *e);
  Result<train::DpoLoss> loss = train::parse_dpo_loss(p.get("--loss", "sigmoid"));
  if (!loss.has_value()) return fail_usage("dpo", loss.error());
  if (!(*beta > 0) || !(*eps >= 0 && *eps < 0.5) || !(*rpo >= 0))
    return fail_usage("dpo", Error(ErrorCode::kInvalidArgument, "--beta > 0, 0 <= --label-smoothing < 0.5, --rpo-alpha >= 0"));
  if (*eps > 0 && *loss != train::DpoLoss::kSigmoid)
    return fail_usage("dpo", Error(ErrorCode::kInvalidArgument, "--label-smoothing applies to --loss sigmoid only"));
  o.loss = *loss;
  o.beta = *beta;
  o.label_smoothing = *eps;
  o.rpo_alpha = *rpo;

  std::unique_ptr<TrainSetup> s = open_training("dpo", p, defaults, &code);
  if (!s) return code;
  model::LlamaModel& m = s->rt->model();
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(m);
  if (!tok.has_value()) return fail_run("dpo", tok.error());
  Result<train::PrefData> data = train::load_pref_jsonl(p.get("--data"), *tok, s->seq_len);
  if (!data.has_value()) return fail_run("dpo", data.error());
  Result<train::LoraSet> lora = training_adapter(*s);
  if (!lora.has_value()) return fail_usage("dpo", lora.error());
  std::fprintf(stderr,
               "herd dpo: %zu pairs (%lld cut to %lld tokens, %lld without a counted token dropped); %s loss, beta %g; "
               "LoRA rank %lld alpha %g on %s: %lld parameters\n",
               data->pairs.size(), static_cast<long long>(data->truncated), static_cast<long long>(s->seq_len),
               static_cast<long long>(data->dropped), train::dpo_loss_name(o.loss), o.beta,
               static_cast<long long>(lora->spec().rank), lora->spec().alpha,
               train::lora_targets_string(lora->spec().targets).c_str(), static_cast<long long>(lora->n_params()));
  train::DpoObjective objective(*data, o);
  {
    // The reference: the model as the run starts (its adapter attached as loaded or new).
    int64_t max_pair = 0;
    for (size_t i = 0; i < objective.size(); ++i) max_pair = std::max(max_pair, objective.item_tokens(i));
    model::TrainStep ref_step(m, max_pair * s->fo.batch);
    Status a = lora->attach(m);
    if (!a.has_value()) return fail_run("dpo", a.error());
    std::fprintf(stderr, "herd dpo: reference log-probs of %zu pairs\n", objective.size());
    Status r = objective.compute_reference(s->rt->exec(), ref_step, s->fo.batch);
    m.clear_lora();
    if (!r.has_value()) return fail_run("dpo", r.error());
  }
  return run_training("dpo", p, *s, *lora, objective);
}

}  // namespace herd::cli
