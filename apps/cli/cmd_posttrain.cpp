// herd posttrain RECIPE.json|RECIPE.yaml: rounds of rejection sampling -> SFT -> DPO (the
// loop Meta used to post-train Llama 3.1, docs/training.md), each step one of
// herd's own commands (synth, finetune, dpo) run in this process with the
// options the recipe gives, each round starting from the previous round's
// adapter. Every artefact goes to the run folder (-o DIR): roundN/synth,
// roundN/sft, roundN/dpo, and manifest.json (the recipe, each step's command
// line, outputs, exit status and metrics). A step the manifest records as done
// is not run again, so a stopped run continues where it stopped (same recipe).
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "args.h"
#include "base/json_depth.h"
#include "base/mapped_file.h"
#include "commands.h"
#include "formats/yaml_subset.h"

namespace herd::cli {
namespace {

using Json = nlohmann::ordered_json;

// A recipe section's options as flags: "lora_rank": 8 -> --lora-rank 8; true -> the bare flag.
Result<std::vector<std::string>> section_flags(const Json& sec, const char* name) {
  std::vector<std::string> out;
  if (sec.is_null()) return out;
  if (!sec.is_object()) return err(ErrorCode::kInvalidArgument, "recipe: \"%s\" must be an object of options", name);
  for (const auto& [k, v] : sec.items()) {
    std::string flag = "--" + k;
    for (char& c : flag)
      if (c == '_') c = '-';
    if (v.is_boolean()) {
      if (v.get<bool>()) out.push_back(flag);
    } else if (v.is_string()) {
      out.push_back(flag);
      out.push_back(v.get<std::string>());
    } else if (v.is_number()) {
      out.push_back(flag);
      out.push_back(v.dump());
    } else {
      return err(ErrorCode::kInvalidArgument, "recipe: %s.%s must be a string, number or boolean", name, k.c_str());
    }
  }
  return out;
}

// The mean score of a synth run's samples (each distinct completion weighted by its count).
double pass_rate(const std::string& samples) {
  std::ifstream in(samples);
  std::string line;
  double sum = 0;
  int64_t n = 0;
  while (std::getline(in, line)) {
    Json j = Json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("score")) continue;
    const int64_t c = j.value("count", int64_t{1});
    // An unscored completion (null: an LLM judge gave no number) counts as 0.
    sum += (j["score"].is_number() ? j["score"].get<double>() : 0.0) * static_cast<double>(c);
    n += c;
  }
  return n ? sum / static_cast<double>(n) : 0.0;
}

// The last line of a --log-jsonl file.
Json last_log(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  Json j = Json::parse(last, nullptr, false);
  return j.is_discarded() ? Json() : j;
}

// An argument as a shell reads it back (single quotes unless it is plain).
std::string shell_quoted(const std::string& a) {
  bool plain = !a.empty();
  for (char c : a) plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_./:=,+-@", c) != nullptr);
  if (plain) return a;
  std::string q = "'";
  for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

int64_t lines_of(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  std::string line;
  while (std::getline(in, line)) n += line.empty() ? 0 : 1;
  return n;
}

}  // namespace

int cmd_posttrain(int argc, char** argv) {
  ArgParser p("posttrain", "RECIPE.json|RECIPE.yaml -o RUN_DIR");
  p.add("-o,--output", "DIR", "the run folder: every round's artefacts and manifest.json");
  p.add("-t,--threads", "N", "threads for every step (default: all cores)");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  if (p.positionals().size() != 1 || !p.has("--output")) {
    std::fprintf(stderr, "herd posttrain: a recipe file and -o are required\n");
    p.print_usage(stderr);
    return kExitUsage;
  }
  const std::string recipe_path = p.positionals()[0];
  Result<std::string> text = read_text_file(recipe_path, size_t{1} << 20);
  if (!text.has_value()) return fail_run("posttrain", text.error());
  Json recipe;
  const std::string ext = std::filesystem::path(recipe_path).extension().string();
  if (ext == ".yaml" || ext == ".yml") {  // the same content in YAML's block style (formats/yaml_subset.h)
    Result<Json> y = formats::parse_yaml_subset(*text, recipe_path);
    if (!y.has_value()) return fail_run("posttrain", y.error());
    recipe = std::move(*y);
    if (!recipe.is_object()) return fail_run("posttrain", Error(ErrorCode::kInvalidArgument, recipe_path + ": not a mapping of options"));
  } else {
    if (!json_depth_within(*text)) return fail_run("posttrain", Error(ErrorCode::kInvalidArgument, recipe_path + ": nested too deep"));
    recipe = Json::parse(*text, nullptr, false);
    if (!recipe.is_object()) return fail_run("posttrain", Error(ErrorCode::kInvalidArgument, recipe_path + ": not a JSON object"));
  }
  for (const char* key : {"model", "prompts", "synth"})
    if (!recipe.contains(key))
      return fail_run("posttrain", Error(ErrorCode::kInvalidArgument, recipe_path + ": no \"" + std::string(key) + "\""));
  for (const auto& [k, v] : recipe.items()) {
    (void)v;
    if (k != "model" && k != "prompts" && k != "rounds" && k != "synth" && k != "sft" && k != "dpo")
      return fail_run("posttrain", Error(ErrorCode::kInvalidArgument,
                                         recipe_path + ": unknown key \"" + k + "\" (model, prompts, rounds, synth, sft, dpo)"));
  }
  const int64_t rounds = recipe.value("rounds", int64_t{1});
  if (rounds < 1 || rounds > 100) return fail_run("posttrain", Error(ErrorCode::kInvalidArgument, "recipe: rounds must be 1..100"));
  std::vector<std::string> synth_flags, sft_flags, dpo_flags;
  for (auto [sec, out] : {std::pair{"synth", &synth_flags}, std::pair{"sft", &sft_flags}, std::pair{"dpo", &dpo_flags}}) {
    Result<std::vector<std::string>> f = section_flags(recipe.contains(sec) ? recipe[sec] : Json(), sec);
    if (!f.has_value()) return fail_run("posttrain", f.error());
    *out = std::move(*f);
  }
  const std::string model = recipe["model"].get<std::string>(), prompts = recipe["prompts"].get<std::string>();
  const std::string dir = p.get("--output");
  const std::string threads = p.get("--threads", std::to_string(default_threads()));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail_run("posttrain", Error(ErrorCode::kIo, dir + ": " + ec.message()));

  const std::string manifest_path = dir + "/manifest.json";
  Json manifest = {{"recipe", recipe}, {"steps", Json::array()}};
  if (std::filesystem::exists(manifest_path, ec)) {
    Result<std::string> old = read_text_file(manifest_path, size_t{16} << 20);
    Json m = old.has_value() ? Json::parse(*old, nullptr, false) : Json();
    if (!m.is_object() || m["recipe"] != recipe)
      return fail_run("posttrain", Error(ErrorCode::kInvalidArgument,
                                         dir + " holds a run of another recipe: choose another -o"));
    manifest = m;
  }
  auto save = [&]() -> Status {
    const std::string tmp = manifest_path + ".tmp";
    std::ofstream f(tmp, std::ios::trunc);
    f << manifest.dump(2) << "\n";
    f.close();
    std::filesystem::rename(tmp, manifest_path, ec);
    return f && !ec ? Status(Ok{}) : err(ErrorCode::kIo, "%s: cannot write", manifest_path.c_str());
  };
  auto done_before = [&](const std::string& name) {
    for (const Json& s : manifest["steps"])
      if (s["name"] == name && s["exit"] == 0) return true;
    return false;
  };
  // Runs one step (a herd command in this process) unless the manifest has it done.
  auto step = [&](const std::string& name, const char* command, int (*fn)(int, char**), std::vector<std::string> args,
                  const std::function<Json()>& metrics) -> int {
    if (done_before(name)) {
      std::fprintf(stderr, "herd posttrain: %s done before\n", name.c_str());
      return 0;
    }
    args.insert(args.begin(), command);
    args.push_back("-t");
    args.push_back(threads);
    std::string line = "herd";
    for (const std::string& a : args) line += " " + shell_quoted(a);
    std::fprintf(stderr, "herd posttrain: %s: %s\n", name.c_str(), line.c_str());
    std::vector<char*> av;
    for (std::string& a : args) av.push_back(a.data());
    av.push_back(nullptr);
    const int rc = fn(static_cast<int>(args.size()), av.data());
    // The manifest keeps the last attempt of each step.
    Json rec = {{"name", name}, {"command", line}, {"exit", rc}};
    if (rc == 0) rec["metrics"] = metrics();
    Json steps = Json::array();
    for (const Json& s : manifest["steps"])
      if (s["name"] != name) steps.push_back(s);
    steps.push_back(rec);
    manifest["steps"] = steps;
    Status s = save();
    if (!s.has_value()) return fail_run("posttrain", s.error());
    return rc;
  };

  std::string adapter;  // the policy's adapter so far ("" : the base)
  Json summary = Json::array();
  for (int64_t r = 0; r < rounds; ++r) {
    const std::string rd = dir + "/round" + std::to_string(r);
    const std::string sd = rd + "/synth";
    std::vector<std::string> a = {"-m", model, "--prompts", prompts, "-o", sd};
    if (!adapter.empty()) a.insert(a.end(), {"--lora", adapter});
    a.insert(a.end(), synth_flags.begin(), synth_flags.end());
    // A synth step stopped part-way continues (its progress file says where).
    if (std::filesystem::exists(sd + "/progress.json", ec)) a.push_back("--resume");
    if (const int rc = step("round" + std::to_string(r) + "/synth", "synth", cmd_synth, a, [&] {
          return Json{{"pass_rate", pass_rate(sd + "/samples.jsonl")}, {"sft_rows", lines_of(sd + "/sft.jsonl")},
                      {"pairs", lines_of(sd + "/prefs.jsonl")}};
        }); rc != 0)
      return rc;
    Json round = {{"round", r}, {"pass_rate", pass_rate(sd + "/samples.jsonl")}};
    if (recipe.contains("sft") && lines_of(sd + "/sft.jsonl") > 0) {
      const std::string fd = rd + "/sft";
      a = {"-m", model, "--data", sd + "/sft.jsonl", "-o", fd, "--log-jsonl", fd + ".log.jsonl"};
      if (!adapter.empty()) a.insert(a.end(), {"--lora-init", adapter});
      a.insert(a.end(), sft_flags.begin(), sft_flags.end());
      if (const int rc = step("round" + std::to_string(r) + "/sft", "finetune", cmd_finetune, a, [&] {
            return last_log(fd + ".log.jsonl");
          }); rc != 0)
        return rc;
      adapter = fd;
      round["sft_loss"] = last_log(fd + ".log.jsonl").value("loss", 0.0);
    }
    if (recipe.contains("dpo") && lines_of(sd + "/prefs.jsonl") > 0) {
      const std::string dd = rd + "/dpo";
      a = {"-m", model, "--data", sd + "/prefs.jsonl", "-o", dd, "--log-jsonl", dd + ".log.jsonl"};
      if (!adapter.empty()) a.insert(a.end(), {"--lora-init", adapter});
      a.insert(a.end(), dpo_flags.begin(), dpo_flags.end());
      if (const int rc = step("round" + std::to_string(r) + "/dpo", "dpo", cmd_dpo, a, [&] {
            return last_log(dd + ".log.jsonl");
          }); rc != 0)
        return rc;
      adapter = dd;
      const Json l = last_log(dd + ".log.jsonl");
      round["dpo_accuracy"] = l.value("rewards/accuracies", 0.0);
      round["dpo_margin"] = l.value("rewards/margins", 0.0);
    }
    round["adapter"] = adapter;
    summary.push_back(round);
  }
  manifest["summary"] = summary;
  manifest["adapter"] = adapter;
  Status s = save();
  if (!s.has_value()) return fail_run("posttrain", s.error());
  std::fprintf(stderr, "herd posttrain: %lld round(s)\n", static_cast<long long>(rounds));
  for (const Json& r : summary) std::fprintf(stderr, "  %s\n", r.dump().c_str());
  std::fprintf(stderr, "herd posttrain: the final adapter is %s; manifest %s\n", adapter.empty() ? "(none)" : adapter.c_str(),
               manifest_path.c_str());
  return 0;
}

}  // namespace herd::cli
