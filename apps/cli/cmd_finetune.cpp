// herd finetune: LoRA or full fine-tuning on the user's data (train/finetune.h
// with train/objective.h's SftObjective), the result written as a PEFT adapter
// directory and a GGUF LoRA that herd run/chat (--lora), PEFT and llama.cpp
// read, or with --full as a model (GGUF or Hugging Face, as the base).
#include <cstdio>

#include "commands.h"
#include "model/model_tokenizer.h"
#include "train/objective.h"
#include "train_options.h"

namespace herd::cli {

int cmd_finetune(int argc, char** argv) {
  ArgParser p("finetune", "-m MODEL --data FILE.jsonl -o OUT_DIR [options]");
  const TrainDefaults defaults;
  add_train_options(p, defaults);
  p.add("--data", "FILE", "JSONL: {\"messages\": [...]} chat examples (loss on assistant turns) or {\"text\": ...}");
  p.add("--train-on-inputs", "", "train on every token, not only the assistant turns");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.has("--model") || !p.has("--data") || !p.has("--output")) {
    std::fprintf(stderr, "herd finetune: -m, --data and -o are required\n");
    p.print_usage(stderr);
    return kExitUsage;
  }
  std::unique_ptr<TrainSetup> s = open_training("finetune", p, defaults, &code);
  if (!s) return code;
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(s->rt->model());
  if (!tok.has_value()) return fail_run("finetune", tok.error());
  train::SftOptions so;
  so.max_tokens = s->seq_len;
  so.train_on_inputs = p.has("--train-on-inputs");
  Result<train::SftData> data = train::load_sft_jsonl(p.get("--data"), *tok, so);
  if (!data.has_value()) return fail_run("finetune", data.error());
  std::string what;
  Result<std::unique_ptr<train::Trainable>> trained = training_target(*s, &what);
  if (!trained.has_value()) return fail_usage("finetune", trained.error());
  std::fprintf(stderr, "herd finetune: %zu examples (%lld cut to %lld tokens, %lld without a trained token dropped); %s\n",
               data->examples.size(), static_cast<long long>(data->truncated), static_cast<long long>(s->seq_len),
               static_cast<long long>(data->dropped), what.c_str());
  train::SftObjective objective(*data);
  return run_training("finetune", p, *s, **trained, objective);
}

}  // namespace herd::cli
