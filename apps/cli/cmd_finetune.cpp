// herd finetune: LoRA fine-tuning on the user's data (train/finetune.h), the
// result written as a PEFT adapter directory that herd run/chat (--lora),
// PEFT and llama.cpp's converter read.
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "args.h"
#include "base/progress.h"
#include "commands.h"
#include "model/model_tokenizer.h"
#include "model/runtime.h"
#include "train/finetune.h"

namespace herd::cli {

int cmd_finetune(int argc, char** argv) {
  ArgParser p("finetune", "-m MODEL --data FILE.jsonl -o ADAPTER_DIR [options]");
  p.add("-m,--model", "PATH", "the base model: a .gguf file or a Hugging Face directory (any stored dtype; it stays frozen)");
  p.add("--data", "FILE", "JSONL: {\"messages\": [...]} chat examples (loss on assistant turns) or {\"text\": ...}");
  p.add("-o,--output", "DIR", "where the PEFT adapter goes (adapter_config.json + adapter_model.safetensors)");
  p.add("--lora-rank", "N", "adapter rank (default 8)");
  p.add("--lora-alpha", "X", "adapter alpha; scale = alpha / rank (default 2 x rank)");
  p.add("--lora-targets", "LIST", "q,k,v,o,gate,up,down or all (default all)");
  p.add("--rslora", "", "scale = alpha / sqrt(rank)");
  p.add("--epochs", "N", "passes over the data (default 1)");
  p.add("--max-steps", "N", "stop after N optimizer steps (default: the epochs decide)");
  p.add("--lr", "X", "peak learning rate (default 3e-4)");
  p.add("--weight-decay", "X", "AdamW weight decay (default 0.01)");
  p.add("--warmup", "N", "warmup steps of the cosine schedule (default 100, at most a tenth of the steps)");
  p.add("--batch", "N", "examples per step, packed together (default 2)");
  p.add("--grad-accum", "N", "steps per optimizer step (default 1)");
  p.add("--seq-len", "N", "tokens per example at most; longer ones are cut (default 2048)");
  p.add("--clip", "X", "gradient clipping by global norm (default 1.0; 0: none)");
  p.add("--val-split", "X", "share of the examples held out for the eval loss (default 0)");
  p.add("--train-on-inputs", "", "train on every token, not only the assistant turns");
  p.add("--seed", "N", "seed of the adapter initialisation, shuffling and split (default 0)");
  p.add("--log-jsonl", "FILE", "one JSON line per optimizer step (appended to when resuming)");
  p.add("--save-every", "N", "write OUTPUT/checkpoint.safetensors every N optimizer steps (it is also written at the end and on Ctrl-C)");
  p.add("--resume", "", "continue from OUTPUT/checkpoint.safetensors (same data and options): the same losses and adapter as an uninterrupted run");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("--isa", "ISA", "kernels: auto (default), ref, avx2, avx512, avx512vnni, avx512bf16");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.has("--model") || !p.has("--data") || !p.has("--output")) {
    std::fprintf(stderr, "herd finetune: -m, --data and -o are required\n");
    p.print_usage(stderr);
    return kExitUsage;
  }
  auto rank = p.get_int("--lora-rank", 8, 1, 4096);
  auto epochs = p.get_int("--epochs", 1, 1, 1000000);
  auto max_steps = p.get_int("--max-steps", 0, 0, INT64_MAX);
  auto warmup = p.get_int("--warmup", 100, 0, INT64_MAX);
  auto batch = p.get_int("--batch", 2, 1, 4096);
  auto accum = p.get_int("--grad-accum", 1, 1, 4096);
  auto seq_len = p.get_int("--seq-len", 2048, 2, 131072);
  auto seed = p.get_int("--seed", 0, 0, INT64_MAX);
  auto save_every = p.get_int("--save-every", 0, 0, INT64_MAX);
  auto threads = p.get_int("--threads", default_threads(), 1, 1024);
  auto lr = p.get_double("--lr", 3e-4);
  auto wd = p.get_double("--weight-decay", 0.01);
  auto clip = p.get_double("--clip", 1.0);
  auto val = p.get_double("--val-split", 0.0);
  if (const Error* e = first_error(rank, epochs, max_steps, warmup, batch, accum, seq_len, seed, threads, save_every))
    return fail_usage("finetune", *e);
  if (const Error* e = first_error(lr, wd, clip, val)) return fail_usage("finetune", *e);
  auto alpha = p.get_double("--lora-alpha", 2.0 * static_cast<double>(*rank));
  if (!alpha.has_value()) return fail_usage("finetune", alpha.error());
  Result<train::LoraTargets> targets = train::parse_lora_targets(p.get("--lora-targets", "all"));
  if (!targets.has_value()) return fail_usage("finetune", targets.error());
  if (!(*lr > 0) || !(*wd >= 0) || !(*clip >= 0) || !(*val >= 0 && *val < 1))
    return fail_usage("finetune", Error(ErrorCode::kInvalidArgument, "--lr > 0, --weight-decay >= 0, --clip >= 0, 0 <= --val-split < 1"));

  catch_interrupts();
  model::RuntimeOptions ro;
  ro.model_path = p.get("--model");
  ro.isa = p.get("--isa", "auto");
  ro.threads = static_cast<int>(*threads);
  ro.progress = stderr;
  ro.repack = false;  // training reads the weights as stored
  Result<std::unique_ptr<model::Runtime>> rt = model::Runtime::open(ro);
  if (!rt.has_value()) return fail_run("finetune", rt.error());
  model::LlamaModel& m = (*rt)->model();
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(m);
  if (!tok.has_value()) return fail_run("finetune", tok.error());
  train::SftOptions so;
  so.max_tokens = *seq_len;
  so.train_on_inputs = p.has("--train-on-inputs");
  Result<train::SftData> data = train::load_sft_jsonl(p.get("--data"), *tok, so);
  if (!data.has_value()) return fail_run("finetune", data.error());
  train::LoraSpec spec;
  spec.rank = *rank;
  spec.alpha = *alpha;
  spec.targets = *targets;
  spec.rslora = p.has("--rslora");
  Result<train::LoraSet> lora = train::LoraSet::create(m, spec, static_cast<uint64_t>(*seed));
  if (!lora.has_value()) return fail_usage("finetune", lora.error());
  std::fprintf(stderr,
               "herd finetune: %zu examples (%lld cut to %lld tokens, %lld without a trained token dropped); LoRA rank "
               "%lld alpha %g on %s: %lld parameters\n",
               data->examples.size(), static_cast<long long>(data->truncated), static_cast<long long>(*seq_len),
               static_cast<long long>(data->dropped), static_cast<long long>(*rank), *alpha,
               train::lora_targets_string(*targets).c_str(), static_cast<long long>(lora->n_params()));
  train::FinetuneOptions fo;
  fo.epochs = *epochs;
  fo.batch = *batch;
  fo.grad_accum = *accum;
  fo.max_steps = *max_steps;
  fo.warmup = *warmup;
  fo.clip = *clip;
  fo.val_split = *val;
  fo.seed = static_cast<uint64_t>(*seed);
  fo.adamw.lr = *lr;
  fo.adamw.weight_decay = *wd;
  fo.checkpoint = p.get("--output") + "/checkpoint.safetensors";
  fo.save_every = *save_every;
  fo.resume = p.has("--resume");
  std::error_code ec;
  std::filesystem::create_directories(p.get("--output"), ec);
  if (ec) return fail_run("finetune", Error(ErrorCode::kIo, p.get("--output") + ": " + ec.message()));
  std::ofstream log;
  if (p.has("--log-jsonl")) {
    log.open(p.get("--log-jsonl"), fo.resume ? std::ios::app : std::ios::trunc);
    if (!log) return fail_run("finetune", Error(ErrorCode::kIo, "--log-jsonl: cannot write " + p.get("--log-jsonl")));
  }
  double elapsed = 0;
  Result<train::FinetuneResult> res = train::finetune((*rt)->exec(), m, *lora, *data, fo, [&](const train::StepReport& r) {
    elapsed += r.seconds;
    const double eta = elapsed / static_cast<double>(r.step) * static_cast<double>(r.total_steps - r.step);
    std::fprintf(stderr, "step %lld/%lld epoch %lld  loss %.4f%s  lr %.3g  grad norm %.3g  %.0f tok/s  ETA %.0f s\n",
                 static_cast<long long>(r.step), static_cast<long long>(r.total_steps), static_cast<long long>(r.epoch),
                 r.loss, r.eval_loss >= 0 ? (std::string("  eval ") + std::to_string(r.eval_loss)).c_str() : "", r.lr,
                 r.grad_norm, static_cast<double>(r.tokens) / std::max(r.seconds, 1e-9), eta);
    if (log.is_open()) {
      char line[512];
      std::snprintf(line, sizeof line,
                    "{\"step\": %lld, \"epoch\": %lld, \"loss\": %.9g, \"eval_loss\": %s, \"lr\": %.9g, \"grad_norm\": "
                    "%.9g, \"tokens\": %lld, \"seconds\": %.6f}\n",
                    static_cast<long long>(r.step), static_cast<long long>(r.epoch), r.loss,
                    r.eval_loss >= 0 ? std::to_string(r.eval_loss).c_str() : "null", r.lr, r.grad_norm,
                    static_cast<long long>(r.tokens), r.seconds);
      log << line << std::flush;
    }
    return !interrupted();
  });
  if (!res.has_value()) return fail_run("finetune", res.error());
  // Both formats: PEFT (Hugging Face, vLLM) and, inside the same directory, the
  // GGUF LoRA that llama.cpp and Ollama take.
  Status w = lora->write_peft(p.get("--output"), m, ro.model_path);
  if (w.has_value()) w = lora->write_gguf(p.get("--output") + "/adapter.gguf", m, ro.model_path);
  if (!w.has_value()) return fail_run("finetune", w.error());
  if (res->resumed_from > 0)
    std::fprintf(stderr, "herd finetune: resumed after step %lld\n", static_cast<long long>(res->resumed_from));
  std::fprintf(stderr, "herd finetune: %lld steps, loss %.4f -> %.4f%s; adapter written to %s%s\n",
               static_cast<long long>(res->steps), res->first_loss, res->last_loss,
               res->eval_loss >= 0 ? (", eval loss " + std::to_string(res->eval_loss)).c_str() : "",
               p.get("--output").c_str(), interrupted() ? " (interrupted: the adapter of the last step; --resume continues)" : "");
  return interrupted() ? kExitInterrupted : 0;
}

}  // namespace herd::cli
