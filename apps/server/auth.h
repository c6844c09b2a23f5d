// Request guards: the API key (compared in constant time), the Host-header
// check against DNS rebinding, and CORS (off unless --cors ORIGIN).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herd::server {

// Equal without an early exit on the first differing byte (the time depends
// only on the lengths).
bool constant_time_equal(std::string_view a, std::string_view b);

// The key from "Authorization: Bearer KEY" (or "" if absent / malformed).
std::string bearer_token(std::string_view authorization);

// Whether a Host header value may reach a server bound to bind_host. A server
// bound to a loopback address answers only Host names that are loopback too
// (localhost, *.localhost, an IPv4 literal in 127/8, [::1]; literals are parsed as
// addresses, never matched as text prefixes) or listed in extra; a server bound
// elsewhere accepts any Host unless extra is non-empty. A malformed value (anything
// after the host but ":port", an unclosed '[') is refused.
bool host_allowed(std::string_view host_header, std::string_view bind_host, const std::vector<std::string>& extra);

// "localhost", a name under .localhost, or an IPv4/IPv6 loopback literal.
bool is_loopback_name(std::string_view host);

}  // namespace herd::server
