// ArgParser: the small command-line parser the subcommands share.
//
// Each command declares its options (name, aliases, takes a value or not,
// help); parse() then fills a map and collects positionals. Unknown options
// and missing values are usage errors naming the option. Numbers are parsed
// strictly (the whole string must be a number in range).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/runtime.h"
#include "tensor/dtype.h"

namespace herd::cli {

class ArgParser {
 public:
  ArgParser(std::string command, std::string synopsis) : command_(std::move(command)), synopsis_(std::move(synopsis)) {}

  // names: "-m,--model"; value_name empty for a flag.
  void add(const std::string& names, const std::string& value_name, const std::string& help);

  // argv[0] is the command name. Returns false after printing usage (for
  // --help, *exit_code = 0) or an error (*exit_code = 2).
  bool parse(int argc, char** argv, int* exit_code);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  // Every value an option was given, in order (get() returns the last).
  std::vector<std::string> get_all(const std::string& name) const;
  Result<int64_t> get_int(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) const;
  Result<double> get_double(const std::string& name, double fallback) const;
  // A comma-separated list of integers ("128,512"), each in [lo, hi]; {fallback} if absent.
  Result<std::vector<int64_t>> get_int_list(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) const;
  const std::vector<std::string>& positionals() const { return positionals_; }
  void print_usage(FILE* out) const;

 private:
  struct Option {
    std::vector<std::string> names;
    std::string value_name;
    std::string help;
  };
  const Option* find(const std::string& name) const;
  std::string command_, synopsis_;
  std::vector<Option> options_;
  std::map<std::string, std::string> values_;  // keyed by the option's long (last) name
  std::map<std::string, std::vector<std::string>> all_values_;
  std::vector<std::string> positionals_;
};

// The first error among several parsed option values, or nullptr.
template <typename... Rs>
const Error* first_error(const Rs&... results) {
  const Error* found = nullptr;
  ((found = found ? found : (results.has_value() ? nullptr : &results.error())), ...);
  return found;
}

// llama.cpp's -e: \n \r \t \\ \" \' \a \b \f \v \0 and \xHH in a command-line
// text become the bytes they name; any other backslash is kept as written.
std::string process_escapes(const std::string& s);

// Exit codes, one convention for every command: 0 success; 2 a usage error (the command
// line is wrong: an unknown option, a missing or malformed value, values that contradict
// each other or do not fit the model); 1 a failure while running (a file missing or
// malformed, I/O, the model); 130 after Ctrl-C (kCancelled). Both helpers print
// "herd COMMAND: message" on stderr and return the code.
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;
int fail_usage(const char* command, const Error& e);
int fail_run(const char* command, const Error& e);

// The last component of a path, trailing slashes ignored ("a/b/" -> "b"): the
// name a server reports for a model file or directory.
std::string basename_of(const std::string& path);

// A file of one JSON string per line (herd tokenize --jsonl, herd guard
// --prompt-guard --jsonl): the strings, in order; blank lines hold no record
// (write "" for an empty text); CRLF is accepted. Errors name the file and
// the line that is not a JSON string (nesting is bounded first).
Result<std::vector<std::string>> read_json_string_lines(const std::string& path);

// Threads to use when -t is not given: the hardware's, at least 1.
int default_threads();

// --isa: the kernel table to use (kernels::select_kernels): auto (the best this CPU runs,
// or HERD_ISA), ref, avx2, avx512, avx512vnni or avx512bf16.
void add_isa_option(ArgParser& p);

// llama.cpp options that do not apply to herd on a CPU (-ngl, -fa, --mlock,
// --no-mmap): accepted so a llama.cpp command line works; note_ignored_options
// prints one line naming those given.
void add_llama_cpp_compat_options(ArgParser& p);
void note_ignored_options(const ArgParser& p, const char* command);

// The KV cache element types, named as llama.cpp names them:
// -ctk/--cache-type-k and -ctv/--cache-type-v, each f16 (default), q8_0 or f32.
void add_cache_type_options(ArgParser& p);

// --fp8-activations: on an FP8 checkpoint, Meta's dynamic per-token FP8
// activations (fc_dynamic) instead of the default weight-only emulation
// (docs/quantize.md). runtime_options() reads -m/--model, --isa and it.
void add_fp8_activation_option(ArgParser& p);
model::RuntimeOptions runtime_options(const ArgParser& p, int64_t threads, FILE* progress);
struct CacheTypes {
  DType k = DType::kF16;
  DType v = DType::kF16;
};
// Errors name the option and the types accepted.
Result<CacheTypes> get_cache_types(const ArgParser& p);
// Whether the types fit a model with this head size (q8_0 blocks of 32 must
// not straddle two heads); the error names the type and the head size.
Status cache_types_fit(const CacheTypes& t, int64_t head_dim);

}  // namespace herd::cli
