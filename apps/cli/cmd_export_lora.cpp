// herd export-lora: LoRA adapters merged into a base model (train/export_lora.h),
// with llama-export-lora's options (-m BASE --lora PATH -o OUT; a scale as PATH:SCALE).
#include <cstdio>

#include "args.h"
#include "base/progress.h"
#include "commands.h"
#include "lora_option.h"
#include "train/export_lora.h"

namespace herd::cli {

int cmd_export_lora(int argc, char** argv) {
  ArgParser p("export-lora", "-m BASE --lora ADAPTER[:SCALE] [--lora ...] -o OUT");
  p.add("-m,--model", "PATH", "the base model: a GGUF file or a Hugging Face directory");
  p.add("--lora", "PATH[:SCALE]", "an adapter (PEFT directory or GGUF LoRA), times SCALE (default 1); repeatable");
  p.add("-o,--output", "PATH", "the merged model: a GGUF file for a GGUF base, a new directory for an HF base");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("-q,--quiet", "", "do not list the merged tensors");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (!p.has("--model") || !p.has("--lora") || !p.has("--output") || !p.positionals().empty()) {
    std::fprintf(stderr, "herd export-lora: -m, --lora and -o are required\n");
    p.print_usage(stderr);
    return 2;
  }
  auto threads = p.get_int("--threads", default_threads(), 1, 1024);
  if (!threads.has_value()) return fail_usage("export-lora", threads.error());
  train::ExportLoraOptions o;
  o.base = p.get("--model");
  o.out = p.get("--output");
  for (const std::string& v : p.get_all("--lora")) o.adapters.push_back(parse_lora_option(v));
  ThreadPool pool(static_cast<int>(*threads));
  catch_interrupts();
  FILE* log = p.has("--quiet") ? nullptr : stderr;
  Progress progress("herd export-lora: writing", 0, log);
  Result<train::ExportLoraReport> r = train::export_lora(o, pool, &progress, log);
  if (!r.has_value())
    return r.error().code() == ErrorCode::kInvalidArgument ? fail_usage("export-lora", r.error())
                                                           : fail_run("export-lora", r.error());
  progress.finish();
  std::fprintf(stderr, "herd export-lora: %lld tensors, %lld merged; written to %s\n", static_cast<long long>(r->n_tensors),
               static_cast<long long>(r->n_merged), o.out.c_str());
  return 0;
}

}  // namespace herd::cli
