// The HTTP transport of `herd serve`: GNU libmicrohttpd (Debian's libmicrohttpd-dev)
// with herd's limits, behind the plain Request/Response of http.h.
//
// Why libmicrohttpd (docs/serving.md has the threat model): cpp-httplib 0.11, used
// before, read chunked bodies without the size limit, inflated gzip bodies, accepted
// any number of headers before the first handler ran, restarted its read timeout at
// every byte (90 slow clients held all its threads), and set SO_REUSEPORT on its
// socket. Here:
//   * the request line and headers must fit the connection's memory pool
//     (HttpLimits::max_header_bytes; libmicrohttpd answers 431 past it) and number at
//     most max_headers (431);
//   * the body is read by herd, counted as it arrives (chunked or not) and refused
//     past max_body_bytes (413); libmicrohttpd never decompresses;
//   * one thread per connection, so a slow client holds only its own thread; a
//     request must arrive whole within request_read_seconds of its first byte (a
//     watchdog shuts the socket of one that does not: a total deadline, not a
//     per-byte timeout), and an idle connection closes after idle_seconds;
//   * connections are capped in all (max_connections) and per client address
//     (max_connections_per_client; loopback clients are counted only in the total);
//   * the listening socket is opened by herd (ListenSocket) with SO_REUSEADDR only,
//     before anything slow happens, and fails when the port is taken.
//
// Thread safety: stop() may be called from any thread; the rest from one thread.
// Callbacks run on connection threads, concurrently.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "http.h"

namespace herd::server::http {

struct HttpLimits {
  size_t max_body_bytes = 4u << 20;
  size_t max_header_bytes = 32u << 10;  // request line + headers
  int max_headers = 100;
  int max_connections = 1024;
  int max_connections_per_client = 64;  // non-loopback addresses
  int request_read_seconds = 30;        // first byte of a request to its last
  int idle_seconds = 60;                // no byte either way (streams send keep-alives)
};

// A bound, listening TCP socket (SO_REUSEADDR, never SO_REUSEPORT).
class ListenSocket {
 public:
  // host: an address literal or a name; port 0: any free port.
  static Result<ListenSocket> open(const std::string& host, int port);
  ListenSocket() = default;
  ListenSocket(ListenSocket&& o) noexcept : fd_(o.fd_), port_(o.port_) { o.fd_ = -1; }
  ListenSocket& operator=(ListenSocket&& o) noexcept;
  ~ListenSocket();
  int port() const { return port_; }
  bool valid() const { return fd_ >= 0; }
  // Hands the descriptor over (the caller closes it).
  int release();

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct HttpHandlers {
  // After the headers, before the body: true when it answered (a refusal), and then
  // the body is not read and the connection is closed after the response.
  std::function<bool(const Request&, Response&)> before_body;
  // After the whole body.
  std::function<void(const Request&, Response&)> handle;
  // A refusal made by the transport (status 413 or 431, a reason): fills the response.
  // The request has what arrived so far (its path names the API, for the error's shape).
  std::function<void(const Request&, int status, const std::string& reason, Response&)> refuse;
  // Once per request, after its response is over.
  std::function<void(const Request&, const Response&, double ms)> log;
};

class HttpServer {
 public:
  HttpServer(HttpLimits limits, HttpHandlers handlers);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves on `socket` until stop(); returns at once if stop() came first.
  Status serve(ListenSocket socket);
  // Stops accepting connections (the listening socket is closed); open connections
  // and their responses go on until stop(). Any thread.
  void quiesce();
  // Closes every connection (streams end without their last bytes) and makes serve()
  // return.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::server::http
