// See auth.h.
#include "auth.h"

#include <algorithm>

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

// "name:port" / "[v6]:port" -> the name, lower case.
std::string host_name(std::string_view h) {
  std::string s;
  if (!h.empty() && h.front() == '[') {
    const size_t close = h.find(']');
    s = std::string(h.substr(0, close == std::string_view::npos ? h.size() : close + 1));
  } else {
    s = std::string(h.substr(0, h.find(':')));
  }
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

bool is_loopback_name(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0 ||
         (host.size() > 10 && host.substr(host.size() - 10) == ".localhost");
}

bool host_allowed(std::string_view host_header, std::string_view bind_host, const std::vector<std::string>& extra) {
  const std::string name = host_name(host_header);
  for (const std::string& e : extra)
    if (name == host_name(e)) return true;
  if (is_loopback_name(bind_host)) return is_loopback_name(name);
  return extra.empty();
}

}  // namespace herd::server
