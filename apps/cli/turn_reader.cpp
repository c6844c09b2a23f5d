// See turn_reader.h.
#include "turn_reader.h"

#include <fcntl.h>
#include <histedit.h>
#include <langinfo.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace herd::cli {

// ---- TurnAssembler ---------------------------------------------------------------

namespace {
constexpr std::string_view kFence = "\"\"\"";
// A history entry larger than this is not kept (a pasted document would swamp the file).
constexpr size_t kMaxHistoryEntry = size_t{64} << 10;
// How long a line's end waits for more input to call it a paste.
constexpr int kPasteWaitMs = 25;
}  // namespace

void TurnAssembler::clear() {
  text_.clear();
  lines_ = 0;
  block_ = false;
  single_ = false;
  any_ = false;
  overflow_ = false;
}

void TurnAssembler::append(std::string_view segment) {
  if (overflow_) return;
  if (text_.size() + segment.size() + 1 > kMaxTurnBytes) {
    overflow_ = true;
    return;
  }
  if (any_) text_ += '\n';
  text_.append(segment);
  any_ = true;
}

TurnAssembler::Fed TurnAssembler::finish() {
  single_ = lines_ == 1 && !block_;
  if (overflow_) {
    clear();
    return Fed::kTooLong;
  }
  return Fed::kTurn;
}

TurnAssembler::Fed TurnAssembler::feed(std::string_view line, bool more_waiting) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!block_ && lines_ == 0 && line.starts_with(kFence)) {
    block_ = true;
    ++lines_;
    line.remove_prefix(kFence.size());
    if (line.size() >= kFence.size() && line.ends_with(kFence)) {
      append(line.substr(0, line.size() - kFence.size()));
      return finish();
    }
    if (!line.empty()) append(line);
    return Fed::kMore;
  }
  ++lines_;
  if (block_) {
    if (line.ends_with(kFence)) {
      line.remove_suffix(kFence.size());
      if (!line.empty()) append(line);
      return finish();
    }
    append(line);
    return Fed::kMore;
  }
  if (line.ends_with('\\')) {
    append(line.substr(0, line.size() - 1));
    return Fed::kMore;
  }
  append(line);
  return more_waiting ? Fed::kMore : finish();
}

std::string TurnAssembler::take() {
  std::string t = std::move(text_);
  const bool single = single_;
  clear();
  single_ = single;
  return t;
}

// ---- line sources ----------------------------------------------------------------

namespace {

void drain(int fd) {
  char tmp[64];
  while (read(fd, tmp, sizeof tmp) > 0) {
  }
}

// Waits for stdin or the wake pipe; false when interrupted.
bool wait_input(std::atomic<bool>* interrupt, int wake_fd) {
  for (;;) {
    if (interrupt->load()) return false;
    struct pollfd fds[2] = {{0, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;  // EINTR: the flag or the pipe tells
    if (fds[1].revents) {
      drain(wake_fd);
      continue;
    }
    return true;
  }
}

bool input_waiting(int timeout_ms) {
  struct pollfd fd = {0, POLLIN, 0};
  return poll(&fd, 1, timeout_ms) > 0 && (fd.revents & POLLIN);
}

}  // namespace

struct TurnReader::Impl {
  enum class Line { kLine, kEof, kInterrupted };
  std::atomic<bool>* interrupt = nullptr;
  int wake_fd = -1;

  // Plain reads (stdin not a terminal).
  std::string buf;
  bool eof = false;
  bool skipping = false;  // a line longer than the limit: dropping it up to its '\n'

  // libedit (a terminal).
  EditLine* el = nullptr;
  History* hist = nullptr;
  std::string prompt;
  bool more_waiting = false;  // input was waiting when the last line ended

  Line plain_line(std::string* line) {
    for (;;) {
      if (size_t nl = buf.find('\n'); nl != std::string::npos) {
        if (skipping) {
          buf.erase(0, nl + 1);
          skipping = false;
          continue;
        }
        *line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return Line::kLine;
      }
      if (buf.size() > kMaxTurnBytes) {  // hand on an over-long line once, drop its rest
        if (!skipping) *line = buf;
        buf.clear();
        if (!skipping) {
          skipping = true;
          return Line::kLine;
        }
      }
      if (eof) {
        if (buf.empty()) return Line::kEof;
        *line = std::move(buf);
        buf.clear();
        return Line::kLine;
      }
      if (!wait_input(interrupt, wake_fd)) return Line::kInterrupted;
      char tmp[4096];
      ssize_t n = read(0, tmp, sizeof tmp);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        eof = true;
        continue;
      }
      buf.append(tmp, static_cast<size_t>(n));
    }
  }

  // libedit's character source: waits on stdin and the wake pipe (so Ctrl-C ends the
  // read however it races with the prompt) and decodes UTF-8 itself.
  static int read_char(EditLine* el, wchar_t* out) {
    Impl* self = nullptr;
    el_get(el, EL_CLIENTDATA, &self);
    uint32_t cp = 0;
    int need = 0;
    for (;;) {
      if (!wait_input(self->interrupt, self->wake_fd)) {
        errno = EINTR;
        return -1;
      }
      unsigned char c = 0;
      const ssize_t n = read(0, &c, 1);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) return -1;
      if (n == 0) return 0;
      if (need > 0 && (c & 0xC0) == 0x80) {
        cp = (cp << 6) | (c & 0x3F);
        if (--need > 0) continue;
      } else if (c < 0x80) {
        cp = c;
      } else if ((c & 0xE0) == 0xC0) {
        cp = c & 0x1F, need = 1;
        continue;
      } else if ((c & 0xF0) == 0xE0) {
        cp = c & 0x0F, need = 2;
        continue;
      } else if ((c & 0xF8) == 0xF0) {
        cp = c & 0x07, need = 3;
        continue;
      } else {
        cp = 0xFFFD;  // a stray continuation or invalid lead byte
      }
      *out = static_cast<wchar_t>(cp);
      if (cp == '\n' || cp == '\r') self->more_waiting = input_waiting(kPasteWaitMs);
      return 1;
    }
  }

  static const char* prompt_of(EditLine* el) {
    Impl* self = nullptr;
    el_get(el, EL_CLIENTDATA, &self);
    return self->prompt.c_str();
  }

  Line edited_line(std::string* line, bool* waiting) {
    more_waiting = false;
    int count = 0;
    const char* got = el_gets(el, &count);
    if (interrupt->load()) return Line::kInterrupted;  // el_gets hands back the partial line
    if (got == nullptr || count <= 0) return Line::kEof;
    line->assign(got, static_cast<size_t>(count));
    if (!line->empty() && line->back() == '\n') line->pop_back();
    *waiting = more_waiting;
    return Line::kLine;
  }
};

namespace {

// libedit converts the wide characters read_char returns back to the locale's
// multibyte encoding: make that UTF-8 whatever the environment says.
void ensure_utf8_ctype() {
  if (!std::setlocale(LC_CTYPE, "") || std::strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
    std::setlocale(LC_CTYPE, "C.UTF-8");
}

void make_parent_dirs(const std::string& path) {
  for (size_t i = 1; i < path.size(); ++i)
    if (path[i] == '/') mkdir(path.substr(0, i).c_str(), 0700);
}

}  // namespace

std::string default_history_path() {
  const char* state = std::getenv("XDG_STATE_HOME");
  if (state && state[0] == '/') return std::string(state) + "/herd/chat_history";
  const char* home = std::getenv("HOME");
  if (home && home[0] == '/') return std::string(home) + "/.local/state/herd/chat_history";
  return "";
}

TurnReader::TurnReader(TurnReaderOptions opts, std::atomic<bool>* interrupt, int wake_fd)
    : opts_(std::move(opts)), impl_(std::make_unique<Impl>()) {
  impl_->interrupt = interrupt;
  impl_->wake_fd = wake_fd;
  if (!opts_.terminal) return;
  ensure_utf8_ctype();
  impl_->el = el_init("herd", stdin, stdout, stderr);
  impl_->hist = history_init();
  HistEvent ev;
  history(impl_->hist, &ev, H_SETSIZE, opts_.history_size);
  history(impl_->hist, &ev, H_SETUNIQUE, 1);
  if (!opts_.history_path.empty()) history(impl_->hist, &ev, H_LOAD, opts_.history_path.c_str());
  EditLine* el = impl_->el;
  el_set(el, EL_CLIENTDATA, impl_.get());
  el_set(el, EL_EDITOR, "emacs");
  el_set(el, EL_HIST, history, impl_->hist);
  el_set(el, EL_GETCFN, &Impl::read_char);
  el_set(el, EL_PROMPT_ESC, &Impl::prompt_of, '\1');
  el_set(el, EL_BIND, "^R", "em-inc-search-prev", nullptr);  // as in bash
  el_source(el, nullptr);  // the user's ~/.editrc, as every libedit program reads it
}

TurnReader::~TurnReader() {
  if (impl_->el) el_end(impl_->el);
  if (impl_->hist) history_end(impl_->hist);
}

TurnReader::Got TurnReader::next(std::string* turn, bool* single_line) {
  TurnAssembler assembler;
  for (;;) {
    std::string line;
    bool waiting = false;
    Impl::Line got;
    if (impl_->el) {
      const char* p = assembler.continuing() ? "... " : "> ";
      // Colored: the prompt and the user's text in bold green (as llama-cli's --color colors
      // input), reset when the line ends.
      impl_->prompt = opts_.color ? std::string("\1\033[1;32m\1") + p : p;
      got = impl_->edited_line(&line, &waiting);
      if (opts_.color) {
        std::fputs("\033[0m", stdout);
        std::fflush(stdout);
      }
    } else {
      got = impl_->plain_line(&line);
    }
    if (got == Impl::Line::kInterrupted) return Got::kInterrupted;
    if (got == Impl::Line::kEof) {
      // End of input inside a block or after a '\': the text so far is still a turn.
      if (!assembler.continuing()) return Got::kEof;
      *turn = assembler.take();
      *single_line = false;
      if (turn->empty()) return Got::kEof;
      return Got::kTurn;
    }
    switch (assembler.feed(line, waiting)) {
      case TurnAssembler::Fed::kTurn:
        *single_line = assembler.single_line();
        *turn = assembler.take();
        return Got::kTurn;
      case TurnAssembler::Fed::kMore:
        break;
      case TurnAssembler::Fed::kTooLong:
        std::printf("[input dropped: a turn is at most %zu MiB]\n", kMaxTurnBytes >> 20);
        std::fflush(stdout);
        break;
    }
  }
}

void TurnReader::remember(const std::string& turn) {
  if (!impl_->hist || turn.empty() || turn.size() > kMaxHistoryEntry) return;
  HistEvent ev;
  history(impl_->hist, &ev, H_ENTER, turn.c_str());
  if (opts_.history_path.empty()) return;
  // Written whole to a private temporary, then renamed: a crash never truncates it,
  // and the conversation's text is readable by this user only.
  make_parent_dirs(opts_.history_path);
  const std::string tmp = opts_.history_path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  FILE* f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return;
  }
  const bool ok = history(impl_->hist, &ev, H_SAVE_FP, f) >= 0;
  if (std::fclose(f) == 0 && ok) std::rename(tmp.c_str(), opts_.history_path.c_str());
  else std::remove(tmp.c_str());
}

}  // namespace herd::cli
