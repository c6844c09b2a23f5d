// herd make-model: write a random-weight Llama 3.x model in the real format.
#include <cstdio>

#include "args.h"
#include "base/progress.h"
#include "commands.h"
#include "model/deberta/make_prompt_guard.h"
#include "model/make_model.h"

namespace herd::cli {

int cmd_make_model(int argc, char** argv) {
  ArgParser p("make-model", "--shape SHAPE --dtype TYPE -o PATH [options]");
  p.add("--shape", "SHAPE", "8b, 70b, 405b, 3.2-1b, 3.2-3b, tiny, or d_model=N,n_layers=N,n_heads=N,n_kv_heads=N,d_ff=N[,tied=1]");
  p.add("--dtype", "TYPE", "f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k_s q4_k_m q5_k_s q5_k_m q6_k (default f16)");
  p.add("-o,--output", "PATH", "output .gguf file, or directory for --format hf");
  p.add("--format", "FMT", "gguf (default) or hf (safetensors + config.json + tokenizer.json)");
  p.add("--seed", "N", "random seed (default 0); the same seed gives the same weights in every format");
  p.add("--base", "", "a base model (eos <|end_of_text|>) instead of an instruct one (eos <|eot_id|>)");
  p.add("--guard", "V", "name it a Llama Guard 3 of variant 8b or 1b (herd guard recognises it)");
  p.add("--reply", "TEXT", "test fixture: built (not trained) so its greedy answer to any chat prompt is TEXT "
                           "(escapes like \\n are processed; untied output; see docs/guard.md)");
  p.add("--prompt-guard", "V", "instead of a Llama: a Prompt Guard directory, variant 86m, 2-86m, 2-22m or tiny "
                               "(dtype f32, f16 or bf16; default f32)");
  p.add("--tokenizer", "FILE", "with --prompt-guard: use this unigram tokenizer.json instead of the synthetic one");
  p.add("--force-label", "N", "with --prompt-guard: a fixture whose verdict is label N, with certainty");
  p.add("--shard-size", "BYTES", "HF: largest shard (default 5368709120 = 5 GiB)");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("-q,--quiet", "", "do not list tensors as they are written");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (p.has("--prompt-guard")) {
    if (!p.has("--output")) return fail_usage("make-model", err(ErrorCode::kInvalidArgument, "-o DIR is required"));
    Result<int64_t> seed = p.get_int("--seed", 0, 0, INT64_MAX);
    Result<int64_t> label = p.get_int("--force-label", -1, -1, 63);
    if (const Error* e = first_error(seed, label)) return fail_usage("make-model", *e);
    model::deberta::PromptGuardMakeOptions o;
    o.variant = p.get("--prompt-guard");
    o.dtype = p.get("--dtype", "f32");
    o.out = p.get("--output");
    o.tokenizer = p.get("--tokenizer");
    o.seed = static_cast<uint64_t>(*seed);
    o.force_label = static_cast<int>(*label);
    Status s = model::deberta::make_prompt_guard(o);
    if (!s) return s.error().code() == ErrorCode::kInvalidArgument ? fail_usage("make-model", s.error())
                                                                   : fail_run("make-model", s.error());
    std::fprintf(stderr, "herd make-model: wrote a random-weight Prompt Guard %s (%s) to %s\n", o.variant.c_str(),
                 o.dtype.c_str(), o.out.c_str());
    return 0;
  }
  if (!p.has("--shape") || !p.has("--output")) {
    std::fprintf(stderr, "herd make-model: --shape and -o are required\n");
    p.print_usage(stderr);
    return 2;
  }
  Result<model::ModelShape> shape = model::parse_model_shape(p.get("--shape"));
  if (!shape.has_value()) {
    std::fprintf(stderr, "herd make-model: %s\n", shape.error().to_string().c_str());
    return 2;
  }
  auto seed = p.get_int("--seed", 0, 0, INT64_MAX);
  auto threads = p.get_int("--threads", default_threads(), 1, 1024);
  auto shard = p.get_int("--shard-size", int64_t{5} << 30, 1, INT64_MAX);
  if (const Error* e = first_error(seed, threads, shard)) {
    std::fprintf(stderr, "herd make-model: %s\n", e->to_string().c_str());
    return 2;
  }
  model::MakeModelOptions o;
  o.shape = *shape;
  o.dtype = p.get("--dtype", "f16");
  o.format = p.get("--format", "gguf");
  o.out = p.get("--output");
  o.seed = static_cast<uint64_t>(*seed);
  o.instruct = !p.has("--base");
  o.guard = p.get("--guard");
  o.reply = process_escapes(p.get("--reply"));
  o.max_shard_bytes = static_cast<uint64_t>(*shard);
  ThreadPool pool(static_cast<int>(*threads));
  std::fprintf(stderr, "herd make-model: writing a random-weight %s model (%s, %s) to %s\n", o.shape.name.c_str(),
               o.dtype.c_str(), o.format.c_str(), o.out.c_str());
  // Ctrl-C stops between tensors and leaves no partial file (model_writer.h).
  catch_interrupts();
  Progress progress("herd make-model: writing", 0, p.has("--quiet") ? nullptr : stderr);
  Status s = model::make_model(o, pool, &progress);
  // make_model reports kInvalidArgument for its options only (dtype, format, shape).
  if (!s.has_value())
    return s.error().code() == ErrorCode::kInvalidArgument ? fail_usage("make-model", s.error())
                                                           : fail_run("make-model", s.error());
  progress.finish();
  std::fprintf(stderr, o.reply.empty() ? "herd make-model: done. Its weights are random: text it generates is noise.\n"
                                       : "herd make-model: done. Built to answer every chat prompt with the --reply text.\n");
  return 0;
}

}  // namespace herd::cli
