// herd distill: knowledge distillation of a student's LoRA adapter from a
// teacher's next-token distributions (train/distill.h), cached as top-k +
// log-sum-exp per trained position: the teacher runs first and alone (then
// its memory is released), or not at all when --teacher-cache already holds
// its pass over the same data; the student then trains through the shared
// loop (train/finetune.h). Output as herd finetune's.
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "model/model_tokenizer.h"
#include "train/distill.h"
#include "train_options.h"

namespace herd::cli {
namespace {

// The teacher pass: its own runtime, released when this returns.
Result<train::TeacherCache> teacher_pass(const ArgParser& p, const train::DistillOptions& o, int64_t seq_len,
                                         int64_t batch) {
  model::RuntimeOptions ro;
  ro.model_path = p.get("--teacher");
  ro.isa = p.get("--isa", "auto");
  Result<int64_t> threads = p.get_int("--threads", default_threads(), 1, 1024);
  if (!threads.has_value()) return threads.error();
  ro.threads = static_cast<int>(*threads);
  ro.progress = stderr;
  ro.repack = false;
  HERD_ASSIGN_OR_RETURN(std::unique_ptr<model::Runtime> rt, model::Runtime::open(ro));
  const bool bf16 = p.has("--bf16");  // the teacher's products as the student's
  HERD_TRY(check_bf16(*rt, bf16));
  HERD_ASSIGN_OR_RETURN(const tokenizer::Tokenizer tok, model::load_model_tokenizer(rt->model()));
  train::SftOptions so;
  so.max_tokens = seq_len;
  so.train_on_inputs = p.has("--train-on-inputs");
  HERD_ASSIGN_OR_RETURN(const train::SftData data, train::load_sft_jsonl(p.get("--data"), tok, so));
  size_t max_len = 0;
  for (const train::Example& e : data.examples) max_len = std::max(max_len, e.ids.size());
  model::TrainStep step(rt->model(), static_cast<int64_t>(max_len) * batch);
  std::fprintf(stderr, "herd distill: teacher pass over %zu examples (top-%lld, temperature %g)\n", data.examples.size(),
               static_cast<long long>(o.top_k), o.temperature);
  HERD_ASSIGN_OR_RETURN(train::TeacherCache c,
                        train::compute_teacher_cache(train_exec(*rt, bf16), step, data, o, batch, ro.model_path));
  c.tokenizer_fingerprint = tok.fingerprint();
  return c;
}

}  // namespace

int cmd_distill(int argc, char** argv) {
  ArgParser p("distill", "--teacher T -m STUDENT --data FILE.jsonl -o ADAPTER_DIR [options]");
  // torchtune's KD recipe (8B -> 1B): LoRA on the student, lr 3e-4, weight decay 0.01 (spec A3).
  TrainDefaults defaults;
  defaults.model_flag = "-m,--student";
  defaults.model_help = "the student: a .gguf file or a Hugging Face directory; it stays frozen, its LoRA adapter trains";
  add_train_options(p, defaults);
  p.add("--teacher", "PATH", "the teacher model (same tokenizer as the student); not needed when --teacher-cache exists");
  p.add("--teacher-cache", "FILE", "the teacher's top-k per position: read if it exists (same data and options), else written");
  p.add("--data", "FILE", "JSONL as herd finetune takes it: {\"messages\": [...]} (distilled on the assistant turns) or {\"text\": ...}");
  p.add("--train-on-inputs", "", "distil on every token, not only the assistant turns");
  p.add("--top-k", "N", "teacher entries kept per position (default 32; the rest is one tail bin)");
  p.add("--temperature", "X", "softens both distributions; the KD term is scaled by its square (default 1, torchtune's)");
  p.add("--kd-ratio", "X", "weight of the KD term against the labels' cross-entropy (default 0.5, torchtune's)");
  p.add("--kd-loss", "forward|reverse", "the KD term: forward KL(teacher || student) (default, torchtune's) or reverse "
        "KL(student || teacher), mode-seeking");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.has("--student") || !p.has("--data") || !p.has("--output") ||
      (!p.has("--teacher") && !p.has("--teacher-cache"))) {
    std::fprintf(stderr, "herd distill: -m (the student), --data, -o and --teacher or --teacher-cache are required\n");
    p.print_usage(stderr);
    return kExitUsage;
  }
  train::DistillOptions o;
  auto k = p.get_int("--top-k", 32, 1, 4096);
  auto temp = p.get_double("--temperature", 1.0);
  auto ratio = p.get_double("--kd-ratio", 0.5);
  auto seq_len = p.get_int("--seq-len", 2048, 2, 131072);
  auto batch = p.get_int("--batch", defaults.batch, 1, 4096);
  if (const Error* e = first_error(k, seq_len, batch)) return fail_usage("distill", *e);
  if (const Error* e = first_error(temp, ratio)) return fail_usage("distill", *e);
  if (!(*temp > 0) || !(*ratio >= 0 && *ratio <= 1))
    return fail_usage("distill", Error(ErrorCode::kInvalidArgument, "--temperature > 0, 0 <= --kd-ratio <= 1"));
  o.top_k = *k;
  o.temperature = *temp;
  o.kd_ratio = *ratio;
  const std::string kd_loss = p.get("--kd-loss", "forward");
  if (kd_loss != "forward" && kd_loss != "reverse")
    return fail_usage("distill", Error(ErrorCode::kInvalidArgument, "--kd-loss is forward or reverse, not '" + kd_loss + "'"));
  o.reverse_kl = kd_loss == "reverse";

  catch_interrupts();
  const std::string cache_path = p.get("--teacher-cache", "");
  std::error_code ec;
  train::TeacherCache cache;
  if (!cache_path.empty() && std::filesystem::exists(cache_path, ec)) {
    Result<train::TeacherCache> c = train::read_teacher_cache(cache_path);
    if (!c.has_value()) return fail_run("distill", c.error());
    cache = std::move(*c);
    std::fprintf(stderr, "herd distill: teacher cache %s (%zu positions, teacher %s)\n", cache_path.c_str(),
                 cache.lse.size(), cache.teacher.c_str());
  } else {
    if (!p.has("--teacher"))
      return fail_usage("distill", Error(ErrorCode::kInvalidArgument, "--teacher-cache " + cache_path + " does not exist and no --teacher"));
    Result<train::TeacherCache> c = teacher_pass(p, o, *seq_len, *batch);
    if (!c.has_value()) return fail_run("distill", c.error());
    cache = std::move(*c);
    if (!cache_path.empty()) {
      Status w = train::write_teacher_cache(cache_path, cache);
      if (!w.has_value()) return fail_run("distill", w.error());
      std::fprintf(stderr, "herd distill: teacher cache written to %s\n", cache_path.c_str());
    }
  }
  if (interrupted()) return kExitInterrupted;

  std::unique_ptr<TrainSetup> s = open_training("distill", p, defaults, &code);
  if (!s) return code;
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(s->rt->model());
  if (!tok.has_value()) return fail_run("distill", tok.error());
  train::SftOptions so;
  so.max_tokens = s->seq_len;
  so.train_on_inputs = p.has("--train-on-inputs");
  Result<train::SftData> data = train::load_sft_jsonl(p.get("--data"), *tok, so);
  if (!data.has_value()) return fail_run("distill", data.error());
  Status ok = train::check_teacher_cache(cache, *data, o, tok->fingerprint());
  if (!ok.has_value()) return fail_run("distill", ok.error());
  std::string what;
  Result<std::unique_ptr<train::Trainable>> trained = training_target(*s, &what);
  if (!trained.has_value()) return fail_usage("distill", trained.error());
  std::fprintf(stderr, "herd distill: %zu examples; top-%lld, temperature %g, kd-ratio %g, %s KL; %s\n",
               data->examples.size(), static_cast<long long>(o.top_k), o.temperature, o.kd_ratio,
               o.reverse_kl ? "reverse" : "forward", what.c_str());
  train::DistillObjective objective(*data, cache, o);
  return run_training("distill", p, *s, **trained, objective);
}

}  // namespace herd::cli
