// Server-Sent Events framing for OpenAI streams: "data: {json}\n\n" per chunk,
// "data: [DONE]\n\n" at the end, ": keep-alive\n\n" comments while waiting.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace herd::server {

std::string sse_data(const nlohmann::json& chunk);
std::string sse_done();
std::string sse_comment(const std::string& text);

}  // namespace herd::server
