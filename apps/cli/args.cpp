// ArgParser implementation.
#include "args.h"

#include "base/thread_pool.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/json_depth.h"
#include "base/mapped_file.h"
#include "kernels/ops.h"

namespace herd::cli {

void ArgParser::add(const std::string& names, const std::string& value_name, const std::string& help) {
  Option o;
  std::stringstream ss(names);
  std::string n;
  while (std::getline(ss, n, ',')) o.names.push_back(n);
  o.value_name = value_name;
  o.help = help;
  options_.push_back(o);
}

const ArgParser::Option* ArgParser::find(const std::string& name) const {
  for (const auto& o : options_)
    for (const auto& n : o.names)
      if (n == name) return &o;
  return nullptr;
}

bool ArgParser::parse(int argc, char** argv, int* exit_code) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      print_usage(stdout);
      *exit_code = 0;
      return false;
    }
    if (a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (std::isdigit(static_cast<unsigned char>(a[1])) != 0))) {
      std::string value;
      bool inline_value = false;
      if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        inline_value = true;
      }
      const Option* o = find(a);
      if (!o) {
        std::fprintf(stderr, "herd %s: unknown option '%s'\n", command_.c_str(), a.c_str());
        print_usage(stderr);
        *exit_code = 2;
        return false;
      }
      const bool optional_value = !o->value_name.empty() && o->value_name[0] == '[';
      if (optional_value && !inline_value) {
        // "[on|off|auto]": the next word is its value unless it is another option.
        if (i + 1 < argc && argv[i + 1][0] != '-') value = argv[++i];
      } else if (!o->value_name.empty() && !inline_value) {
        if (i + 1 >= argc) {
          std::fprintf(stderr, "herd %s: option '%s' needs a value (%s)\n", command_.c_str(), a.c_str(), o->value_name.c_str());
          *exit_code = 2;
          return false;
        }
        value = argv[++i];
      }
      values_[o->names.back()] = o->value_name.empty() ? "1" : value;
      all_values_[o->names.back()].push_back(values_[o->names.back()]);
    } else {
      positionals_.push_back(a);
    }
  }
  return true;
}

Result<std::vector<int64_t>> ArgParser::get_int_list(const std::string& name, int64_t fallback, int64_t lo,
                                                     int64_t hi) const {
  if (!has(name)) return std::vector<int64_t>{fallback};
  std::vector<int64_t> out;
  std::string all = get(name);
  size_t start = 0;
  for (;;) {
    const size_t comma = all.find(',', start);
    const std::string item = all.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    ArgParser one(command_, "");
    one.values_[name] = item;
    HERD_ASSIGN_OR_RETURN(int64_t v, one.get_int(name, fallback, lo, hi));
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<std::string> ArgParser::get_all(const std::string& name) const {
  auto it = all_values_.find(name);
  return it == all_values_.end() ? std::vector<std::string>{} : it->second;
}

std::string ArgParser::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

Result<int64_t> ArgParser::get_int(const std::string& name, int64_t fallback, int64_t lo, int64_t hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end || errno || v < lo || v > hi)
    return err(ErrorCode::kInvalidArgument, "%s '%s' must be an integer in [%lld, %lld]", name.c_str(),
               it->second.c_str(), static_cast<long long>(lo), static_cast<long long>(hi));
  return static_cast<int64_t>(v);
}

Result<double> ArgParser::get_double(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end)
    return err(ErrorCode::kInvalidArgument, "%s '%s' is not a number", name.c_str(), it->second.c_str());
  return v;
}

void ArgParser::print_usage(FILE* out) const {
  std::fprintf(out, "usage: herd %s %s\n\noptions:\n", command_.c_str(), synopsis_.c_str());
  for (const auto& o : options_) {
    std::string names;
    for (const auto& n : o.names) names += (names.empty() ? "" : ", ") + n;
    if (!o.value_name.empty()) names += " " + o.value_name;
    std::fprintf(out, "  %-28s %s\n", names.c_str(), o.help.c_str());
  }
}

int fail_usage(const char* command, const Error& e) {
  std::fprintf(stderr, "herd %s: %s\n", command, e.to_string().c_str());
  return kExitUsage;
}

int fail_run(const char* command, const Error& e) {
  std::fprintf(stderr, "herd %s: %s\n", command, e.to_string().c_str());
  return e.code() == ErrorCode::kCancelled ? kExitInterrupted : kExitFailure;
}

Result<std::vector<std::string>> read_json_string_lines(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(std::string in, read_text_file(path));
  std::vector<std::string> out;
  size_t line_no = 0, pos = 0;
  while (pos < in.size()) {
    size_t end = in.find('\n', pos);
    if (end == std::string::npos) end = in.size();
    std::string_view line(in.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    nlohmann::json j = json_depth_within(line) ? nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false)
                                               : nlohmann::json(nlohmann::json::value_t::discarded);
    if (!j.is_string()) return err(ErrorCode::kInvalidArgument, "%s:%zu: not a JSON string", path.c_str(), line_no);
    out.push_back(j.get<std::string>());
  }
  return out;
}

std::string basename_of(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

int default_threads() { return hardware_threads(); }

void add_isa_option(ArgParser& p) {
  p.add("--isa", "ISA", "kernels: auto (default), ref, avx2, avx512, avx512vnni, avx512bf16, amx");
}

std::string process_escapes(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    switch (c) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '0': out += '\0'; break;
      case '\\': case '"': case '\'': out += c; break;
      case 'x':
        if (i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
          out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
          i += 2;
          break;
        }
        [[fallthrough]];
      default: out += '\\'; out += c;
    }
  }
  return out;
}

void add_llama_cpp_compat_options(ArgParser& p) {
  p.add("-ngl,--n-gpu-layers", "N", "accepted for llama.cpp command lines; herd runs on the CPU");
  p.add("-fa,--flash-attn", "[on|off|auto]", "accepted for llama.cpp command lines; herd's attention is always fused");
  p.add("--mlock", "", "accepted for llama.cpp command lines; weights stay memory-mapped");
  p.add("--no-mmap", "", "accepted for llama.cpp command lines; weights stay memory-mapped");
}

void note_ignored_options(const ArgParser& p, const char* command) {
  std::string given;
  for (const char* name : {"--n-gpu-layers", "--flash-attn", "--mlock", "--no-mmap"})
    if (p.has(name)) given += std::string(given.empty() ? "" : ", ") + name;
  if (!given.empty())
    std::fprintf(stderr, "herd %s: note: %s ignored (llama.cpp options with no effect on herd's CPU runtime)\n",
                 command, given.c_str());
}

void add_fp8_activation_option(ArgParser& p) {
  p.add("--fp8-activations", "", "FP8 models: quantize activations per token as Meta's fc_dynamic does "
                                 "(default: weight-only FP8, activations f32)");
}

model::RuntimeOptions runtime_options(const ArgParser& p, int64_t threads, FILE* progress) {
  model::RuntimeOptions o;
  o.model_path = p.get("--model");
  o.isa = p.get("--isa", "auto");
  o.threads = static_cast<int>(threads);
  o.progress = progress;
  o.fp8_dynamic_activations = p.has("--fp8-activations");
  return o;
}

void add_cache_type_options(ArgParser& p) {
  p.add("-ctk,--cache-type-k", "T", "KV cache key type: f16 (default), q8_0 or f32");
  p.add("-ctv,--cache-type-v", "T", "KV cache value type: f16 (default), q8_0 or f32");
}

Result<CacheTypes> get_cache_types(const ArgParser& p) {
  CacheTypes out;
  for (auto [name, dst] : {std::pair{"--cache-type-k", &out.k}, std::pair{"--cache-type-v", &out.v}}) {
    const std::string v = p.get(name, "f16");
    if (v == "f16")
      *dst = DType::kF16;
    else if (v == "f32")
      *dst = DType::kF32;
    else if (v == "q8_0")
      *dst = DType::kQ8_0;
    else
      return err(ErrorCode::kInvalidArgument, "%s: '%s' is not a KV cache type (f16, q8_0 or f32)", name, v.c_str());
  }
  return out;
}

Status cache_types_fit(const CacheTypes& t, int64_t head_dim) {
  for (DType d : {t.k, t.v})
    if (!kernels::kv_type_fits(d, head_dim))
      return err(ErrorCode::kInvalidArgument, "KV cache type %s needs a head size that is a multiple of 32, not %lld",
                 dtype_name(d), static_cast<long long>(head_dim));
  return {};
}

}  // namespace herd::cli
