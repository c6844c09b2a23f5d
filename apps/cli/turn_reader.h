// TurnReader: the input side of `herd chat`, one user turn at a time.
//
// On a terminal the lines come from libedit (BSD-licensed, Debian's libedit-dev): emacs
// keys, Ctrl-R history search, ~/.editrc, and a history kept in a file (0600) across
// sessions. libedit rather than GNU readline because readline is GPL and herd is linked
// into other programs through its C API; rather than replxx because Debian 12 does not
// package it. When stdin is not a terminal, lines are plain reads (scripts, pipes, tests).
//
// Lines become turns the same way in both cases (TurnAssembler):
//   - a line that starts with `"""` opens a block that the next line ending in `"""`
//     closes (Ollama's multi-line input); the text between is one turn;
//   - a line that ends in `\` continues on the next line (llama-cli's continuation);
//   - on a terminal, lines that arrive in one burst (a paste) are one turn: when more
//     input is already waiting as a line ends, the next line joins the turn.
// The lines of a turn are joined with '\n'. A turn is at most kMaxTurnBytes.
//
// Ctrl-C: the caller's SIGINT handler sets `interrupt` and writes a byte to `wake_fd`;
// next() then returns kInterrupted and drops the partial turn.
//
// Thread safety: one thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

namespace herd::cli {

inline constexpr size_t kMaxTurnBytes = size_t{4} << 20;

// Pure line-to-turn logic (no I/O), unit-tested in turn_reader_test.cpp.
class TurnAssembler {
 public:
  enum class Fed { kTurn, kMore, kTooLong };
  // One line without its '\n'. `more_waiting`: input already arrived after it (a paste).
  Fed feed(std::string_view line, bool more_waiting);
  // After kTurn: the turn, and whether it was one plain line (so /commands apply).
  std::string take();
  bool single_line() const { return single_; }
  // Inside a `"""` block or after a `\` (the prompt shows continuation).
  bool continuing() const { return lines_ > 0; }
  void clear();

 private:
  void append(std::string_view segment);  // joins with '\n'; past the limit marks overflow
  Fed finish();
  std::string text_;
  int lines_ = 0;         // lines fed into this turn
  bool block_ = false;    // inside a """ block
  bool single_ = false;
  bool any_ = false;      // a segment was appended (the next one needs a '\n')
  bool overflow_ = false; // the turn outgrew kMaxTurnBytes: dropped when it ends
};

struct TurnReaderOptions {
  bool terminal = false;     // stdin is a terminal: use libedit
  std::string history_path;  // empty: no history file (on a terminal, history is kept in memory)
  int history_size = 1000;
  bool color = false;        // a colored prompt
};

class TurnReader {
 public:
  enum class Got { kTurn, kEof, kInterrupted };
  TurnReader(TurnReaderOptions opts, std::atomic<bool>* interrupt, int wake_fd);
  ~TurnReader();
  TurnReader(const TurnReader&) = delete;
  TurnReader& operator=(const TurnReader&) = delete;

  // The next turn; *single_line as TurnAssembler::single_line. Notes about dropped input
  // (too long) go to stdout.
  Got next(std::string* turn, bool* single_line);
  // Adds a turn to the history (and the file, when there is one).
  void remember(const std::string& turn);
  // Where the history is kept, for the banner ("" when nowhere).
  const std::string& history_path() const { return opts_.history_path; }

  struct Impl;

 private:
  TurnReaderOptions opts_;
  std::unique_ptr<Impl> impl_;
};

// $XDG_STATE_HOME/herd/chat_history, else ~/.local/state/herd/chat_history; "" without a home.
std::string default_history_path();

}  // namespace herd::cli
