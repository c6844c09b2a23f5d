// See progress.h.
#include "base/progress.h"

#include <signal.h>
#include <unistd.h>

namespace herd {
namespace {

std::atomic<bool> g_interrupted{false};

void on_sigint(int) {
  if (g_interrupted.exchange(true)) _exit(130);
}

std::string mib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(b) / (1 << 20));
  return buf;
}

}  // namespace

Progress::Progress(std::string label, uint64_t total, FILE* out, double quiet_s)
    : label_(std::move(label)), total_(total), out_(out), quiet_s_(quiet_s), t0_(std::chrono::steady_clock::now()),
      last_draw_(t0_) {
  tty_ = out_ != nullptr && isatty(fileno(out_)) != 0;
}

Progress::~Progress() {
  if (tty_ && drawn_ && !finished_) std::fputc('\n', out_);  // leave the partial line, end it
}

void Progress::set_total(uint64_t total) { total_.store(total); }

void Progress::add(uint64_t bytes) {
  done_.fetch_add(bytes);
  if (out_ == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  draw(false);
}

void Progress::finish() {
  if (finished_) return;
  if (out_ != nullptr) {
    std::lock_guard<std::mutex> lock(mu_);
    draw(true);
  }
  finished_ = true;
}

std::string Progress::line() const {
  const uint64_t done = done_.load(), total = total_.load();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  std::string out = label_ + " " + mib(done);
  if (total > 0) {
    char pct[64];
    std::snprintf(pct, sizeof pct, " / %s MiB %3d%%", mib(total).c_str(),
                  static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)));
    out += pct;
  } else {
    out += " MiB";
  }
  if (s > 0.05) {
    const double rate = static_cast<double>(done) / s;
    char buf[64];
    std::snprintf(buf, sizeof buf, "  %.1f MiB/s", rate / (1 << 20));
    out += buf;
    if (total > done && rate > 0) {
      std::snprintf(buf, sizeof buf, "  ETA %.0f s", static_cast<double>(total - done) / rate);
      out += buf;
    }
  }
  return out;
}

void Progress::draw(bool final) {
  const auto now = std::chrono::steady_clock::now();
  const uint64_t done = done_.load(), total = total_.load();
  const double s = std::chrono::duration<double>(now - t0_).count();
  if (s < quiet_s_) return;
  drawn_ = true;
  if (final) {
    std::fprintf(out_, "%s%s %s MiB done in %.1f s\n", tty_ ? "\r\033[K" : "", label_.c_str(), mib(done).c_str(), s);
    std::fflush(out_);
    return;
  }
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    std::fprintf(out_, "\r\033[K%s", line().c_str());
    std::fflush(out_);
    return;
  }
  if (total == 0 || s < 2.0) return;  // a short job: only its final line
  const int decile = static_cast<int>(10 * done / total);
  if (decile <= last_decile_ || decile >= 10) return;
  last_decile_ = decile;
  if (decile == 0) return;
  std::fprintf(out_, "%s\n", line().c_str());
  std::fflush(out_);
}

void catch_interrupts() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

bool interrupted() { return g_interrupted.load(); }

}  // namespace herd
