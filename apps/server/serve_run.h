// Internal to apps/server: serves a run (ChatRun, CompletionRun, OllamaRun) as a
// streamed response (http.h). A run has stream(), framing(), set(), on_event(),
// finished(), body() (the whole JSON when not streaming), and prompt_tokens() and
// generated_tokens() for the request's log line.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "http.h"

#include "generation.h"
#include "sse.h"

namespace herd::server {

// How a run's stream is framed: its media type, and what is written while waiting
// so that a client that went away is noticed (and its requests cancelled).
struct StreamFraming {
  const char* content_type;
  std::string keep_alive;
};

// OpenAI's: SSE comments when streaming; otherwise spaces before the JSON body (JSON
// allows leading whitespace).
inline StreamFraming openai_framing(bool stream) {
  return stream ? StreamFraming{"text/event-stream", sse_comment("keep-alive")} : StreamFraming{"application/json", " "};
}

// A Run also gives log_extra(): words for the request's log line after the
// token counts (" guard=..." when a shield withheld a reply; empty otherwise).
// Shared by the chat and completion routes: serves a run as a streamed response. Stream mode writes SSE as events arrive; JSON mode
// writes the body at the end, and a space every 2 s while waiting (JSON allows
// leading whitespace) so a client that went away is noticed and cancelled.
// `end_now` (the server's shutdown deadline passed) cancels the run's requests once:
// the engine then reports them done, and the run writes its last event (finish
// reason, usage, [DONE] or Ollama's done record), so a client sees a whole response.
template <typename Run>
void serve_run(http::Response& res, std::shared_ptr<Run> run, const std::atomic<bool>& end_now) {
  auto idle = std::make_shared<int>(0);
  auto ended = std::make_shared<bool>(false);
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  StreamFraming framing = run->framing();
  auto note = std::make_shared<std::string>();
  res.log_note = note;
  res.set_stream(
      framing.content_type,
      [run, idle, note, ended, &end_now, keep_alive = framing.keep_alive](std::string* out, bool* done) {
        if (!*ended && end_now.load()) {
          *ended = true;
          run->set().cancel_all();
        }
        GenEvent ev;
        if (run->set().next(ev, std::chrono::milliseconds(200))) {
          *idle = 0;
          run->on_event(ev, out);
          while (!run->finished() && run->set().next(ev, std::chrono::milliseconds(0))) run->on_event(ev, out);
        } else if (++*idle % 10 == 0) {
          *out = keep_alive;
        }
        if (run->finished() && !run->stream()) *out += run->body();
        if (run->finished()) *note = "prompt=" + std::to_string(run->prompt_tokens()) +
                                     " gen=" + std::to_string(run->generated_tokens()) + run->log_extra();
        *done = run->finished();
        return true;
      },
      [run] {
        if (!run->finished()) run->set().cancel_all();  // the client went away, or the server stops
      });
}

}  // namespace herd::server
