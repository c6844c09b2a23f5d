// herd's HTTP request and response, as the route handlers see them: plain values,
// independent of the transport (http_server.h), so a handler is a function from a
// Request to a Response and can be tested without a socket.
//
// A response is either a whole body (set_content) or a stream (set_stream): the
// transport calls the stream function again and again on the connection's own thread,
// sending what it appends, until it reports done; on_close runs once when the response
// is over, completed or not (the client went away, the server stopped).
//
// Thread safety: a Request and its Response belong to one connection's thread.
#pragma once

#include <algorithm>
#include <cctype>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herd::server::http {

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;       // "GET", "POST", ...
  std::string path;         // decoded path, without the query string
  std::string remote_addr;  // the client's address as text
  Headers headers;          // in arrival order; names compared case-insensitively
  std::string body;

  // The first value of header `name`, or "".
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name)) return v;
    return "";
  }
  bool has_header(std::string_view name) const {
    return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); });
  }
};

// Appends the next bytes of a streamed body to *out (possibly none, after waiting a
// while) and sets *done after the last ones; false aborts the response (the
// connection is closed without a proper end).
using StreamFn = std::function<bool(std::string* out, bool* done)>;

struct Response {
  int status = 200;
  Headers headers;
  std::string content_type;
  std::string body;
  StreamFn stream;                       // set: a streamed body (chunked), body unused
  std::function<void()> on_close;        // set: called once when the response is over
  // Optional words a route adds to the request's log line ("prompt=36 gen=12"); a
  // stream may fill it until the response is over (same thread as the log).
  std::shared_ptr<std::string> log_note;

  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name)) return v;
    return "";
  }
  void set_content(std::string text, std::string type) {
    body = std::move(text);
    content_type = std::move(type);
  }
  void set_stream(std::string type, StreamFn fn, std::function<void()> close) {
    content_type = std::move(type);
    stream = std::move(fn);
    on_close = std::move(close);
  }
};

using Handler = std::function<void(const Request&, Response&)>;

// Exact-path routes by method (herd's routes have no parameters).
class Router {
 public:
  void get(std::string path, Handler h) { routes_.push_back({"GET", std::move(path), std::move(h)}); }
  void post(std::string path, Handler h) { routes_.push_back({"POST", std::move(path), std::move(h)}); }
  // The handler for method + path; nullptr with *path_known telling 405 from 404.
  const Handler* find(std::string_view method, std::string_view path, bool* path_known) const {
    *path_known = false;
    for (const Route& r : routes_) {
      if (r.path != path) continue;
      *path_known = true;
      if (r.method == method || (method == "HEAD" && r.method == "GET")) return &r.handler;
    }
    return nullptr;
  }

 private:
  struct Route {
    std::string method, path;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace herd::server::http
