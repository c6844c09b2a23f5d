// herd dpo: direct preference optimisation of a LoRA adapter on the user's
// preference pairs (train/dpo.h through the shared training loop,
// train/finetune.h); the reference is the model the run starts from (the base,
// or the base with --lora-init's adapter) or --ref-model (run alone first), its
// log-probs computed once before training. Output as herd finetune's: PEFT directory + adapter.gguf.
#include <algorithm>
#include <cstdio>
#include <tuple>

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
  defaults.sequences_per_item = 2;  // a pair
  add_train_options(p, defaults);
  p.add("--data", "FILE",
        "JSONL preference pairs: {\"prompt\": [...] or \"...\", \"chosen\": [...] or \"...\", \"rejected\": ...} (TRL's layouts)");
  p.add("--beta", "X", "DPO's beta (default 0.1)");
  p.add("--loss", "KIND", "sigmoid (DPO, default), ipo or hinge");
  p.add("--label-smoothing", "X", "conservative DPO's epsilon, sigmoid loss only (default 0)");
  p.add("--rpo-alpha", "X", "add X times the chosen completion's mean NLL (the Llama 3 recipe's 0.2; default 0)");
  p.add("--ref-model", "PATH", "the reference model (same tokenizer), run once before training and released (default: the model as the run starts)");
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

  // A separate reference model: its log-probs first, alone (then its memory is released).
  std::vector<std::pair<double, double>> ref_logps;
  std::string ref_fp;
  if (p.has("--ref-model")) {
    Result<int64_t> threads = p.get_int("--threads", default_threads(), 1, 1024);
    Result<int64_t> seq_len = p.get_int("--seq-len", 2048, 2, 131072);
    Result<int64_t> batch = p.get_int("--batch", defaults.batch, 1, 4096);
    if (const Error* e = first_error(threads, seq_len, batch)) return fail_usage("dpo", *e);
    model::RuntimeOptions ro;
    ro.model_path = p.get("--ref-model");
    ro.isa = p.get("--isa", "auto");
    ro.threads = static_cast<int>(*threads);
    ro.progress = stderr;
    ro.repack = false;
    Result<std::unique_ptr<model::Runtime>> rrt = model::Runtime::open(ro);
    if (!rrt.has_value()) return fail_run("dpo", rrt.error().with_context("--ref-model"));
    Result<tokenizer::Tokenizer> rtok = model::load_model_tokenizer((*rrt)->model());
    if (!rtok.has_value()) return fail_run("dpo", rtok.error().with_context("--ref-model"));
    ref_fp = rtok->fingerprint();
    Result<train::PrefData> rdata = train::load_pref_jsonl(p.get("--data"), *rtok, *seq_len);
    if (!rdata.has_value()) return fail_run("dpo", rdata.error());
    train::DpoObjective robj(*rdata, o);
    int64_t max_pair = 0;
    for (size_t i = 0; i < robj.size(); ++i) max_pair = std::max(max_pair, robj.item_tokens(i));
    model::TrainStep ref_step((*rrt)->model(), max_pair * *batch);
    std::fprintf(stderr, "herd dpo: reference log-probs of %zu pairs from %s\n", robj.size(), ro.model_path.c_str());
    if (Status b = check_bf16(**rrt, p.has("--bf16")); !b.has_value()) return fail_usage("dpo", b.error());
    Status r = robj.compute_reference(train_exec(**rrt, p.has("--bf16")), ref_step, *batch);
    if (!r.has_value()) return fail_run("dpo", r.error());
    for (const train::PrefPair& pp : rdata->pairs) ref_logps.emplace_back(pp.ref_chosen, pp.ref_rejected);
  }

  std::unique_ptr<TrainSetup> s = open_training("dpo", p, defaults, &code);
  if (!s) return code;
  model::LlamaModel& m = s->rt->model();
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(m);
  if (!tok.has_value()) return fail_run("dpo", tok.error());
  Result<train::PrefData> data = train::load_pref_jsonl(p.get("--data"), *tok, s->seq_len);
  if (!data.has_value()) return fail_run("dpo", data.error());
  std::string what;
  Result<std::unique_ptr<train::Trainable>> trained = training_target(*s, &what);
  if (!trained.has_value()) return fail_usage("dpo", trained.error());
  std::fprintf(stderr,
               "herd dpo: %zu pairs (%lld cut to %lld tokens, %lld without a counted token dropped); %s loss, beta %g; "
               "%s\n",
               data->pairs.size(), static_cast<long long>(data->truncated), static_cast<long long>(s->seq_len),
               static_cast<long long>(data->dropped), train::dpo_loss_name(o.loss), o.beta, what.c_str());
  train::DpoObjective objective(*data, o);
  if (p.has("--ref-model")) {
    // The same data through the same tokenizer gives the same pairs, in order.
    if (tok->fingerprint() != ref_fp)
      return fail_run("dpo", Error(ErrorCode::kInvalidArgument,
                                   "--ref-model's tokenizer differs from the model's: DPO needs the same vocabulary"));
    if (ref_logps.size() != data->pairs.size())
      return fail_run("dpo", Error(ErrorCode::kInternal, "--ref-model: another number of pairs"));
    for (size_t i = 0; i < ref_logps.size(); ++i)
      std::tie(data->pairs[i].ref_chosen, data->pairs[i].ref_rejected) = ref_logps[i];
  } else {
    // The reference: the model as the run starts (its adapter attached as
    // loaded or new; with --full, the base's weights as the f32 copy holds them).
    int64_t max_pair = 0;
    for (size_t i = 0; i < objective.size(); ++i) max_pair = std::max(max_pair, objective.item_tokens(i));
    model::TrainStep ref_step(m, max_pair * s->fo.batch);
    Status a = (*trained)->prepare(m);
    if (!a.has_value()) return fail_run("dpo", a.error());
    std::fprintf(stderr, "herd dpo: reference log-probs of %zu pairs\n", objective.size());
    Status r = objective.compute_reference(s->exec(), ref_step, s->fo.batch);
    m.clear_lora();
    if (!r.has_value()) return fail_run("dpo", r.error());
  }
  return run_training("dpo", p, *s, **trained, objective);
}

}  // namespace herd::cli
