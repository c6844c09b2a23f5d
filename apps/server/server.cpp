// See server.h. Wires the routes, the guards that run before a body is read (Host,
// POST framing, API key, CORS), OpenAI-shaped errors for the transport's own
// refusals (http_server.h), and the request log.
#include "server.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <thread>

#include "auth.h"
#include "http_server.h"
#include "routes.h"

namespace herd::server {

struct Server::Impl {
  ServerContext ctx;
  http::Router router;
  std::unique_ptr<http::HttpServer> http;
  http::ListenSocket socket;
  int bound_port = -1;
};

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string route_label(const std::string& path) {
  static const char* kRoutes[] = {"/v1/chat/completions", "/chat/completions", "/v1/completions", "/completions",
                                  "/v1/models", "/models", "/tokenize", "/detokenize", "/health", "/metrics", "/",
                                  "/v1/moderations", "/moderations", "/lora-adapters",
                                  "/api/chat", "/api/generate", "/api/tags", "/api/show", "/api/ps", "/api/version"};
  for (const char* r : kRoutes)
    if (path == r) return r;
  return "other";
}

// Why a POST's framing is refused before its body is read, or nothing:
//   Content-Encoding other than identity -> 415 (the body limit would apply to the
//     compressed bytes: 100 KB of gzip inflates to 100 MB);
//   Content-Length over the limit        -> 413;
//   a media type other than application/json -> 415 (a web page can send text/plain
//     or form bodies cross-site without a preflight; application/json needs one).
std::optional<ApiError> check_post_framing(const http::Request& req, size_t max_body_bytes) {
  ApiError e;
  const std::string encoding = lower(req.header("Content-Encoding"));
  if (!encoding.empty() && encoding != "identity") {
    e.status = 415;
    e.code = "unsupported_content_encoding";
    e.message = "request bodies must not be compressed (Content-Encoding: " + encoding + ")";
    return e;
  }
  const std::string length = req.header("Content-Length");
  char* end = nullptr;
  const unsigned long long n = std::strtoull(length.c_str(), &end, 10);
  if (!length.empty() && (*end != '\0' || n > max_body_bytes)) {
    e.status = 413;
    e.code = "body_too_large";
    e.message = "request body too large (limit " + std::to_string(max_body_bytes) + " bytes)";
    return e;
  }
  std::string type = lower(req.header("Content-Type"));
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type != "application/json") {
    e.status = 415;
    e.code = "unsupported_media_type";
    e.param = "Content-Type";
    e.message = "POST bodies must be sent as Content-Type: application/json" +
                (type.empty() ? std::string() : " (got " + type + ")");
    return e;
  }
  return std::nullopt;
}

// A request field as one log token: bytes outside printable ASCII (a decoded %0a in
// the path would start a forged log line), spaces and backslashes as \xHH; at most
// 512 bytes of it.
std::string log_field(const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t n = std::min<size_t>(s.size(), 512);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c > 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > n) out += "...";
  return out;
}

bool is_public(const http::Request& req) {
  return req.path == "/health" || (req.method == "GET" && (req.path == "/" || req.path == "/index.html"));
}

// After the grace period: how long cancelled generations get to write their last event.
constexpr double kEndingSeconds = 5.0;

// Host, framing, CORS and the API key, before the body is read: true when it answered.
bool guard(ServerContext& ctx, const http::Request& req, http::Response& res) {
  if (ctx.draining.load()) {
    ApiError e;
    e.status = 503;
    e.type = "server_error";
    e.code = "shutting_down";
    e.message = "the server is shutting down";
    res.set_header("Connection", "close");
    send_error(req, res, e);
    return true;
  }
  if (!host_allowed(req.header("Host"), ctx.opts.host, ctx.opts.allowed_hosts)) {
    ApiError e;
    e.status = 403;
    e.type = "permission_error";
    e.message = "Host '" + req.header("Host") + "' is not allowed (DNS rebinding protection); use --allow-host to accept it";
    send_error(req, res, e);
    return true;
  }
  if (req.method == "POST") {
    // libmicrohttpd never inflates a body and herd counts the bytes it reads, but a
    // compressed body is still refused by name, and a cross-site page can POST
    // text/plain without a CORS preflight.
    if (std::optional<ApiError> e = check_post_framing(req, ctx.opts.max_body_bytes)) {
      send_error(req, res, *e);
      return true;
    }
  }
  if (!ctx.opts.cors_origin.empty()) {
    const std::string origin = req.header("Origin");
    if (ctx.opts.cors_origin == "*" || origin == ctx.opts.cors_origin) {
      res.set_header("Access-Control-Allow-Origin", ctx.opts.cors_origin == "*" ? "*" : origin);
      res.set_header("Vary", "Origin");
    }
    if (req.method == "OPTIONS") {
      res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Max-Age", "600");
      res.status = 204;
      return true;
    }
  }
  if (!ctx.opts.api_key.empty() && !is_public(req)) {
    if (!constant_time_equal(bearer_token(req.header("Authorization")), ctx.opts.api_key)) {
      ApiError e;
      e.status = 401;
      e.type = "authentication_error";
      e.code = "invalid_api_key";
      e.message = "missing or incorrect API key (send 'Authorization: Bearer KEY')";
      res.set_header("WWW-Authenticate", "Bearer");
      send_error(req, res, e);
      return true;
    }
  }
  return false;
}

// The route, or 404/405; an exception from a handler (the standard library or the
// JSON library) becomes a 500, never crosses into the transport.
void dispatch(const http::Router& router, const http::Request& req, http::Response& res) {
  bool path_known = false;
  const http::Handler* h = router.find(req.method, req.path, &path_known);
  if (h == nullptr) {
    ApiError e;
    e.status = path_known ? 405 : 404;
    e.code = path_known ? "" : "not_found";
    e.message = path_known ? "method " + req.method + " not allowed on " + req.path
                           : "no route " + req.method + " " + req.path;
    send_error(req, res, e);
    return;
  }
  try {
    (*h)(req, res);
  } catch (const std::exception& ex) {
    res = http::Response();
    send_error(req, res, server_error(std::string("internal error: ") + ex.what()));
  } catch (...) {
    res = http::Response();
    send_error(req, res, server_error("internal error"));
  }
}

}  // namespace

Server::Server(engine::Engine& engine, const tokenizer::Tokenizer& tok, ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  ServerContext& ctx = impl_->ctx;
  ctx.engine = &engine;
  ctx.tok = &tok;
  ctx.opts = std::move(options);
  ctx.stop_tokens = chat::StopTokens::for_model(&tok, ctx.opts.model_eos_ids);
  ctx.vocab_size = tok.n_vocab();
  for (const ServerOptions::LoraAdapterInfo& a : ctx.opts.loras) ctx.lora_scales.push_back(a.scale);
  add_chat_routes(impl_->router, ctx);
  add_completion_routes(impl_->router, ctx);
  add_misc_routes(impl_->router, ctx);
  add_guard_routes(impl_->router, ctx);
  add_ollama_routes(impl_->router, ctx);
  add_web_page(impl_->router);

  http::HttpLimits limits;
  limits.max_body_bytes = ctx.opts.max_body_bytes;
  limits.max_connections = ctx.opts.max_connections;
  limits.max_connections_per_client = ctx.opts.max_connections_per_client;
  limits.request_read_seconds = ctx.opts.request_read_seconds;
  http::HttpHandlers h;
  h.before_body = [&ctx](const http::Request& req, http::Response& res) { return guard(ctx, req, res); };
  const http::Router* router = &impl_->router;
  h.handle = [router](const http::Request& req, http::Response& res) { dispatch(*router, req, res); };
  h.refuse = [](const http::Request& req, int status, const std::string& reason, http::Response& res) {
    ApiError e;
    e.status = status;
    e.code = status == 413 ? "body_too_large" : status == 431 ? "headers_too_large" : "";
    e.message = reason;
    send_error(req, res, e);
  };
  h.log = [&ctx](const http::Request& req, const http::Response& res, double ms) {
    ctx.metrics.request_done(route_label(req.path), res.status);
    if (!ctx.opts.log_requests) return;
    const std::string note = res.log_note && !res.log_note->empty() ? " " + *res.log_note : "";
    std::fprintf(stderr, "%s %s %s %s %d %zuB %.1fms%s\n", rfc3339(std::chrono::system_clock::now(), 3).c_str(), log_field(req.remote_addr).c_str(),
                 log_field(req.method).c_str(), log_field(req.path).c_str(), res.status, req.body.size(), ms,
                 note.c_str());
  };
  impl_->http = std::make_unique<http::HttpServer>(limits, std::move(h));
}

Server::~Server() { stop(); }

void Server::adopt(http::ListenSocket socket) { impl_->socket = std::move(socket); }

Result<int> Server::bind() {
  if (!impl_->socket.valid()) {
    const ServerOptions& o = impl_->ctx.opts;
    HERD_ASSIGN_OR_RETURN(impl_->socket, http::ListenSocket::open(o.host, o.port));
  }
  impl_->bound_port = impl_->socket.port();
  return impl_->bound_port;
}

Status Server::listen() {
  if (impl_->bound_port < 0) return err(ErrorCode::kInvalidArgument, "listen() before bind()");
  return impl_->http->serve(std::move(impl_->socket));
}

void Server::shutdown(double grace_s) {
  ServerContext& ctx = impl_->ctx;
  ctx.draining.store(true);
  impl_->http->quiesce();
  using Clock = std::chrono::steady_clock;
  auto wait_idle = [&](double seconds) {
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (ctx.metrics.in_flight() > 0 && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  wait_idle(grace_s);
  if (ctx.metrics.in_flight() > 0) {
    ctx.ending.store(true);
    wait_idle(kEndingSeconds);
  }
  stop();
}

void Server::stop() { impl_->http->stop(); }

}  // namespace herd::server
