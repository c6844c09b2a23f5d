// What `herd serve` tells Ollama clients about the model it serves (/api/tags,
// /api/show, /api/ps): the server::ModelCard filled from a loaded model, its files
// on disk and the memory the engine will hold. The HTTP layer never sees model
// headers; this is where the two meet.
#pragma once

#include <cstdint>
#include <string>

#include "model/llama_model.h"
#include "server.h"

namespace herd::cli {

// `path` as given to -m; `kv_bytes` the engine's KV cache.
server::ModelCard model_card(const model::LlamaModel& m, const std::string& path, uint64_t kv_bytes);

}  // namespace herd::cli
