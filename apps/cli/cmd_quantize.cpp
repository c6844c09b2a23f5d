// herd quantize: a Llama GGUF rewritten in another file type (model/quantize.h),
// with llama-quantize's arguments: IN OUT TYPE [THREADS] (or --type TYPE); a
// Hugging Face directory as IN is converted into the type (model/convert.h).
#include <cstdio>
#include <filesystem>

#include "args.h"
#include "base/progress.h"
#include "commands.h"
#include "model/convert.h"
#include "model/file_types.h"
#include "model/quantize.h"

namespace herd::cli {

namespace {

Result<std::optional<DType>> dtype_option(const ArgParser& p, const char* name) {
  if (!p.has(name)) return std::optional<DType>{};
  std::optional<DType> d = parse_dtype(p.get(name));
  if (!d) return err(ErrorCode::kInvalidArgument, "%s: unknown dtype '%s'", name, p.get(name).c_str());
  return d;
}

}  // namespace

int cmd_quantize(int argc, char** argv) {
  ArgParser p("quantize", "IN.gguf OUT.gguf TYPE [THREADS] [options]");
  p.add("--type", "TYPE",
        "instead of the positional TYPE: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k_s q4_k_m q5_k_s q5_k_m q6_k, or "
        "llama-quantize's names (Q4_K_M, Q4_K = Q4_K_M, ...)");
  p.add("--imatrix", "FILE", "an importance matrix (imatrix.dat from herd imatrix or llama-imatrix) for the weighted quantizers");
  p.add("--allow-requantize", "", "allow converting tensors that are already block-quantized (loses quality)");
  p.add("--pure", "", "every matrix in the type's base dtype (no larger types for the head, attn_v, ffn_down)");
  p.add("--output-tensor-type", "DTYPE", "the dtype of output.weight");
  p.add("--token-embedding-type", "DTYPE", "the dtype of token_embd.weight");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("-q,--quiet", "", "do not list the tensors");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  const std::vector<std::string>& pos = p.positionals();
  const size_t want = p.has("--type") ? 2 : 3;
  if (pos.size() < want || pos.size() > want + 1) {
    std::fprintf(stderr, "herd quantize: expected IN OUT TYPE [THREADS] (or IN OUT --type TYPE)\n");
    p.print_usage(stderr);
    return 2;
  }
  model::QuantizeOptions o;
  o.in = pos[0];
  o.out = pos[1];
  o.type = p.has("--type") ? p.get("--type") : pos[2];
  o.allow_requantize = p.has("--allow-requantize");
  o.pure = p.has("--pure");
  o.imatrix = p.get("--imatrix", "");
  auto threads = p.get_int("--threads", default_threads(), 1, 1024);
  auto out_type = dtype_option(p, "--output-tensor-type");
  auto embd_type = dtype_option(p, "--token-embedding-type");
  if (const Error* e = first_error(threads, out_type, embd_type)) return fail_usage("quantize", *e);
  int64_t n_threads = *threads;
  if (pos.size() == want + 1) {
    char* end = nullptr;
    n_threads = std::strtoll(pos[want].c_str(), &end, 10);
    if (*end || n_threads < 1 || n_threads > 1024) {
      std::fprintf(stderr, "herd quantize: THREADS '%s' is not a number in 1..1024\n", pos[want].c_str());
      return 2;
    }
  }
  o.output_type = *out_type;
  o.token_embedding_type = *embd_type;
  const model::FileType* ft = model::file_type_by_name(o.type);
  ThreadPool pool(static_cast<int>(n_threads));
  std::error_code ec;
  if (std::filesystem::is_directory(o.in, ec)) {
    // A Hugging Face or Meta native directory: converted straight into the type (model/convert.h).
    if (o.pure || o.output_type || o.token_embedding_type || !o.imatrix.empty()) {
      std::fprintf(stderr, "herd quantize: --pure, --imatrix and the tensor-type options need a GGUF input; convert first\n");
      return 2;
    }
    std::fprintf(stderr, "herd quantize: %s is a model directory: converting it to %s\n", o.in.c_str(), o.type.c_str());
    catch_interrupts();
    Progress progress("herd quantize: writing", 0, p.has("--quiet") ? nullptr : stderr);
    Status s = model::convert_model({o.in, o.out, o.type}, pool, &progress);
    if (!s.has_value())
      return s.error().code() == ErrorCode::kInvalidArgument ? fail_usage("quantize", s.error()) : fail_run("quantize", s.error());
    progress.finish();
    return 0;
  }
  std::fprintf(stderr, "herd quantize: %s -> %s (%s)\n", o.in.c_str(), o.out.c_str(), ft ? ft->display : o.type.c_str());
  catch_interrupts();
  Progress progress("herd quantize: writing", 0, p.has("--quiet") ? nullptr : stderr);
  Result<model::QuantizeReport> r = model::quantize_gguf(o, pool, &progress, p.has("--quiet") ? nullptr : stderr);
  if (!r.has_value())
    return r.error().code() == ErrorCode::kInvalidArgument ? fail_usage("quantize", r.error())
                                                           : fail_run("quantize", r.error());
  progress.finish();
  std::fprintf(stderr, "herd quantize: %lld tensors (%lld converted, %lld with the importance matrix), %.2f MiB -> %.2f MiB\n",
               static_cast<long long>(r->n_tensors), static_cast<long long>(r->n_converted),
               static_cast<long long>(r->n_weighted), r->bytes_in / 1048576.0, r->bytes_out / 1048576.0);
  return 0;
}

}  // namespace herd::cli
