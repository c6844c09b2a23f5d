// herd convert: a Hugging Face directory to GGUF, or a GGUF to a Hugging Face
// directory (model/convert.h).
#include <cstdio>

#include "args.h"
#include "base/progress.h"
#include "commands.h"
#include "model/convert.h"

namespace herd::cli {

int cmd_convert(int argc, char** argv) {
  ArgParser p("convert", "IN OUT [--type TYPE]   (OUT: a .gguf file, or else a new Hugging Face directory)");
  p.add("--type", "TYPE",
        "the output's file type: f32 f16 bf16, fp8 (HF only), or for GGUF also q8_0 q4_0 q4_1 q5_0 q5_1 q4_k_s q4_k_m q5_k_s q5_k_m "
        "q6_k (default: the input's float type; f32 from a quantized GGUF)");
  p.add("--outtype", "TYPE", "the same as --type (llama.cpp's convert_hf_to_gguf.py spelling)");
  p.add("--shard-size", "BYTES", "HF output: largest shard (default 5368709120 = 5 GiB)");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("-q,--quiet", "", "no progress line");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (p.positionals().size() != 2) {
    std::fprintf(stderr, "herd convert: expected IN OUT (OUT.gguf, or an HF directory to create)\n");
    p.print_usage(stderr);
    return 2;
  }
  auto threads = p.get_int("--threads", default_threads(), 1, 1024);
  auto shard = p.get_int("--shard-size", int64_t{5} << 30, 1, INT64_MAX);
  if (const Error* e = first_error(threads, shard)) return fail_usage("convert", *e);
  model::ConvertOptions o;
  o.in = p.positionals()[0];
  o.out = p.positionals()[1];
  o.type = p.get("--type", p.get("--outtype"));
  o.max_shard_bytes = static_cast<uint64_t>(*shard);
  ThreadPool pool(static_cast<int>(*threads));
  std::fprintf(stderr, "herd convert: %s -> %s\n", o.in.c_str(), o.out.c_str());
  catch_interrupts();
  Progress progress("herd convert: writing", 0, p.has("--quiet") ? nullptr : stderr);
  Status s = model::convert_model(o, pool, &progress);
  if (!s.has_value())
    return s.error().code() == ErrorCode::kInvalidArgument ? fail_usage("convert", s.error()) : fail_run("convert", s.error());
  progress.finish();
  return 0;
}

}  // namespace herd::cli
