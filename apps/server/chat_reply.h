// Internal to apps/server: one chat reply as it streams, shared by the OpenAI and
// Ollama chat routes. Token ids become visible text (UTF-8 reassembled, stop strings
// held back while partial: ChoiceText), and, when tools are active, that text is split
// into content and tool-call deltas (chat::ToolCallStream). The routes only frame it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "chat/tool_call_stream.h"
#include "generation.h"

namespace herd::server {

class ChatReply {
 public:
  ChatReply(const tokenizer::Tokenizer& tok, std::vector<std::string> stops, bool tools, int max_calls)
      : text_(tok, std::move(stops)), tools_(tools), calls_stream_(max_calls) {}

  // What becomes visible after token `id` (content and call deltas).
  chat::StreamStep push(int32_t id) {
    std::string piece = text_.push(id);
    chat::StreamStep st;
    if (tools_) st = calls_stream_.push(piece);
    else st.content = std::move(piece);
    content_ += st.content;
    return st;
  }
  // The rest after the last token; the reply's tool calls are then calls().
  chat::StreamStep finish() {
    std::string rest = text_.finish();
    chat::StreamStep st;
    if (tools_) {
      st = calls_stream_.push(rest);
      chat::ToolCallStream::Final fin = calls_stream_.finish();
      st.content += fin.rest.content;
      st.deltas.insert(st.deltas.end(), fin.rest.deltas.begin(), fin.rest.deltas.end());
      calls_ = std::move(fin.calls);
    } else {
      st.content = std::move(rest);
    }
    content_ += st.content;
    return st;
  }
  // A stop string ended the reply (the engine request should be cancelled).
  bool stopped() const { return text_.stopped(); }
  const std::string& content() const { return content_; }
  std::vector<chat::ToolCall>& calls() { return calls_; }

 private:
  ChoiceText text_;
  bool tools_;
  chat::ToolCallStream calls_stream_;
  std::string content_;
  std::vector<chat::ToolCall> calls_;
};

}  // namespace herd::server
