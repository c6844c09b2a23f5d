// The C API of include/herd.h, over the same pieces the herd command uses: Runtime
// (model, kernels, threads), the model's tokenizer, the Llama 3.1 renderer, Sampler and
// the generation loop of herd run/chat (apps/cli/generation_loop.h). No exception
// crosses the C boundary: each entry point catches and reports it in err.
#include "herd.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "base/version.h"
#include "chat/llama3_format.h"
#include "chat/stop.h"
#include "generation_loop.h"
#include "model/llama_context.h"
#include "model/model_tokenizer.h"
#include "model/runtime.h"
#include "tokenizer/tokenizer.h"

struct herd_model {
  std::unique_ptr<herd::model::Runtime> runtime;
  std::unique_ptr<herd::tokenizer::Tokenizer> tok;
};

namespace {

constexpr int64_t kDefaultMaxCtx = 8192;  // as herd run and chat: a 128K cache would be many GB

void set_err(char* err, size_t size, const std::string& msg) {
  if (!err || size == 0) return;
  const size_t n = std::min(size - 1, msg.size());
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}

}  // namespace

extern "C" {

const char* herd_version(void) { return herd::kVersion; }

herd_model* herd_model_load(const char* path, int n_threads, char* err, size_t err_size) {
  try {
    if (!path) {
      set_err(err, err_size, "herd_model_load: path is NULL");
      return nullptr;
    }
    herd::model::RuntimeOptions o;
    o.model_path = path;
    o.threads = n_threads > 0 ? n_threads : herd::hardware_threads();
    auto rt = herd::model::Runtime::open(o);
    if (!rt.has_value()) {
      set_err(err, err_size, rt.error().to_string());
      return nullptr;
    }
    auto tok = herd::model::load_model_tokenizer((*rt)->model());
    if (!tok.has_value()) {
      set_err(err, err_size, tok.error().with_context("the model's tokenizer").to_string());
      return nullptr;
    }
    auto* m = new herd_model;
    m->runtime = std::move(*rt);
    m->tok = std::make_unique<herd::tokenizer::Tokenizer>(std::move(*tok));
    return m;
  } catch (const std::exception& e) {
    set_err(err, err_size, std::string("herd_model_load: ") + e.what());
    return nullptr;
  }
}

void herd_model_free(herd_model* model) { delete model; }

const char* herd_model_name(const herd_model* model) {
  return model ? model->runtime->model().config().name.c_str() : "";
}

int32_t herd_model_vocab_size(const herd_model* model) {
  return model ? static_cast<int32_t>(model->runtime->model().config().vocab_size) : 0;
}

int64_t herd_model_context_length(const herd_model* model) {
  return model ? model->runtime->model().config().n_ctx_train : 0;
}

int64_t herd_tokenize(const herd_model* model, const char* text, size_t len, int add_bos, int parse_special,
                      int32_t* ids, int64_t max_ids) {
  try {
    if (!model || (!text && len) || max_ids < 0 || (!ids && max_ids > 0)) return -1;
    const std::vector<int32_t> out =
        model->tok->encode(std::string_view(text ? text : "", len), add_bos != 0, parse_special != 0);
    std::copy_n(out.begin(), std::min<int64_t>(max_ids, static_cast<int64_t>(out.size())), ids);
    return static_cast<int64_t>(out.size());
  } catch (const std::exception&) {
    return -1;
  }
}

int64_t herd_detokenize(const herd_model* model, const int32_t* ids, int64_t n, char* out, size_t out_size) {
  try {
    if (!model || n < 0 || (!ids && n > 0)) return -1;
    const int32_t vocab = model->tok->n_vocab();
    for (int64_t i = 0; i < n; ++i)
      if (ids[i] < 0 || ids[i] >= vocab) return -1;
    const std::string text = model->tok->decode(std::span<const int32_t>(ids, static_cast<size_t>(n)));
    if (out && text.size() < out_size) {
      std::memcpy(out, text.data(), text.size());
      out[text.size()] = '\0';
    }
    return static_cast<int64_t>(text.size());
  } catch (const std::exception&) {
    return -1;
  }
}

herd_generate_params herd_generate_default_params(void) {
  herd_generate_params p;
  p.max_tokens = 256;
  p.n_ctx = 0;
  p.temperature = 0.6f;
  p.top_p = 0.9f;
  p.top_k = 0;
  p.min_p = 0.0f;
  p.seed = 0;
  p.chat = 1;
  p.system = nullptr;
  return p;
}

int64_t herd_generate(herd_model* model, const char* prompt, const herd_generate_params* params,
                      herd_piece_callback on_piece, void* user_data, char* err, size_t err_size) {
  namespace hm = herd::model;
  try {
    if (!model || !prompt) {
      set_err(err, err_size, "herd_generate: model or prompt is NULL");
      return -1;
    }
    const herd_generate_params p = params ? *params : herd_generate_default_params();
    const hm::LlamaConfig& cfg = model->runtime->model().config();
    herd::sampling::SamplingParams sp;
    sp.temperature = p.temperature;
    sp.top_p = p.top_p;
    sp.top_k = p.top_k;
    sp.min_p = p.min_p;
    sp.seed = p.seed;
    if (herd::Status s = sp.validate(); !s.has_value()) {
      set_err(err, err_size, s.error().to_string());
      return -1;
    }
    if (p.max_tokens < -1 || p.n_ctx < 0) {
      set_err(err, err_size, "herd_generate: max_tokens must be >= -1 and n_ctx >= 0");
      return -1;
    }

    std::vector<int32_t> ids;
    if (p.chat) {
      std::vector<herd::chat::Message> msgs;
      if (p.system && p.system[0]) msgs.push_back({"system", p.system, {}, "", ""});
      msgs.push_back({"user", prompt, {}, "", ""});
      auto rendered = herd::chat::render_prompt(msgs, {}, herd::chat::FormatOptions{});
      if (!rendered.has_value()) {
        set_err(err, err_size, rendered.error().to_string());
        return -1;
      }
      auto r = rendered->ids(*model->tok);
      if (!r.has_value()) {
        set_err(err, err_size, r.error().to_string());
        return -1;
      }
      ids = std::move(*r);
    } else {
      ids = model->tok->encode(prompt, /*add_bos=*/true);
    }
    const int64_t T = static_cast<int64_t>(ids.size());
    const int64_t n_ctx = p.n_ctx > 0 ? p.n_ctx : std::min<int64_t>(std::max<int64_t>(cfg.n_ctx_train, T + 1), kDefaultMaxCtx);
    if (T >= n_ctx) {
      set_err(err, err_size, "the prompt has " + std::to_string(T) + " tokens but the context is " + std::to_string(n_ctx));
      return -1;
    }

    hm::LlamaContext ctx(model->runtime->model(), n_ctx, std::min<int64_t>(T, 512), model->runtime->exec());
    std::vector<float> logits;
    for (int64_t i = 0; i < T; i += 512) {
      const int64_t n = std::min<int64_t>(512, T - i);
      herd::Status s = ctx.eval(std::span<const int32_t>(ids.data() + i, static_cast<size_t>(n)), false, &logits);
      if (!s.has_value()) {
        set_err(err, err_size, s.error().to_string());
        return -1;
      }
    }
    herd::sampling::Sampler sampler(sp);
    herd::tokenizer::StreamDecoder dec(*model->tok);
    const herd::chat::StopTokens stops = herd::chat::StopTokens::for_model(model->tok.get(), cfg.eos_ids);
    herd::cli::LoopOptions lo;
    lo.max_tokens = p.max_tokens < 0 ? n_ctx : p.max_tokens;
    bool stopped = false;
    auto end = herd::cli::generation_loop(ctx, sampler, ids, logits, stops, lo, [&](int32_t id) {
      const std::string piece = dec.push_text(id);
      if (on_piece && !piece.empty() && on_piece(piece.data(), piece.size(), user_data) != 0) stopped = true;
      return !stopped;
    });
    if (!end.has_value()) {
      set_err(err, err_size, end.error().to_string());
      return -1;
    }
    if (!stopped && on_piece) {
      const std::string rest = dec.flush();
      if (!rest.empty()) on_piece(rest.data(), rest.size(), user_data);
    }
    return end->generated;
  } catch (const std::bad_alloc&) {
    set_err(err, err_size, "herd_generate: out of memory");
    return -1;
  } catch (const std::exception& e) {
    set_err(err, err_size, std::string("herd_generate: ") + e.what());
    return -1;
  }
}

}  // extern "C"
