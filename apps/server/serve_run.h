// Internal to apps/server: serves a run (ChatRun, CompletionRun) through
// httplib's chunked content provider.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <httplib.h>

#include "generation.h"
#include "sse.h"

namespace herd::server {

// Shared by the chat and completion routes: serves a run through httplib's
// chunked content provider. Stream mode writes SSE as events arrive; JSON mode
// writes the body at the end, and a space every 2 s while waiting (JSON allows
// leading whitespace) so a client that went away is noticed and cancelled.
template <typename Run>
void serve_run(httplib::Response& res, std::shared_ptr<Run> run) {
  auto idle = std::make_shared<int>(0);
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      run->stream() ? "text/event-stream" : "application/json",
      [run, idle](size_t, httplib::DataSink& sink) {
        std::string out;
        GenEvent ev;
        if (run->set().next(ev, std::chrono::milliseconds(200))) {
          *idle = 0;
          run->on_event(ev, &out);
          while (!run->finished() && run->set().next(ev, std::chrono::milliseconds(0))) run->on_event(ev, &out);
        } else if (++*idle % 10 == 0) {
          out = run->stream() ? sse_comment("keep-alive") : " ";
        }
        if (run->finished() && !run->stream()) out += run->body();
        if (!out.empty() && !sink.write(out.data(), out.size())) return false;  // client gone
        if (run->finished()) sink.done();
        return true;
      },
      [run](bool) {
        if (!run->finished()) run->set().cancel_all();
      });
}

}  // namespace herd::server
