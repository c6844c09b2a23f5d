// See http_server.h. libmicrohttpd in thread-per-connection mode: its polling thread
// accepts, each connection gets a thread that parses the request and calls back here.
#include "http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

namespace herd::server::http {

using Clock = std::chrono::steady_clock;

// Body bytes read and dropped after the limit before a connection is closed unanswered.
constexpr size_t kDiscardBytes = size_t{16} << 20;

// ---------------------------------------------------------------------------
// ListenSocket

Result<ListenSocket> ListenSocket::open(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0)
    return err(ErrorCode::kInvalidArgument, "cannot resolve --host %s: %s", host.c_str(), gai_strerror(rc));
  int fd = -1, last_errno = 0;
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    // SO_REUSEADDR only: a restart may bind while old connections sit in TIME_WAIT,
    // but no other socket can share the port (SO_REUSEPORT would let another
    // process, another user's too, receive part of the connections).
    const int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 128) != 0) {
      last_errno = errno;
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    if (last_errno == EADDRINUSE)
      return err(ErrorCode::kIo, "cannot listen on %s:%d: the port is in use by another process", host.c_str(), port);
    return err(ErrorCode::kIo, "cannot listen on %s:%d: %s", host.c_str(), port, std::strerror(last_errno));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  ListenSocket s;
  s.fd_ = fd;
  s.port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return s;
}

ListenSocket& ListenSocket::operator=(ListenSocket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    port_ = o.port_;
    o.fd_ = -1;
  }
  return *this;
}

ListenSocket::~ListenSocket() {
  if (fd_ >= 0) ::close(fd_);
}

int ListenSocket::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

// ---------------------------------------------------------------------------
// HttpServer

namespace {

std::string address_text(const sockaddr* a) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (a == nullptr) return "";
  if (a->sa_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, buf, sizeof(buf));
  else if (a->sa_family == AF_INET6) inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, buf, sizeof(buf));
  return buf;
}

bool is_loopback(const sockaddr* a) {
  if (a == nullptr) return false;
  if (a->sa_family == AF_INET) return (ntohl(reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr) >> 24) == 127;
  if (a->sa_family == AF_INET6) {
    const in6_addr& x = reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&x) || (IN6_IS_ADDR_V4MAPPED(&x) && x.s6_addr[12] == 127);
  }
  return false;
}

// One connection, for the read deadline and the per-client count.
struct Conn {
  int fd = -1;
  std::string addr;
  bool counted = false;      // in per_client_
  bool receiving = true;     // a request (or the wait for one) is being read
  Clock::time_point since;   // start of that read
};

// One request on a connection.
struct Exchange {
  Request req;
  Response res;
  Clock::time_point t0 = Clock::now();
  bool headers_seen = false;
  bool answered = false;  // a response is queued; further body bytes are dropped
  bool too_large = false; // the body passed the limit: the rest is counted, not kept
  size_t discarded = 0;
};

// A streamed body being sent.
struct Stream {
  StreamFn fn;
  std::function<void()> on_close;
  const std::atomic<bool>* stopping = nullptr;
  std::string pending;
  size_t off = 0;
  bool done = false;
};

}  // namespace

struct HttpServer::Impl {
  HttpLimits limits;
  HttpHandlers h;
  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;  // guarded by mu
  std::atomic<bool> stopping{false};
  MHD_Daemon* daemon = nullptr;

  std::mutex conn_mu;
  std::map<Conn*, std::unique_ptr<Conn>> conns;  // guarded by conn_mu
  std::map<std::string, int> per_client;         // guarded by conn_mu

  static MHD_Result accept_policy(void* cls, const sockaddr* addr, socklen_t) {
    auto* self = static_cast<Impl*>(cls);
    if (self->stopping.load() ) return MHD_NO;
    if (is_loopback(addr)) return MHD_YES;
    std::lock_guard<std::mutex> lock(self->conn_mu);
    auto it = self->per_client.find(address_text(addr));
    return it != self->per_client.end() && it->second >= self->limits.max_connections_per_client ? MHD_NO : MHD_YES;
  }

  static void notify_connection(void* cls, MHD_Connection* c, void** socket_context, MHD_ConnectionNotificationCode code) {
    auto* self = static_cast<Impl*>(cls);
    std::lock_guard<std::mutex> lock(self->conn_mu);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto conn = std::make_unique<Conn>();
      if (const MHD_ConnectionInfo* i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD)) conn->fd = i->connect_fd;
      const MHD_ConnectionInfo* ai = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
      const sockaddr* addr = ai ? ai->client_addr : nullptr;
      conn->addr = address_text(addr);
      if (!is_loopback(addr)) {
        conn->counted = true;
        ++self->per_client[conn->addr];
      }
      conn->since = Clock::now();
      *socket_context = conn.get();
      self->conns.emplace(conn.get(), std::move(conn));
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
      // Called before libmicrohttpd closes the descriptor, so the watchdog, which
      // shuts sockets down under conn_mu, never touches a reused one.
      auto* conn = static_cast<Conn*>(*socket_context);
      auto it = self->conns.find(conn);
      if (it == self->conns.end()) return;
      if (conn->counted && --self->per_client[conn->addr] <= 0) self->per_client.erase(conn->addr);
      self->conns.erase(it);
      *socket_context = nullptr;
    }
  }

  void set_receiving(MHD_Connection* c, bool receiving) {
    const MHD_ConnectionInfo* i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (i == nullptr || i->socket_context == nullptr) return;
    std::lock_guard<std::mutex> lock(conn_mu);
    auto* conn = static_cast<Conn*>(i->socket_context);
    if (conns.count(conn) == 0) return;
    conn->receiving = receiving;
    conn->since = Clock::now();
  }

  // Every 200 ms: a connection that has spent longer than request_read_seconds on
  // one request's bytes (or waiting for the next request) is shut down; its thread
  // then sees the end of the stream and closes it.
  void watchdog() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stop_requested) {
      cv.wait_for(lock, std::chrono::milliseconds(200));
      const auto now = Clock::now();
      std::lock_guard<std::mutex> cl(conn_mu);
      for (auto& [p, conn] : conns)
        if (conn->receiving && conn->fd >= 0 && now - conn->since > std::chrono::seconds(limits.request_read_seconds)) {
          ::shutdown(conn->fd, SHUT_RDWR);
          conn->receiving = false;  // once
        }
    }
  }

  static MHD_Result collect_header(void* cls, MHD_ValueKind, const char* key, const char* value) {
    static_cast<Headers*>(cls)->emplace_back(key ? key : "", value ? value : "");
    return MHD_YES;
  }

  static ssize_t read_stream(void* cls, uint64_t, char* buf, size_t max) {
    auto* s = static_cast<Stream*>(cls);
    while (s->off == s->pending.size()) {
      if (s->done) return MHD_CONTENT_READER_END_OF_STREAM;
      if (s->stopping->load()) return MHD_CONTENT_READER_END_WITH_ERROR;
      s->pending.clear();
      s->off = 0;
      if (!s->fn(&s->pending, &s->done)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    const size_t n = std::min(max, s->pending.size() - s->off);
    std::memcpy(buf, s->pending.data() + s->off, n);
    s->off += n;
    return static_cast<ssize_t>(n);
  }

  static void free_stream(void* cls) {
    auto* s = static_cast<Stream*>(cls);
    if (s->on_close) s->on_close();
    delete s;
  }

  MHD_Result queue(MHD_Connection* c, Exchange* x) {
    x->answered = true;
    Response& r = x->res;
    MHD_Response* resp = nullptr;
    if (r.stream) {
      auto* s = new Stream{std::move(r.stream), std::move(r.on_close), &stopping, {}, 0, false};
      r.stream = nullptr;
      r.on_close = nullptr;
      resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read_stream, s, free_stream);
      if (resp == nullptr) {
        free_stream(s);
        return MHD_NO;
      }
    } else {
      resp = MHD_create_response_from_buffer(r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY);
      if (r.on_close) r.on_close();
      r.on_close = nullptr;
      if (resp == nullptr) return MHD_NO;
    }
    if (!r.content_type.empty()) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
    for (const auto& [k, v] : r.headers) MHD_add_response_header(resp, k.c_str(), v.c_str());
    const MHD_Result ok = MHD_queue_response(c, static_cast<unsigned>(r.status), resp);
    MHD_destroy_response(resp);
    return ok;
  }

  static MHD_Result access(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                           const char* upload, size_t* upload_size, void** con_cls) {
    auto* self = static_cast<Impl*>(cls);
    auto* x = static_cast<Exchange*>(*con_cls);
    if (x == nullptr) {
      x = new Exchange;
      *con_cls = x;
    }
    if (!x->headers_seen) {
      x->headers_seen = true;
      x->req.method = method ? method : "";
      x->req.path = url ? url : "";
      if (const MHD_ConnectionInfo* i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS))
        x->req.remote_addr = address_text(i->client_addr);
      MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &x->req.headers);
      if (static_cast<int>(x->req.headers.size()) > self->limits.max_headers) {
        self->h.refuse(x->req, 431, "more than " + std::to_string(self->limits.max_headers) + " request headers", x->res);
        return self->queue(c, x);
      }
      if (self->h.before_body(x->req, x->res)) return self->queue(c, x);
      return MHD_YES;
    }
    if (x->answered) {  // refused early: drop what is still arriving
      *upload_size = 0;
      return MHD_YES;
    }
    if (*upload_size > 0) {
      // libmicrohttpd takes a response only between body parts, so a body (chunked:
      // its length unknown in advance) that passes the limit is read on without being
      // kept, for a clean 413 at its end, but only up to kDiscardBytes more: past
      // that the connection is closed without an answer.
      if (!x->too_large && x->req.body.size() + *upload_size > self->limits.max_body_bytes) {
        x->too_large = true;
        x->req.body.clear();
        x->req.body.shrink_to_fit();
      }
      if (x->too_large) {
        x->discarded += *upload_size;
        *upload_size = 0;
        return x->discarded > kDiscardBytes ? MHD_NO : MHD_YES;
      }
      x->req.body.append(upload, *upload_size);
      *upload_size = 0;
      return MHD_YES;
    }
    if (x->too_large) {
      self->h.refuse(x->req, 413, "request body too large (limit " + std::to_string(self->limits.max_body_bytes) + " bytes)",
                     x->res);
      return self->queue(c, x);
    }
    self->set_receiving(c, false);  // the whole request is in: no read deadline while answering
    self->h.handle(x->req, x->res);
    return self->queue(c, x);
  }

  static void completed(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode) {
    auto* self = static_cast<Impl*>(cls);
    auto* x = static_cast<Exchange*>(*con_cls);
    *con_cls = nullptr;
    self->set_receiving(c, true);  // the next request's read starts now
    if (x == nullptr) return;
    if (x->headers_seen && self->h.log) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - x->t0).count();
      self->h.log(x->req, x->res, ms);
    }
    if (x->res.on_close) x->res.on_close();  // a response that was never queued
    delete x;
  }
};

HttpServer::HttpServer(HttpLimits limits, HttpHandlers handlers) : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->h = std::move(handlers);
}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::serve(ListenSocket socket) {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.stop_requested) return {};
  }
  const int fd = socket.release();
  std::unique_lock<std::mutex> start_lock(m.mu);  // quiesce() sees the daemon whole or not at all
  const unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
  m.daemon = MHD_start_daemon(
      flags, 0, Impl::accept_policy, &m, Impl::access, &m,                                           //
      MHD_OPTION_LISTEN_SOCKET, fd,                                                                  //
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(m.limits.max_connections),                  //
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(m.limits.idle_seconds),                   //
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, m.limits.max_header_bytes + size_t{16 << 10},              //
      MHD_OPTION_NOTIFY_COMPLETED, Impl::completed, &m,                                              //
      MHD_OPTION_NOTIFY_CONNECTION, Impl::notify_connection, &m,                                     //
      MHD_OPTION_STRICT_FOR_CLIENT, 1,                                                               //
      MHD_OPTION_END);
  if (m.daemon == nullptr) {
    ::close(fd);
    return err(ErrorCode::kIo, "cannot start the HTTP server (libmicrohttpd)");
  }
  start_lock.unlock();
  std::thread dog([&m] { m.watchdog(); });
  {
    std::unique_lock<std::mutex> lock(m.mu);
    m.cv.wait(lock, [&] { return m.stop_requested; });
  }
  dog.join();
  MHD_stop_daemon(m.daemon);  // closes the socket and joins every connection thread
  std::lock_guard<std::mutex> lock(m.mu);
  m.daemon = nullptr;
  return {};
}

void HttpServer::quiesce() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  if (m.daemon == nullptr || m.stop_requested) return;
  const MHD_socket fd = MHD_quiesce_daemon(m.daemon);
  if (fd != MHD_INVALID_SOCKET) ::close(fd);
}

void HttpServer::stop() {
  Impl& m = *impl_;
  m.stopping.store(true);
  std::lock_guard<std::mutex> lock(m.mu);
  m.stop_requested = true;
  m.cv.notify_all();
}

}  // namespace herd::server::http
