// Progress of a long job (writing a model, loading one, and later quantize, convert,
// finetune) as the user sees it on stderr, and its cancellation by Ctrl-C.
//
// On a terminal one line is redrawn in place ("\r") at most ten times a second:
//   herd make-model: writing  312.0 / 1024.0 MiB  30%  85.1 MiB/s  ETA 8 s
// When stderr is not a terminal (a log, CI) a plain line is printed every 10% and
// at the end, so logs stay short. A null FILE* makes it silent (counting only).
//
// Cancellation: catch_interrupts() makes SIGINT set a flag instead of killing the
// process, so a writer can stop between tensors, remove its temporary file and
// return an error (a second SIGINT exits at once, 130). interrupted() reads the flag.
//
// Thread safety: add() may be called from any thread; the rest from one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace herd {

class Progress {
 public:
  // `label`: "herd make-model: writing"; `total` in bytes (0: unknown). Nothing is
  // printed before `quiet_s` seconds have passed (a fast load stays silent).
  Progress(std::string label, uint64_t total, FILE* out, double quiet_s = 0);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void add(uint64_t bytes);
  void set_total(uint64_t total);
  // Prints the final line ("... done in 3.2 s") once.
  void finish();
  uint64_t done() const { return done_.load(); }

  // The line as it would be printed now, for tests (no "\r").
  std::string line() const;

 private:
  void draw(bool final);
  std::string label_;
  std::atomic<uint64_t> total_;
  std::atomic<uint64_t> done_{0};
  FILE* out_;
  bool tty_ = false;
  bool finished_ = false;
  bool drawn_ = false;
  double quiet_s_ = 0;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point t0_, last_draw_;
  std::mutex mu_;
};

// SIGINT sets the flag interrupted() reports (a second SIGINT exits with 130).
void catch_interrupts();
bool interrupted();

}  // namespace herd
