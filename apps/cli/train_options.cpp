// herd's training commands' shared options and driver (train_options.h).
#include "train_options.h"

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "base/host_memory.h"
#include "args.h"
#include "commands.h"
#include "model/convert.h"
#include "model/file_types.h"
#include "model/llama_train.h"
#include "train/full_weights.h"

namespace herd::cli {

void add_train_options(ArgParser& p, const TrainDefaults& d) {
  const std::string rank = std::to_string(d.rank);
  p.add(d.model_flag, "PATH", d.model_help);
  p.add("-o,--output", "DIR", "where the adapter goes: PEFT (adapter_config.json + adapter_model.safetensors) and adapter.gguf");
  p.add("--lora-rank", "N", "adapter rank (default " + rank + ")");
  p.add("--lora-alpha", "X", "adapter alpha; scale = alpha / rank (default 2 x rank)");
  p.add("--lora-targets", "LIST", "q,k,v,o,gate,up,down or all (default all)");
  p.add("--rslora", "", "scale = alpha / sqrt(rank)");
  p.add("--lora-dropout", "P", "dropout on the adapters' input while training, as PEFT's lora_dropout (default 0)");
  p.add("--lora-init", "PATH", "start from this adapter (PEFT directory or GGUF LoRA) instead of a new one; its rank and targets");
  p.add("--full", "", "full fine-tuning: train every weight (an f32 copy; 16 bytes per parameter, about 10 with --optimizer adamw8bit) instead of an adapter; "
        "OUTPUT gets the model");
  p.add("--save-type", "TYPE", "with --full: the saved model's file type, any of herd convert's (default: the base's "
        "f32/f16/bf16; f32 for a quantized base)");
  p.add("--epochs", "N", "passes over the data (default 1)");
  p.add("--max-steps", "N", "stop after N optimizer steps (default: the epochs decide)");
  char lr[32], wd[32];
  std::snprintf(lr, sizeof lr, "%g", d.lr);
  std::snprintf(wd, sizeof wd, "%g", d.weight_decay);
  p.add("--lr", "X", std::string("peak learning rate (default ") + lr + ")");
  p.add("--weight-decay", "X", std::string("AdamW weight decay (default ") + wd + ")");
  p.add("--warmup", "N", "warmup steps of the cosine schedule (default 100, at most a tenth of the steps)");
  p.add("--batch", "N", "items per step, packed together (default " + std::to_string(d.batch) + ")");
  p.add("--grad-accum", "N", "steps per optimizer step (default 1)");
  p.add("--seq-len", "N", "tokens per sequence at most; longer ones are cut (default 2048)");
  p.add("--clip", "X", "gradient clipping by global norm (default 1.0; 0: none)");
  p.add("--optimizer", "adamw|adamw8bit", "adamw (default: PyTorch's AdamW, f32 moments, 8 bytes per trained "
        "parameter) or adamw8bit (bitsandbytes' AdamW8bit, as torchtune's low-memory recipes: blockwise 8-bit moments, "
        "about 2 bytes; tensors under 4096 elements keep f32)");
  p.add("--val-split", "X", "share of the items held out for the eval loss (default 0)");
  p.add("--seed", "N", "seed of the adapter initialisation, shuffling and split (default 0)");
  p.add("--log-jsonl", "FILE", "one JSON line per optimizer step (appended to when resuming)");
  p.add("--save-every", "N", "write OUTPUT/checkpoint.safetensors every N optimizer steps (it is also written at the end and on Ctrl-C)");
  p.add("--resume", "", "continue from OUTPUT/checkpoint.safetensors (same data and options): the same losses and adapter as an uninterrupted run");
  p.add("--activation-checkpointing", "on|off|auto", "recompute each layer's intermediates in the backward (on) or "
        "keep them (off: about a quarter less work, more memory; the same results); auto (default): off when they "
        "take at most a quarter of the memory available");
  p.add("--no-activation-checkpointing", "", "the same as --activation-checkpointing off");
  p.add("--bf16", "", "mixed precision, as PyTorch's autocast or HF Trainer's --bf16: the model's products (forward, "
        "backward through the weights, the head) with bf16 operands and f32 sums, several times faster on CPUs with "
        "AMX or AVX512_BF16; adapters, gradients and AdamW stay f32 (default: every product exact in f32)");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  add_isa_option(p);
}

std::unique_ptr<TrainSetup> open_training(const char* command, const ArgParser& p, const TrainDefaults& d, int* code) {
  auto rank = p.get_int("--lora-rank", d.rank, 1, 4096);
  auto epochs = p.get_int("--epochs", 1, 1, 1000000);
  auto max_steps = p.get_int("--max-steps", 0, 0, INT64_MAX);
  auto warmup = p.get_int("--warmup", 100, 0, INT64_MAX);
  auto batch = p.get_int("--batch", d.batch, 1, 4096);
  auto accum = p.get_int("--grad-accum", 1, 1, 4096);
  auto seq_len = p.get_int("--seq-len", 2048, 2, 131072);
  auto seed = p.get_int("--seed", 0, 0, INT64_MAX);
  auto save_every = p.get_int("--save-every", 0, 0, INT64_MAX);
  auto threads = p.get_int("--threads", default_threads(), 1, 1024);
  auto lr = p.get_double("--lr", d.lr);
  auto wd = p.get_double("--weight-decay", d.weight_decay);
  auto clip = p.get_double("--clip", 1.0);
  auto val = p.get_double("--val-split", 0.0);
  auto dropout = p.get_double("--lora-dropout", 0.0);
  if (const Error* e = first_error(rank, epochs, max_steps, warmup, batch, accum, seq_len, seed, threads, save_every)) {
    *code = fail_usage(command, *e);
    return nullptr;
  }
  if (const Error* e = first_error(lr, wd, clip, val, dropout)) {
    *code = fail_usage(command, *e);
    return nullptr;
  }
  auto alpha = p.get_double("--lora-alpha", 2.0 * static_cast<double>(*rank));
  if (!alpha.has_value()) {
    *code = fail_usage(command, alpha.error());
    return nullptr;
  }
  Result<train::LoraTargets> targets = train::parse_lora_targets(p.get("--lora-targets", "all"));
  if (!targets.has_value()) {
    *code = fail_usage(command, targets.error());
    return nullptr;
  }
  if (!(*lr > 0) || !(*wd >= 0) || !(*clip >= 0) || !(*val >= 0 && *val < 1) || !(*dropout >= 0 && *dropout < 1)) {
    *code = fail_usage(command, Error(ErrorCode::kInvalidArgument,
                                      "--lr > 0, --weight-decay >= 0, --clip >= 0, 0 <= --val-split < 1, "
                                      "0 <= --lora-dropout < 1"));
    return nullptr;
  }
  auto s = std::make_unique<TrainSetup>();
  s->spec.rank = *rank;
  s->spec.alpha = *alpha;
  s->spec.targets = *targets;
  s->spec.rslora = p.has("--rslora");
  s->spec.dropout = *dropout;
  s->seq_len = *seq_len;
  s->lora_init = p.get("--lora-init", "");
  s->full = p.has("--full");
  s->save_type = p.get("--save-type", "");
  if (s->full && (!s->lora_init.empty() || p.has("--lora-rank") || p.has("--lora-targets") || p.has("--rslora") ||
                  p.has("--lora-dropout"))) {
    *code = fail_usage(command, Error(ErrorCode::kInvalidArgument, "--full trains every weight: no --lora-* options"));
    return nullptr;
  }
  if (!s->full && !s->save_type.empty()) {
    *code = fail_usage(command, Error(ErrorCode::kInvalidArgument, "--save-type goes with --full"));
    return nullptr;
  }
  train::FinetuneOptions& fo = s->fo;
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
  const std::string optimizer = p.get("--optimizer", "adamw");
  if (optimizer != "adamw" && optimizer != "adamw8bit") {
    *code = fail_usage(command, Error(ErrorCode::kInvalidArgument,
                                      "--optimizer: expected adamw or adamw8bit, got '" + optimizer + "'"));
    return nullptr;
  }
  fo.adamw.moments_8bit = optimizer == "adamw8bit";
  fo.checkpoint = p.get("--output") + "/checkpoint.safetensors";
  fo.save_every = *save_every;
  fo.resume = p.has("--resume");
  const std::string ckpt = p.has("--no-activation-checkpointing") ? "off" : p.get("--activation-checkpointing", "auto");
  if (ckpt != "on" && ckpt != "off" && ckpt != "auto") {
    *code = fail_usage(command, Error(ErrorCode::kInvalidArgument,
                                      "--activation-checkpointing: expected on, off or auto, got '" + ckpt + "'"));
    return nullptr;
  }
  if (p.has("--no-activation-checkpointing") && p.has("--activation-checkpointing")) {
    *code = fail_usage(command, Error(ErrorCode::kInvalidArgument,
                                      "--no-activation-checkpointing and --activation-checkpointing: give one"));
    return nullptr;
  }

  catch_interrupts();
  model::RuntimeOptions ro;
  s->model_path = p.get(d.model_flag.substr(d.model_flag.find(',') + 1));
  ro.model_path = s->model_path;
  ro.isa = p.get("--isa", "auto");
  ro.threads = static_cast<int>(*threads);
  ro.progress = stderr;
  ro.repack = false;  // training reads the weights as stored
  Result<std::unique_ptr<model::Runtime>> rt = model::Runtime::open(ro);
  if (!rt.has_value()) {
    *code = fail_run(command, rt.error());
    return nullptr;
  }
  s->rt = std::move(*rt);
  // Full fine-tuning reads f32 master copies instead (train/full_weights.h).
  if (!s->full) s->rt->model().move_weights_to_huge_pages(s->rt->pool());
  s->bf16 = p.has("--bf16");
  fo.bf16_products = s->bf16;
  if (Status b = check_bf16(*s->rt, s->bf16); !b.has_value()) {
    *code = fail_usage(command, b.error());
    return nullptr;
  }
  const model::LlamaModel& m = s->rt->model();
  s->base_dtype = m.layers().empty() ? DType::kF32 : m.layers()[0].wq.w.file_dtype();
  // The longest step is --batch items of --seq-len-token sequences (an upper bound on the data's).
  const int64_t kept =
      model::TrainStep::kept_intermediate_bytes(m.config(), s->seq_len * fo.batch * d.sequences_per_item);
  const std::optional<int64_t> avail = available_memory_bytes();
  const train::Checkpointing mode =
      ckpt == "on" ? train::Checkpointing::kOn : ckpt == "off" ? train::Checkpointing::kOff : train::Checkpointing::kAuto;
  fo.activation_checkpointing = train::use_activation_checkpointing(mode, kept, avail);
  char note[200];
  std::snprintf(note, sizeof note, "activation checkpointing %s (%s; every layer's intermediates: up to %.2f GiB%s)",
                fo.activation_checkpointing ? "on" : "off", ckpt.c_str(), static_cast<double>(kept) / (1 << 30),
                avail ? ("; " + std::to_string(*avail >> 30) + " GiB available").c_str() : "");
  std::fprintf(stderr, "herd %s: %s\n", command, note);
  return s;
}

kernels::ExecContext train_exec(model::Runtime& rt, bool bf16) {
  kernels::ExecContext e = rt.exec();
  e.bf16_products = bf16;
  return e;
}

Status check_bf16(const model::Runtime& rt, bool bf16) {
  if (bf16 && rt.table().gemm_bf16_pairs == nullptr)
    return Error(ErrorCode::kUnsupported,
                 std::string("--bf16 needs a CPU with AVX512_BF16 or AMX; ISA ") + rt.table().isa +
                     " has no bf16 product (--isa ref runs the scalar specification, slowly)");
  return Ok{};
}

Result<std::unique_ptr<train::Trainable>> training_target(const TrainSetup& s, std::string* what) {
  const model::LlamaModel& m = s.rt->model();
  char buf[256];
  if (s.full) {
    const double gib = static_cast<double>(train::FullWeights::bytes_needed(m, s.fo.adamw.moments_8bit)) / (1 << 30);
    HERD_ASSIGN_OR_RETURN(train::FullWeights f, train::FullWeights::create(m, s.rt->pool()));
    std::snprintf(buf, sizeof buf, "every weight (full fine-tuning): %lld parameters, %.2f GiB with gradients and %s",
                  static_cast<long long>(f.n_params()), gib, s.fo.adamw.moments_8bit ? "8-bit AdamW" : "AdamW");
    *what = buf;
    return std::unique_ptr<train::Trainable>(std::make_unique<train::FullWeights>(std::move(f)));
  }
  Result<train::LoraSet> l = s.lora_init.empty() ? train::LoraSet::create(m, s.spec, s.fo.seed)
                                                 : train::LoraSet::read(s.lora_init, m);
  if (!l.has_value()) return std::move(l.error());
  l->set_dropout(s.spec.dropout);
  std::snprintf(buf, sizeof buf, "LoRA rank %lld alpha %g%s on %s: %lld parameters",
                static_cast<long long>(l->spec().rank), l->spec().alpha,
                s.spec.dropout > 0 ? (" dropout " + std::to_string(s.spec.dropout)).c_str() : "",
                train::lora_targets_string(l->spec().targets).c_str(), static_cast<long long>(l->n_params()));
  *what = buf;
  return std::unique_ptr<train::Trainable>(std::make_unique<train::LoraSet>(std::move(*l)));
}

namespace {

// --full's result: the trained weights written by herd convert's writer.
Status write_full_model(const char* command, const TrainSetup& s, const std::string& out, std::string* where) {
  model::ConvertOptions co;
  co.in = s.model_path;
  co.type = !s.save_type.empty() ? s.save_type
            : s.base_dtype == DType::kF16 ? "f16"
            : s.base_dtype == DType::kBF16 ? "bf16"
                                            : "f32";  // the base's float type; f32 holds a quantized base's values
  const model::FileType* ft = model::file_type_by_name(co.type);
  if (ft == nullptr)
    return err(ErrorCode::kInvalidArgument, "--save-type '%s'; expected one of %s", co.type.c_str(),
               model::file_type_names().c_str());
  const DTypeInfo& info = dtype_info(ft->base);
  const bool gguf = s.rt->model().format() == model::ModelFormat::kGguf || (info.quantized && !info.row_scaled);
  co.out = out + (gguf ? "/model.gguf" : "/model");
  std::error_code ec;
  std::filesystem::remove_all(co.out, ec);  // this command's own earlier result (a stopped run's)
  *where = co.out;
  Progress progress(std::string("herd ") + command + ": writing the model", 0, stderr);
  return model::write_converted(s.rt->model(), co, s.rt->pool(), &progress);
}

}  // namespace

int run_training(const char* command, const ArgParser& p, TrainSetup& s, train::Trainable& trained,
                 train::Objective& objective) {
  model::LlamaModel& m = s.rt->model();
  const std::string out = p.get("--output");
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) return fail_run(command, Error(ErrorCode::kIo, out + ": " + ec.message()));
  std::ofstream log;
  if (p.has("--log-jsonl")) {
    log.open(p.get("--log-jsonl"), s.fo.resume ? std::ios::app : std::ios::trunc);
    if (!log) return fail_run(command, Error(ErrorCode::kIo, "--log-jsonl: cannot write " + p.get("--log-jsonl")));
  }
  const std::vector<std::string> names = objective.metric_names();
  double elapsed = 0;
  Result<train::FinetuneResult> res = train::finetune(s.exec(), m, trained, objective, s.fo, [&](const train::StepReport& r) {
    elapsed += r.seconds;
    const double eta = elapsed / static_cast<double>(r.step) * static_cast<double>(r.total_steps - r.step);
    std::string extra;
    char buf[96];
    for (size_t k = 0; k < names.size(); ++k) {
      std::snprintf(buf, sizeof buf, "  %s %.4g", names[k].c_str(), r.metrics[k]);
      extra += buf;
    }
    if (r.eval_loss >= 0) {
      std::snprintf(buf, sizeof buf, "  eval %.4f", r.eval_loss);
      extra += buf;
    }
    std::fprintf(stderr, "step %lld/%lld epoch %lld  loss %.4f%s  lr %.3g  grad norm %.3g  %.0f tok/s  ETA %.0f s\n",
                 static_cast<long long>(r.step), static_cast<long long>(r.total_steps), static_cast<long long>(r.epoch),
                 r.loss, extra.c_str(), r.lr, r.grad_norm, static_cast<double>(r.tokens) / std::max(r.seconds, 1e-9), eta);
    if (log.is_open()) {
      std::string line;
      char head[512];
      std::snprintf(head, sizeof head,
                    "{\"step\": %lld, \"epoch\": %lld, \"loss\": %.9g, \"eval_loss\": %s, \"lr\": %.9g, \"grad_norm\": "
                    "%.9g, \"tokens\": %lld, \"seconds\": %.6f",
                    static_cast<long long>(r.step), static_cast<long long>(r.epoch), r.loss,
                    r.eval_loss >= 0 ? std::to_string(r.eval_loss).c_str() : "null", r.lr, r.grad_norm,
                    static_cast<long long>(r.tokens), r.seconds);
      line = head;
      for (size_t k = 0; k < names.size(); ++k) {
        std::snprintf(buf, sizeof buf, ", \"%s\": %.9g", names[k].c_str(), r.metrics[k]);
        line += buf;
        if (!r.eval_metrics.empty()) {
          std::snprintf(buf, sizeof buf, ", \"eval_%s\": %.9g", names[k].c_str(), r.eval_metrics[k]);
          line += buf;
        }
      }
      log << line << "}\n" << std::flush;
    }
    return !interrupted();
  });
  if (!res.has_value()) return fail_run(command, res.error());
  trained.release_gradients();  // the writers below need room more than gradients (full fine-tuning: as large as the model)
  std::string where = out;
  if (s.full) {
    Status w = write_full_model(command, s, out, &where);
    if (!w.has_value()) return fail_run(command, w.error());
  } else {
    // Both formats: PEFT (Hugging Face, vLLM) and, inside the same directory, the
    // GGUF LoRA that llama.cpp and Ollama take.
    const auto& lora = static_cast<const train::LoraSet&>(trained);
    const std::string& base = s.model_path;
    Status w = lora.write_peft(out, m, base);
    if (w.has_value()) w = lora.write_gguf(out + "/adapter.gguf", m, base);
    if (!w.has_value()) return fail_run(command, w.error());
  }
  if (res->resumed_from > 0)
    std::fprintf(stderr, "herd %s: resumed after step %lld\n", command, static_cast<long long>(res->resumed_from));
  std::fprintf(stderr, "herd %s: %lld steps, loss %.4f -> %.4f%s; %s written to %s%s\n", command,
               static_cast<long long>(res->steps), res->first_loss, res->last_loss,
               res->eval_loss >= 0 ? (", eval loss " + std::to_string(res->eval_loss)).c_str() : "",
               s.full ? "model" : "adapter", where.c_str(),
               interrupted() ? " (interrupted: the result of the last step; --resume continues)" : "");
  return interrupted() ? kExitInterrupted : 0;
}

}  // namespace herd::cli
