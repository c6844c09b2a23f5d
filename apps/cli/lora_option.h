// --lora PATH[:SCALE] (repeatable) for the commands that generate (run, chat,
// serve): each adapter (a PEFT directory or a GGUF LoRA file, train/lora_set.h)
// is read for the loaded model and attached
// with its scale times SCALE (default 1), several at once, before any context
// is made (their scratch is sized then).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "model/llama_model.h"
#include "train/lora_set.h"

namespace herd::cli {

inline constexpr const char* kLoraOptionHelp =
    "a LoRA adapter: a PEFT directory or a GGUF LoRA file (herd finetune writes both), times SCALE (default 1); "
    "repeatable";

// "PATH[:SCALE]" -> {PATH, SCALE} (SCALE 1 when absent or not a number: a path may hold colons).
std::pair<std::string, float> parse_lora_option(const std::string& v);

// The adapters must outlive every use of the model (they hold the weights).
Result<std::vector<std::unique_ptr<train::LoraSet>>> attach_lora_options(const std::vector<std::string>& values,
                                                                         model::LlamaModel& model);

// --lora-module NAME=PATH[:SCALE] (repeatable; herd serve): module i is attached
// as adapter set i + 1 (model/linear.h), used only by requests that name it
// ("model": "NAME" or "BASE+NAME"). Names: 1..64 characters, no '+', '=' or
// whitespace, unique. `names` gets them in set order.
Result<std::vector<std::unique_ptr<train::LoraSet>>> attach_lora_modules(const std::vector<std::string>& values,
                                                                         model::LlamaModel& model,
                                                                         std::vector<std::string>* names);

}  // namespace herd::cli
