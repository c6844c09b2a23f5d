// herd serve: loads the model, tokenizer and engine, then runs the HTTP server
// (apps/server) until SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "args.h"
#include "commands.h"
#include "guard_model.h"
#include "prompt_guard_model.h"
#include "lora_option.h"
#include "engine/engine.h"
#include "kv/kv_cache.h"
#include "model_card.h"
#include "model/llama_model.h"
#include "model/runtime.h"
#include "model/model_tokenizer.h"
#include "chat/llama_guard.h"
#include "guard_shield.h"
#include "server.h"

namespace herd::cli {
int cmd_serve(int argc, char** argv) {
  ArgParser p("serve", "-m MODEL [options]");
  p.add("-m,--model", "PATH", "model: a .gguf file or a Hugging Face directory (Llama 3.1 Instruct)");
  p.add("--lora", "PATH[:SCALE]", kLoraOptionHelp);
  p.add("--lora-modules,--lora-module", "NAME=PATH[:SCALE]",
        "an adapter that requests choose by name (\"model\": \"NAME\" or \"BASE+NAME\"), batched with the others "
        "in each step; repeatable");
  p.add("--host", "ADDR", "address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)");
  p.add("--port", "N", "port (default 8080; 0 picks a free one and prints it)");
  p.add("--parallel", "N", "sequences decoded together per step (default 16)");
  p.add("-c,--ctx-size", "N", "KV cache tokens shared by all sequences (default: 4x the per-request limit)");
  p.add("--max-seq-len", "N", "prompt + completion tokens of one request (default: trained context, at most 8192)");
  p.add("--max-queue", "N", "waiting requests before 429 (default 64)");
  p.add("-t,--threads", "N", "threads (default: all cores)");
  p.add("--api-key", "KEY",
        "require 'Authorization: Bearer KEY' on every route but /health and the web page (also: $HERD_API_KEY, "
        "which keeps the key out of ps)");
  p.add("--api-key-file", "FILE", "read the API key from FILE (first line)");
  p.add("--cors", "ORIGIN", "allow cross-origin requests from ORIGIN ('*' for any); off by default");
  p.add("--allow-host", "NAME", "also accept this Host header (DNS rebinding protection; comma-separated)");
  p.add("--alias", "NAME", "the model name /v1/models and /api/tags list (default: the model file name)");
  p.add("--strict-model-names", "", "refuse (404) a request whose \"model\" is not the alias or file name; by default "
        "any name reaches the served model, as with llama-server");
  p.add("--temp", "T", "temperature of requests that set none (default 0.6, as herd run and chat; 0 = greedy)");
  p.add("--top-p", "P", "top_p of requests that set none (default 0.9)");
  p.add("--max-body", "BYTES", "largest request body (default 4 MiB)");
  p.add("--request-timeout", "SECONDS", "a request must arrive whole within this many seconds (default 30)");
  p.add("--shutdown-timeout", "SECONDS", "on SIGTERM/SIGINT, how long running generations may go on before they "
        "are ended (default 10)");
  add_guard_options(p, "a Llama Guard 3 model (GGUF or HF directory): user turns of /v1/chat/completions are "
        "checked before inference and non-streamed replies before release (a flagged one is answered with "
        "finish_reason content_filter), and POST /v1/moderations answers; it runs on its own engine beside the "
        "chat model (docs/guard.md)");
  add_prompt_guard_options(p, "a Prompt Guard (or Prompt Guard 2) directory: each chat request's last user turn is "
        "checked for a jailbreak and its trailing tool results for an injection before inference; above the "
        "threshold the request is refused with finish_reason content_filter (docs/guard.md)");
  p.add("--date", "DATE", "the 'Today Date:' of the Llama 3.1 system lines, e.g. \"26 July 2024\" (default: today)");
  add_isa_option(p);
  add_cache_type_options(p);
  add_fp8_activation_option(p);
  add_llama_cpp_compat_options(p);
  p.add("-q,--quiet", "", "no per-request log lines");
  int code = 0;
  if (!p.parse(argc, argv, &code)) return code;
  note_ignored_options(p, "serve");
  if (!p.has("--model") || !p.positionals().empty()) {
    std::fprintf(stderr, "herd serve: -m MODEL is required (and no positional arguments)\n");
    p.print_usage(stderr);
    return 2;
  }
  if (p.has("--api-key") && p.has("--api-key-file")) {
    std::fprintf(stderr, "herd serve: give --api-key or --api-key-file, not both\n");
    return 2;
  }
  auto port = p.get_int("--port", 8080, 0, 65535);
  auto parallel = p.get_int("--parallel", 16, 1, 1024);
  auto ctx_size = p.get_int("--ctx-size", 0, 0, 1 << 30);
  auto max_seq = p.get_int("--max-seq-len", 0, 0, 1 << 30);
  auto max_queue = p.get_int("--max-queue", 64, 0, 1 << 20);
  auto threads = p.get_int("--threads", default_threads(), 1, 1024);
  auto max_body = p.get_int("--max-body", 4 << 20, 1024, int64_t{1} << 32);
  auto request_timeout = p.get_int("--request-timeout", 30, 1, 3600);
  auto cache_types = get_cache_types(p);
  auto temp = p.get_double("--temp", 0.6);
  auto shutdown_arg = p.get_int("--shutdown-timeout", 10, 0, 3600);
  auto top_p = p.get_double("--top-p", 0.9);
  if (const Error* e = first_error(port, parallel, ctx_size, max_seq, max_queue, threads, max_body, request_timeout,
                                   cache_types, temp, top_p, shutdown_arg))
    return fail_usage("serve", *e);
  const double shutdown_s = static_cast<double>(*shutdown_arg);
  if (*temp < 0 || *temp > 2 || !(*top_p > 0 && *top_p <= 1)) {
    std::fprintf(stderr, "herd serve: --temp must be in [0, 2] and --top-p in (0, 1]\n");
    return 2;
  }

  server::ServerOptions so;
  so.host = p.get("--host", "127.0.0.1");
  so.port = static_cast<int>(*port);
  so.cors_origin = p.get("--cors");
  so.max_body_bytes = static_cast<size_t>(*max_body);
  so.request_read_seconds = static_cast<int>(*request_timeout);
  so.log_requests = !p.has("--quiet");
  so.today = p.get("--date");
  so.strict_model_names = p.has("--strict-model-names");
  so.default_temperature = static_cast<float>(*temp);
  so.default_top_p = static_cast<float>(*top_p);
  // An empty key would serve without one (--api-key "$UNSET"): refused, as an empty file is.
  if (p.has("--api-key")) {
    so.api_key = p.get("--api-key");
    if (so.api_key.empty()) return fail_usage("serve", err(ErrorCode::kInvalidArgument, "--api-key is empty"));
  } else if (const char* env = std::getenv("HERD_API_KEY"); env != nullptr && !p.has("--api-key-file")) {
    so.api_key = env;
    if (so.api_key.empty()) return fail_usage("serve", err(ErrorCode::kInvalidArgument, "HERD_API_KEY is set but empty"));
  }
  if (p.has("--api-key-file")) {
    std::ifstream f(p.get("--api-key-file"));
    if (!f) return fail_run("serve", err(ErrorCode::kIo, "cannot read --api-key-file %s", p.get("--api-key-file").c_str()));
    std::getline(f, so.api_key);
    while (!so.api_key.empty() && (so.api_key.back() == '\r' || so.api_key.back() == ' ')) so.api_key.pop_back();
    if (so.api_key.empty()) return fail_usage("serve", err(ErrorCode::kInvalidArgument, "--api-key-file holds an empty key"));
  }
  {
    std::stringstream hs(p.get("--allow-host"));
    for (std::string h; std::getline(hs, h, ',');)
      if (!h.empty()) so.allowed_hosts.push_back(h);
  }

  // The port first: a busy port is reported before a model of many GB is loaded.
  Result<server::http::ListenSocket> socket = server::http::ListenSocket::open(so.host, so.port);
  if (!socket.has_value()) return fail_run("serve", socket.error());

  // Block the stop signals in every thread (before the first one, the
  // runtime's pool, starts: threads inherit the mask); one thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Destroyed in reverse: the waiter is joined first, then the server, the
  // engine (whose thread computes on the runtime's pool) and the runtime.
  std::unique_ptr<model::Runtime> rt;
  std::unique_ptr<engine::Engine> eng;
  // The guard (--guard): its own runtime, engine and tokenizer; the shield
  // the server reads must outlive the server.
  std::unique_ptr<GuardModel> guard;
  std::unique_ptr<PromptGuardModel> prompt_guard;  // --prompt-guard
  std::optional<server::Server> srv;
  std::atomic<bool> serving{false}, done{false};
  // Before the server runs a stop signal ends the process (a long model load
  // can be interrupted); after, it stops the server.
  // Serving, the first signal stops gracefully (Server::shutdown: no new connections,
  // running generations get --shutdown-timeout seconds, the rest end with a final
  // event); a second one exits at once.
  std::thread drainer;
  std::thread waiter([&] {
    for (int signals = 0;; ++signals) {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      if (done.load()) return;
      if (!serving.load()) {
        std::fprintf(stderr, "herd serve: signal %d during start-up, exiting\n", sig);
        std::_Exit(128 + sig);
      }
      if (signals > 0) {
        std::fprintf(stderr, "herd serve: signal %d again, exiting now\n", sig);
        std::_Exit(128 + sig);
      }
      std::fprintf(stderr, "herd serve: signal %d, stopping: no new requests, %g s for those running "
                           "(again to exit now)\n", sig, shutdown_s);
      drainer = std::thread([&] { srv->shutdown(shutdown_s); });
    }
  });
  struct JoinWaiter {
    std::thread& t;
    std::thread& drainer;
    std::atomic<bool>& done;
    ~JoinWaiter() {
      done.store(true);
      pthread_kill(t.native_handle(), SIGTERM);  // wakes it if no signal came
      t.join();
      if (drainer.joinable()) drainer.join();
    }
  } join_waiter{waiter, drainer, done};

  Result<std::unique_ptr<model::Runtime>> opened =
      model::Runtime::open(runtime_options(p, *threads, stderr));
  if (!opened.has_value()) return fail_run("serve", opened.error());
  rt = std::move(*opened);
  model::LlamaModel* model = &rt->model();
  Result<std::vector<std::unique_ptr<train::LoraSet>>> loras = attach_lora_options(p.get_all("--lora"), *model);
  if (!loras.has_value()) return fail_run("serve", loras.error());
  for (const std::string& v : p.get_all("--lora")) {
    const auto [path, scale] = parse_lora_option(v);
    so.loras.push_back({path, scale});
  }
  Result<std::vector<std::unique_ptr<train::LoraSet>>> modules =
      attach_lora_modules(p.get_all("--lora-module"), *model, &so.lora_modules);
  if (!modules.has_value()) return fail_run("serve", modules.error());
  Result<tokenizer::Tokenizer> tok = model::load_model_tokenizer(*model);
  if (!tok.has_value()) return fail_run("serve", tok.error().with_context("herd serve needs the model's tokenizer"));
  if (tok->special_id("<|eot_id|>") < 0 || tok->special_id("<|start_header_id|>") < 0)
    return fail_run("serve", err(ErrorCode::kUnsupported, "the model's vocabulary lacks the Llama 3.1 chat tokens"));
  const int64_t trained = std::max<int64_t>(model->config().n_ctx_train, 16);
  so.max_seq_len = *max_seq > 0 ? *max_seq : std::min<int64_t>(trained, 8192);
  so.model_eos_ids = model->config().eos_ids;
  so.model_id = p.has("--alias") ? p.get("--alias") : basename_of(p.get("--model"));
  so.model_aliases = {basename_of(p.get("--model")), p.get("--model")};

  engine::EngineOptions eo;
  eo.threads = static_cast<int>(*threads);
  eo.max_seq_len = so.max_seq_len;
  eo.n_ctx = *ctx_size > 0 ? *ctx_size : so.max_seq_len * std::min<int64_t>(*parallel, 4);
  eo.max_running = static_cast<int>(*parallel);
  eo.max_queued = static_cast<int>(*max_queue);
  eo.cache_type_k = dtype_name(cache_types->k);
  eo.cache_type_v = dtype_name(cache_types->v);
  if (so.max_seq_len > eo.n_ctx) so.max_seq_len = eo.n_ctx;

  // The engine computes with the table the weights were repacked for, on the runtime's pool.
  Result<std::unique_ptr<engine::Engine>> made = engine::make_engine(*model, rt->table(), eo, &rt->pool());
  if (!made.has_value()) return fail_run("serve", made.error());
  eng = std::move(*made);
  const model::LlamaConfig& cfg = model->config();
  const uint64_t kv_bytes = kv::KvCache::bytes_for(cfg.n_layers, 1, cfg.n_kv_heads * cfg.head_dim, cache_types->k,
                                                   cache_types->v) * static_cast<uint64_t>(eo.n_ctx);
  so.card = model_card(*model, p.get("--model"), kv_bytes);
  {
    // The guard's engine: a few checks at a time, prompts of a few hundred tokens
    // plus the conversation. One pool of the chat's per-request limit: short
    // checks share it, one as long as a whole chat fits (8B guard, f16: 1 GB).
    Result<GuardOption> g = open_guard_option(p, static_cast<int>(*threads), so.max_seq_len + 512);
    if (!g) return g.error().code() == ErrorCode::kInvalidArgument ? fail_usage("serve", g.error()) : fail_run("serve", g.error());
    guard = std::move(g->model);
    so.guard_input = g->input;
    so.guard_output = g->output;
  }
  if (guard) {
    const server::GuardOptions& go = guard->shield->options();
    so.guard = guard->shield.get();
    std::fprintf(stderr, "herd serve: guard %s (Llama Guard 3 %s, threshold %g%s%s)\n", go.model_id.c_str(),
                 chat::guard_variant_name(go.variant), go.threshold, go.excluded.empty() ? "" : ", excluding ",
                 p.get("--guard-exclude").c_str());
  }
  {
    Result<std::unique_ptr<PromptGuardModel>> pg = open_prompt_guard_option(p, static_cast<int>(*threads));
    if (!pg) return pg.error().code() == ErrorCode::kInvalidArgument ? fail_usage("serve", pg.error()) : fail_run("serve", pg.error());
    prompt_guard = std::move(*pg);
  }
  if (prompt_guard) {
    so.prompt_guard = prompt_guard.get();
    std::fprintf(stderr, "herd serve: prompt guard %s (threshold %g: jailbreak on user turns, injection on tool results)\n",
                 prompt_guard->model_id().c_str(), prompt_guard->threshold());
  }
  srv.emplace(*eng, *tok, so);
  srv->adopt(std::move(*socket));
  Result<int> bound = srv->bind();
  if (!bound.has_value()) return fail_run("serve", bound.error());
  std::fprintf(stderr, "herd serve: %s on http://%s:%d (parallel %d, KV %lld tokens, %lld per request, queue %d%s)\n",
               so.model_id.c_str(), so.host.c_str(), *bound, eo.max_running, static_cast<long long>(eo.n_ctx),
               static_cast<long long>(so.max_seq_len), eo.max_queued, so.api_key.empty() ? "" : ", API key required");
  std::printf("listening on %s:%d\n", so.host.c_str(), *bound);
  std::fflush(stdout);
  serving.store(true);
  Status s = srv->listen();
  if (!s.has_value()) return fail_run("serve", s.error());
  return 0;
}

}  // namespace herd::cli
