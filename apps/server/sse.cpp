// See sse.h.
#include "sse.h"

namespace herd::server {

std::string sse_data(const nlohmann::json& chunk) {
  // dump() escapes newlines, so one data: line holds the whole event; invalid
  // UTF-8 (never expected from the decoder) is replaced rather than thrown on.
  return "data: " + chunk.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

std::string sse_done() { return "data: [DONE]\n\n"; }

std::string sse_comment(const std::string& text) { return ": " + text + "\n\n"; }

}  // namespace herd::server
