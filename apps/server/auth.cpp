// See auth.h.
#include "auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>

namespace herd::server {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Compare over the longer length so a prefix of the key takes as long as a wrong key.
  const size_t n = std::max(a.size(), b.size());
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

std::string bearer_token(std::string_view h) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (h.size() <= kPrefix.size()) return "";
  for (size_t i = 0; i < kPrefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != std::tolower(static_cast<unsigned char>(kPrefix[i]))) return "";
  std::string_view k = h.substr(kPrefix.size());
  while (!k.empty() && k.front() == ' ') k.remove_prefix(1);
  while (!k.empty() && (k.back() == ' ' || k.back() == '\r')) k.remove_suffix(1);
  return std::string(k);
}

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A Host header value ("name", "name:port", "[v6]", "[v6]:port") -> the host part,
// lower case, without a trailing dot; "" when the value is not of that form (then it
// matches nothing). Anything after the host other than ":digits" is refused, so
// "[::1].evil.example" or "127.0.0.1.evil.example:80" cannot pass as loopback.
std::string host_name(std::string_view h) {
  std::string_view host, rest;
  if (!h.empty() && h.front() == '[') {
    const size_t close = h.find(']');
    if (close == std::string_view::npos) return "";
    host = h.substr(0, close + 1);
    rest = h.substr(close + 1);
  } else {
    const size_t colon = h.find(':');
    host = h.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : h.substr(colon);
  }
  if (!rest.empty() && !(rest.front() == ':' && rest.size() <= 6 && all_digits(rest.substr(1)))) return "";
  std::string s(host);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// An IPv4 literal in dotted-quad form (inet_pton's strict syntax) in 127.0.0.0/8.
bool is_loopback_v4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

// An IPv6 literal (with or without brackets) that is ::1 or an IPv4-mapped 127/8.
bool is_loopback_v6(std::string s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  in6_addr a{};
  if (inet_pton(AF_INET6, s.c_str(), &a) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
  return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
}

}  // namespace

bool is_loopback_name(std::string_view host) {
  std::string h(host);
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!h.empty() && h.back() == '.') h.pop_back();
  if (h == "localhost") return true;
  // RFC 6761: names under .localhost resolve to loopback (browsers do so themselves).
  if (h.size() > 10 && h.compare(h.size() - 10, 10, ".localhost") == 0) {
    const std::string label = h.substr(0, h.size() - 10);
    return std::all_of(label.begin(), label.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'; });
  }
  return is_loopback_v4(h) || is_loopback_v6(h);
}

bool host_allowed(std::string_view host_header, std::string_view bind_host, const std::vector<std::string>& extra) {
  const std::string name = host_name(host_header);
  if (name.empty()) return false;
  for (const std::string& e : extra)
    if (name == host_name(e)) return true;
  if (is_loopback_name(bind_host)) return is_loopback_name(name);
  return extra.empty();
}

}  // namespace herd::server
