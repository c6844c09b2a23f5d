// A Llama Guard 3 model opened for checks beside another model (herd serve
// --guard, herd synth --guard): its runtime, tokenizer and engine, and the
// shield (apps/server/guard_shield.h) that classifies on them; the variant is
// read from the model unless named.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "engine/engine.h"
#include "guard_shield.h"
#include "model/runtime.h"
#include "tokenizer/tokenizer.h"

namespace herd::cli {

struct GuardModelOptions {
  std::string path;
  std::string isa = "auto";
  int threads = 1;
  std::string variant;  // "8b", "1b" or "": from the model
  std::string exclude;  // category codes left out, comma-separated
  double threshold = 0.5;
  std::string model_id;    // what /v1/moderations reports
  int64_t max_seq_len = 0;  // one check at most (prompt + reply)
  int max_running = 4;      // checks sharing a step
  int max_queued = 64;      // checks waiting beyond those
  int kv_sequences = 1;     // the KV pool holds this many max_seq_len checks (shorter ones share it)
};

struct GuardModel {
  // Destroyed in reverse: the shield, the engine (computing on the runtime's pool), the runtime.
  std::unique_ptr<model::Runtime> rt;
  std::unique_ptr<tokenizer::Tokenizer> tok;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<server::GuardShield> shield;
};

// Errors name the option at fault (--guard, --guard-variant, --guard-exclude).
Result<std::unique_ptr<GuardModel>> open_guard_model(const GuardModelOptions& o);

class ArgParser;

// The Llama Guard options of herd serve and herd chat: --guard PATH (`use`
// says what the shields do in that command), --guard-shields, --guard-variant,
// --guard-exclude, --guard-threshold.
void add_guard_options(ArgParser& p, const char* use);
struct GuardOption {
  std::unique_ptr<GuardModel> model;  // null without --guard
  bool input = true, output = true;   // --guard-shields
};
// Opens --guard when given, on `threads` threads, one check at most
// max_seq_len tokens. Errors: kInvalidArgument for the options (a usage
// error: a bad threshold or shield list, a --guard-* option without --guard,
// a variant or category the model cannot take), else the model's.
Result<GuardOption> open_guard_option(const ArgParser& p, int threads, int64_t max_seq_len);

}  // namespace herd::cli
