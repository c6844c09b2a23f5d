// See server.h. Wires the routes, guards (Host, API key, CORS), the body size
// limit, OpenAI-shaped errors for httplib's own refusals, and the request log.
#include "server.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "auth.h"
#include "routes.h"

namespace herd::server {

struct Server::Impl {
  ServerContext ctx;
  httplib::Server http;
  int bound_port = -1;
};

namespace {

thread_local std::chrono::steady_clock::time_point t_request_start;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string route_label(const std::string& path) {
  static const char* kRoutes[] = {"/v1/chat/completions", "/chat/completions", "/v1/completions", "/completions",
                                  "/v1/models", "/models", "/tokenize", "/detokenize", "/health", "/metrics", "/"};
  for (const char* r : kRoutes)
    if (path == r) return r;
  return "other";
}

// Why a POST's framing is refused before its body is read, or nothing:
//   Content-Encoding other than identity -> 415 (the body limit would apply to the
//     compressed bytes: 100 KB of gzip inflates to 100 MB);
//   Transfer-Encoding (chunked)          -> 411 (no length to check before reading);
//   Content-Length over the limit        -> 413;
//   a media type other than application/json -> 415 (a web page can send text/plain
//     or form bodies cross-site without a preflight; application/json needs one).
std::optional<ApiError> check_post_framing(const httplib::Request& req, size_t max_body_bytes) {
  ApiError e;
  const std::string encoding = lower(req.get_header_value("Content-Encoding"));
  if (!encoding.empty() && encoding != "identity") {
    e.status = 415;
    e.code = "unsupported_content_encoding";
    e.message = "request bodies must not be compressed (Content-Encoding: " + encoding + ")";
    return e;
  }
  if (req.has_header("Transfer-Encoding")) {
    e.status = 411;
    e.code = "length_required";
    e.message = "send the request body with a Content-Length (Transfer-Encoding is not accepted)";
    return e;
  }
  const std::string length = req.get_header_value("Content-Length");
  char* end = nullptr;
  const unsigned long long n = std::strtoull(length.c_str(), &end, 10);
  if (!length.empty() && (*end != '\0' || n > max_body_bytes)) {
    e.status = 413;
    e.code = "body_too_large";
    e.message = "request body too large (limit " + std::to_string(max_body_bytes) + " bytes)";
    return e;
  }
  std::string type = lower(req.get_header_value("Content-Type"));
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

bool is_public(const httplib::Request& req) {
  return req.path == "/health" || (req.method == "GET" && (req.path == "/" || req.path == "/index.html"));
}

}  // namespace

Server::Server(engine::Engine& engine, const tokenizer::Tokenizer& tok, ServerOptions options)
    : impl_(std::make_unique<Impl>()) {
  ServerContext& ctx = impl_->ctx;
  ctx.engine = &engine;
  ctx.tok = &tok;
  ctx.opts = std::move(options);
  ctx.stop_tokens = chat::StopTokens::from_tokenizer(tok);
  ctx.vocab_size = tok.n_vocab();
  httplib::Server& http = impl_->http;
  const int threads = ctx.opts.http_threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_payload_max_length(ctx.opts.max_body_bytes);
  http.set_read_timeout(60, 0);
  http.set_write_timeout(60, 0);

  http.set_pre_routing_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    t_request_start = std::chrono::steady_clock::now();
    if (!host_allowed(req.get_header_value("Host"), ctx.opts.host, ctx.opts.allowed_hosts)) {
      ApiError e;
      e.status = 403;
      e.type = "permission_error";
      e.message = "Host '" + req.get_header_value("Host") +
                  "' is not allowed (DNS rebinding protection); use --allow-host to accept it";
      send_error(res, e);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method == "POST") {
      // Limits before the body is read (this handler runs first): httplib inflates
      // compressed bodies and reads chunked ones without the size limit, and a
      // cross-site page can POST text/plain without a CORS preflight.
      if (std::optional<ApiError> e = check_post_framing(req, ctx.opts.max_body_bytes)) {
        res.set_header("Connection", "close");  // the unread body must not be parsed as a request
        send_error(res, *e);
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!ctx.opts.cors_origin.empty()) {
      const std::string origin = req.get_header_value("Origin");
      if (ctx.opts.cors_origin == "*" || origin == ctx.opts.cors_origin) {
        res.set_header("Access-Control-Allow-Origin", ctx.opts.cors_origin == "*" ? "*" : origin);
        res.set_header("Vary", "Origin");
      }
      if (req.method == "OPTIONS") {
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.set_header("Access-Control-Max-Age", "600");
        res.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!ctx.opts.api_key.empty() && !is_public(req)) {
      if (!constant_time_equal(bearer_token(req.get_header_value("Authorization")), ctx.opts.api_key)) {
        ApiError e;
        e.status = 401;
        e.type = "authentication_error";
        e.code = "invalid_api_key";
        e.message = "missing or incorrect API key (send 'Authorization: Bearer KEY')";
        res.set_header("WWW-Authenticate", "Bearer");
        send_error(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  http.set_error_handler(httplib::Server::HandlerWithResponse([&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    ApiError e;
    e.status = res.status;
    if (res.status == 413) {
      e.message = "request body too large (limit " + std::to_string(ctx.opts.max_body_bytes) + " bytes)";
      e.code = "body_too_large";
    } else if (res.status == 404) {
      e.message = "no route " + req.method + " " + req.path;
      e.code = "not_found";
    } else if (res.status == 405) {
      e.message = "method " + req.method + " not allowed on " + req.path;
    } else {
      e.message = "HTTP " + std::to_string(res.status);
    }
    send_error(res, e);
    return httplib::Server::HandlerResponse::Handled;
  }));

  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string message = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& ex) {
      message += std::string(": ") + ex.what();
    } catch (...) {
    }
    send_error(res, server_error(message));
  });

  http.set_logger([&ctx](const httplib::Request& req, const httplib::Response& res) {
    ctx.metrics.request_done(route_label(req.path), res.status);
    if (!ctx.opts.log_requests) return;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_request_start).count();
    std::fprintf(stderr, "%s %s %s %d %zuB %.1fms\n", log_field(req.remote_addr).c_str(), log_field(req.method).c_str(),
                 log_field(req.path).c_str(), res.status, req.body.size(), ms);
  });

  add_chat_routes(http, ctx);
  add_completion_routes(http, ctx);
  add_misc_routes(http, ctx);
  add_web_page(http);
}

Server::~Server() { stop(); }

Result<int> Server::bind() {
  const ServerOptions& o = impl_->ctx.opts;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host.c_str());
    if (port < 0) return err(ErrorCode::kIo, "cannot bind %s (any port)", o.host.c_str());
  } else if (!impl_->http.bind_to_port(o.host.c_str(), port)) {
    return err(ErrorCode::kIo, "cannot bind %s:%d (in use, or not an address of this machine)", o.host.c_str(), port);
  }
  impl_->bound_port = port;
  return port;
}

Status Server::listen() {
  if (impl_->bound_port < 0) return err(ErrorCode::kInvalidArgument, "listen() before bind()");
  if (!impl_->http.listen_after_bind()) return err(ErrorCode::kIo, "the HTTP server stopped with an error");
  return {};
}

void Server::stop() { impl_->http.stop(); }

}  // namespace herd::server
