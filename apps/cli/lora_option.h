// --lora DIR[:SCALE] (repeatable) for the commands that generate (run, chat,
// serve): each PEFT adapter directory is read for the loaded model and attached
// with its scale times SCALE (default 1), several at once, before any context
// is made (their scratch is sized then).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/llama_model.h"
#include "train/lora_set.h"

namespace herd::cli {

// The adapters must outlive every use of the model (they hold the weights).
Result<std::vector<std::unique_ptr<train::LoraSet>>> attach_lora_options(const std::vector<std::string>& values,
                                                                         model::LlamaModel& model);

}  // namespace herd::cli
