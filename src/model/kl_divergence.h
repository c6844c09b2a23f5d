// llama-perplexity's KL-divergence mode, in llama.cpp's file format, so a base
// file written by either tool is read by the other:
//
//   herd perplexity -m BASE -f TEXT --kl-divergence-base FILE        (writes FILE)
//   herd perplexity -m OTHER --kl-divergence-base FILE --kl-divergence (reads it)
//
// The file (all little-endian):
//   "_logits_"                 8 bytes
//   n_ctx                      uint32
//   n_vocab, n_chunk           int32, int32
//   tokens                     n_chunk * n_ctx int32: the text's ids, BOS first
//                              (each chunk is evaluated with its first token
//                              replaced by BOS, as perplexity does)
//   per chunk, per scored position (n_ctx - 1 - n_ctx / 2 of them, the
//   positions perplexity scores), one row of log_prob_row_u16(n_vocab) uint16:
//     float scale, float min_log_prob   (the first 4 uint16)
//     q[n_vocab] uint16, padded to an even count
//   where, with m = max logit, lo = max(min logit, m - 24) and
//   lse = log(sum exp(logit - m)) (the sum in double, the log rounded to f32):
//     scale = (m - lo) / 65535, min_log_prob = lo - m - lse,
//     q_i = logit_i > lo ? round-to-nearest-even((logit_i - lo) / scale) : 0,
//   so log p_i ~ scale * q_i + min_log_prob (error <= scale / 2 above lo;
//   everything at or below lo, 24 nats under the top, reads as lo's).
//
// The statistics (KldStats), per scored position, against the base's decoded
// log-probs lb_i and the model's log-softmax l_i:
//   KLD = sum over i with lb_i > -16 of exp(lb_i) * (lb_i - l_i)
//   (KL(base || model), the terms under e^-16 skipped as llama.cpp skips them),
//   NLL and the base's NLL of the next token, dp = p(next) - p_base(next), and
//   whether the two argmaxes (first of equals) agree; reported as
//   llama-perplexity reports them (means with their uncertainty, percentiles).
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace herd::model {

// uint16 per row: 4 (two floats) + n_vocab rounded up to even.
int64_t log_prob_row_u16(int64_t n_vocab);

// One row of the file from a position's logits; returns the NLL of target as
// the row's writer computes it (m + lse - logit[target]).
double encode_log_probs(std::span<const float> logits, int32_t target, uint16_t* row);

// The base's log-prob of entry i of a row.
float decoded_log_prob(const uint16_t* row, int64_t i);

// Refuses a row no writer makes (a hostile or damaged file), so that every
// decoded log-prob is finite and at most a little above 0: scale in
// [0, 24 / 65535] and min_log_prob in [-(24 + ln n_vocab), 0], each with a
// margin of f32 rounding. `index`: the row's number in the file, for the message.
Status check_log_prob_row(const uint16_t* row, int64_t n_vocab, const std::string& path, int64_t index);

struct KldStats {
  int64_t count = 0;
  double sum_nll = 0, sum_nll2 = 0, sum_nll_base = 0, sum_nll_base2 = 0, sum_nll_nll_base = 0;
  double sum_kld = 0, sum_kld2 = 0;
  double sum_dp = 0, sum_dp2 = 0, sum_dp4 = 0;
  int64_t same_top = 0;
  std::vector<float> kld_values, dp_values;  // per position, for the percentiles

  // One scored position: the model's logits, the base's row, the next token.
  void add(std::span<const float> logits, const uint16_t* base_row, int32_t target);
};

// What the statistics mean, as llama-perplexity prints them (mean, uncertainty).
struct MeanUnc {
  double mean = 0, unc = 0;
};
MeanUnc mean_and_uncertainty(double sum, double sum2, int64_t count);

// The per-chunk line ("   1    12.3456 ±    0.1234 ...") and the final report
// ("====== Perplexity statistics ======" ... "Same top p: ..."), as
// llama-perplexity --kl-divergence prints them.
std::string kld_chunk_line(int64_t chunk, const KldStats& s);
std::string kld_chunk_header();
std::string kld_report(const KldStats& s);

// The header of a base file, checked against the model and the file's size.
struct LogProbFile {
  uint32_t n_ctx = 0;
  int32_t n_vocab = 0, n_chunk = 0;
  std::vector<int32_t> tokens;
  int64_t rows_per_chunk() const { return static_cast<int64_t>(n_ctx) - 1 - static_cast<int64_t>(n_ctx) / 2; }
};

// Writes the header (the first n_chunk * n_ctx tokens).
Status write_log_prob_header(std::FILE* f, const std::string& path, uint32_t n_ctx, int32_t n_vocab, int32_t n_chunk,
                             std::span<const int32_t> tokens);

// Reads and checks a header: magic, n_ctx >= 4, 1 <= n_chunk, n_vocab ==
// vocab, every token id in [0, vocab), and the file exactly as long as its
// rows need (a truncated or padded file is refused before anything is
// evaluated). Leaves f at the first row.
Result<LogProbFile> read_log_prob_header(std::FILE* f, const std::string& path, int64_t vocab);

}  // namespace herd::model
