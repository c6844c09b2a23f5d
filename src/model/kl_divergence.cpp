// The KL-divergence base file and statistics (kl_divergence.h).
#include "model/kl_divergence.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <sys/stat.h>

namespace herd::model {

namespace {

constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

// m, the first index of m, and log(sum exp(logit - m)) with the sum in double.
struct Softmax {
  float max = 0;
  int64_t argmax = 0;
  double lse = 0;
};
Softmax softmax_of(std::span<const float> logits) {
  Softmax s;
  s.max = logits[0];
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > s.max) {
      s.max = logits[i];
      s.argmax = static_cast<int64_t>(i);
    }
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - s.max);
  s.lse = std::log(sum);
  return s;
}

float row_float(const uint16_t* row, int k) {
  float v;
  std::memcpy(&v, row + 2 * k, sizeof v);
  return v;
}

// The value at `fraction` of sorted values, interpolated between neighbours.
double percentile(const std::vector<float>& sorted, double fraction) {
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  const double p = fraction * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(p);
  const double f = p - static_cast<double>(i);
  return (1 - f) * sorted[i] + f * sorted[std::min(i + 1, sorted.size() - 1)];
}

double median(const std::vector<float>& sorted) {
  const size_t n = sorted.size();
  return n % 2 == 0 ? 0.5 * (static_cast<double>(sorted[n / 2]) + sorted[n / 2 - 1]) : sorted[n / 2];
}

double covariance(double sum_a, double sum_b, double sum_ab, int64_t count) {
  if (count < 10) return 0;
  const double n = static_cast<double>(count);
  return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1);
}

}  // namespace

int64_t log_prob_row_u16(int64_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }

double encode_log_probs(std::span<const float> logits, int32_t target, uint16_t* row) {
  const Softmax s = softmax_of(logits);
  float lo = logits[0];
  for (float v : logits) lo = std::min(lo, v);
  lo = std::max(lo, s.max - 24.0f);
  const float scale = (s.max - lo) / 65535.0f;
  const float min_log_prob = static_cast<float>(lo - s.max - s.lse);
  std::memcpy(row, &scale, sizeof scale);
  std::memcpy(row + 2, &min_log_prob, sizeof min_log_prob);
  uint16_t* q = row + 4;
  const int64_t n = log_prob_row_u16(static_cast<int64_t>(logits.size())) - 4;
  std::fill(q, q + n, uint16_t{0});
  if (scale > 0) {
    const float inv = 1.0f / scale;
    for (size_t i = 0; i < logits.size(); ++i)
      if (logits[i] > lo) q[i] = static_cast<uint16_t>(std::min(65535.0f, std::nearbyint(inv * (logits[i] - lo))));
  }
  return s.max + s.lse - logits[static_cast<size_t>(target)];
}

float decoded_log_prob(const uint16_t* row, int64_t i) { return row_float(row, 0) * row[4 + i] + row_float(row, 1); }

Status check_log_prob_row(const uint16_t* row, int64_t n_vocab, const std::string& path, int64_t index) {
  const float scale = row_float(row, 0), min_log_prob = row_float(row, 1);
  const float floor = -(24.0f + std::log(static_cast<float>(n_vocab))) * (1 + 1e-5f) - 1e-5f;
  if (!(scale >= 0 && scale <= 24.0f / 65535 * (1 + 1e-5f)) || !(min_log_prob >= floor && min_log_prob <= 1e-5f))
    return err(ErrorCode::kCorrupt, "%s: row %lld has scale %g and minimum log-prob %g, which no writer gives",
               path.c_str(), static_cast<long long>(index), static_cast<double>(scale), static_cast<double>(min_log_prob));
  return Ok{};
}

void KldStats::add(std::span<const float> logits, const uint16_t* base_row, int32_t target) {
  const Softmax s = softmax_of(logits);
  const double norm = s.max + s.lse;  // log p_i = logit_i - norm
  const double nll = norm - logits[static_cast<size_t>(target)];
  const double nll_base = -static_cast<double>(decoded_log_prob(base_row, target));
  double kld = 0;
  int64_t argmax_base = 0;
  float best = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float lb = decoded_log_prob(base_row, static_cast<int64_t>(i));
    if (i == 0 || lb > best) {
      best = lb;
      argmax_base = static_cast<int64_t>(i);
    }
    if (lb > -16.0f) kld += std::exp(static_cast<double>(lb)) * (lb - (logits[i] - norm));
  }
  const double dp = std::exp(-nll) - std::exp(-nll_base);
  ++count;
  sum_nll += nll;
  sum_nll2 += nll * nll;
  sum_nll_base += nll_base;
  sum_nll_base2 += nll_base * nll_base;
  sum_nll_nll_base += nll * nll_base;
  sum_kld += kld;
  sum_kld2 += kld * kld;
  sum_dp += dp;
  sum_dp2 += dp * dp;
  sum_dp4 += dp * dp * dp * dp;
  if (s.argmax == argmax_base) ++same_top;
  kld_values.push_back(static_cast<float>(kld));
  dp_values.push_back(static_cast<float>(dp));
}

MeanUnc mean_and_uncertainty(double sum, double sum2, int64_t count) {
  if (count < 1) return {};
  const double n = static_cast<double>(count);
  const double f = sum / n, var = sum2 / n - f * f;
  return {f, var > 0 && count > 10 ? std::sqrt(var / (n - 1)) : 0.0};
}

std::string kld_chunk_header() {
  return "\nchunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              "
         "\u0394p RMS            Same top p\n";
}

std::string kld_chunk_line(int64_t chunk, const KldStats& s) {
  const MeanUnc lp = mean_and_uncertainty(s.sum_nll, s.sum_nll2, s.count);
  const MeanUnc lb = mean_and_uncertainty(s.sum_nll_base, s.sum_nll_base2, s.count);
  const double cov = covariance(s.sum_nll, s.sum_nll_base, s.sum_nll_nll_base, s.count);
  const double ppl = std::exp(lp.mean);
  const MeanUnc kl = mean_and_uncertainty(s.sum_kld, s.sum_kld2, s.count);
  const MeanUnc mse = mean_and_uncertainty(s.sum_dp2, s.sum_dp4, s.count);
  const double rms = std::sqrt(mse.mean), rms_unc = rms > 0 ? 0.5 / rms * mse.unc : 0;
  const double top = static_cast<double>(s.same_top) / static_cast<double>(s.count);
  const double top_unc = s.count > 1 ? std::sqrt(top * (1 - top) / static_cast<double>(s.count - 1)) : 0;
  std::string out = str_printf("%4lld", static_cast<long long>(chunk));
  out += str_printf("    %9.4lf \u00b1 %9.4lf", ppl, ppl * lp.unc);
  out += str_printf("    %10.5lf \u00b1 %10.5lf", lp.mean - lb.mean,
                std::sqrt(std::max(0.0, lp.unc * lp.unc + lb.unc * lb.unc - 2 * cov)));
  out += str_printf("    %10.5lf \u00b1 %10.5lf", kl.mean, kl.unc);
  out += str_printf("    %6.3lf \u00b1 %6.3lf %%", 100 * rms, 100 * rms_unc);
  out += str_printf("    %6.3lf \u00b1 %6.3lf %%", 100 * top, 100 * top_unc);
  return out + "\n";
}

std::string kld_report(const KldStats& s) {
  if (s.count < 100) return "";  // as llama-perplexity: no statistics on so few values
  std::vector<float> kld = s.kld_values, dp = s.dp_values;
  std::sort(kld.begin(), kld.end());
  std::sort(dp.begin(), dp.end());
  const MeanUnc lp = mean_and_uncertainty(s.sum_nll, s.sum_nll2, s.count);
  const MeanUnc lb = mean_and_uncertainty(s.sum_nll_base, s.sum_nll_base2, s.count);
  const double ppl = std::exp(lp.mean), ppl_unc = ppl * lp.unc;
  const double ppl_base = std::exp(lb.mean), ppl_base_unc = ppl_base * lb.unc;
  const double cov = covariance(s.sum_nll, s.sum_nll_base, s.sum_nll_nll_base, s.count);
  const double cor = lp.unc > 0 && lb.unc > 0 ? cov / (lp.unc * lb.unc) : 0;
  const double ratio = lp.mean - lb.mean;
  const double ratio_unc = std::sqrt(std::max(0.0, lp.unc * lp.unc + lb.unc * lb.unc - 2 * cov));
  const double ppl_cov = ppl * ppl_base * cov;
  std::string o = "====== Perplexity statistics ======\n";
  o += str_printf("Mean PPL(Q)                   : %10.6lf \u00b1 %10.6lf\n", ppl, ppl_unc);
  o += str_printf("Mean PPL(base)                : %10.6lf \u00b1 %10.6lf\n", ppl_base, ppl_base_unc);
  o += str_printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2lf%%\n", 100 * cor);
  o += str_printf("Mean ln(PPL(Q)/PPL(base))     : %10.6lf \u00b1 %10.6lf\n", ratio, ratio_unc);
  o += str_printf("Mean PPL(Q)/PPL(base)         : %10.6lf \u00b1 %10.6lf\n", std::exp(ratio), std::exp(ratio) * ratio_unc);
  o += str_printf("Mean PPL(Q)-PPL(base)         : %10.6lf \u00b1 %10.6lf\n", ppl - ppl_base,
              std::sqrt(std::max(0.0, ppl_unc * ppl_unc + ppl_base_unc * ppl_base_unc - 2 * ppl_cov)));
  o += "\n====== KL divergence statistics ======\n";
  const MeanUnc kl = mean_and_uncertainty(s.sum_kld, s.sum_kld2, s.count);
  o += str_printf("Mean    KLD: %10.6lf \u00b1 %10.6lf\n", kl.mean, kl.unc);
  o += str_printf("Maximum KLD: %10.6f\n", static_cast<double>(kld.back()));
  const struct {
    const char* label;
    double f;
  } kld_at[] = {{"99.9%", 0.999}, {"99.0%", 0.990}, {"95.0%", 0.950}, {"90.0%", 0.900}};
  for (const auto& q : kld_at) o += str_printf("%-8sKLD: %10.6f\n", q.label, percentile(kld, q.f));
  o += str_printf("Median  KLD: %10.6f\n", median(kld));
  const struct {
    const char* label;
    double f;
  } kld_low[] = {{"10.0%", 0.100}, {" 5.0%", 0.050}, {" 1.0%", 0.010}, {" 0.1%", 0.001}};
  for (const auto& q : kld_low) o += str_printf("%-8sKLD: %10.6f\n", q.label, percentile(kld, q.f));
  o += str_printf("Minimum KLD: %10.6f\n", static_cast<double>(kld.front()));
  o += "\n====== Token probability statistics ======\n";
  const MeanUnc d = mean_and_uncertainty(s.sum_dp, s.sum_dp2, s.count);
  o += str_printf("Mean    \u0394p: %6.3lf \u00b1 %5.3lf %%\n", 100 * d.mean, 100 * d.unc);
  o += str_printf("Maximum \u0394p: %6.3lf%%\n", 100.0 * dp.back());
  const struct {
    const char* label;
    double f;
  } dp_high[] = {{"99.9%", 0.999}, {"99.0%", 0.990}, {"95.0%", 0.950}, {"90.0%", 0.900}, {"75.0%", 0.750}};
  for (const auto& q : dp_high) o += str_printf("%-8s\u0394p: %6.3lf%%\n", q.label, 100 * percentile(dp, q.f));
  o += str_printf("Median  \u0394p: %6.3lf%%\n", 100 * median(dp));
  const struct {
    const char* label;
    double f;
  } dp_low[] = {{"25.0%", 0.250}, {"10.0%", 0.100}, {" 5.0%", 0.050}, {" 1.0%", 0.010}, {" 0.1%", 0.001}};
  for (const auto& q : dp_low) o += str_printf("%-8s\u0394p: %6.3lf%%\n", q.label, 100 * percentile(dp, q.f));
  o += str_printf("Minimum \u0394p: %6.3lf%%\n", 100.0 * dp.front());
  const MeanUnc mse = mean_and_uncertainty(s.sum_dp2, s.sum_dp4, s.count);
  const double rms = std::sqrt(mse.mean);
  o += str_printf("RMS \u0394p    : %6.3lf \u00b1 %5.3lf %%\n", 100 * rms, rms > 0 ? 100 * 0.5 / rms * mse.unc : 0.0);
  const double top = static_cast<double>(s.same_top) / static_cast<double>(s.count);
  o += str_printf("Same top p: %6.3lf \u00b1 %5.3lf %%\n", 100 * top,
              100 * std::sqrt(top * (1 - top) / static_cast<double>(s.count - 1)));
  return o;
}

Status write_log_prob_header(std::FILE* f, const std::string& path, uint32_t n_ctx, int32_t n_vocab, int32_t n_chunk,
                             std::span<const int32_t> tokens) {
  const size_t n_tok = static_cast<size_t>(n_chunk) * n_ctx;
  HERD_CHECK(tokens.size() >= n_tok, "write_log_prob_header: %zu tokens for %zu", tokens.size(), n_tok);
  if (std::fwrite(kMagic, 1, 8, f) != 8 || std::fwrite(&n_ctx, 4, 1, f) != 1 || std::fwrite(&n_vocab, 4, 1, f) != 1 ||
      std::fwrite(&n_chunk, 4, 1, f) != 1 || (n_tok > 0 && std::fwrite(tokens.data(), 4, n_tok, f) != n_tok))
    return err(ErrorCode::kIo, "%s: write failed: %s", path.c_str(), std::strerror(errno));
  return Ok{};
}

Result<LogProbFile> read_log_prob_header(std::FILE* f, const std::string& path, int64_t vocab) {
  struct stat st;
  if (fstat(fileno(f), &st) != 0) return err(ErrorCode::kIo, "%s: %s", path.c_str(), std::strerror(errno));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  char magic[8];
  LogProbFile h;
  if (size < 20 || std::fread(magic, 1, 8, f) != 8 || std::memcmp(magic, kMagic, 8) != 0)
    return err(ErrorCode::kCorrupt, "%s is not a KL-divergence base file (no \"_logits_\" header)", path.c_str());
  if (std::fread(&h.n_ctx, 4, 1, f) != 1 || std::fread(&h.n_vocab, 4, 1, f) != 1 || std::fread(&h.n_chunk, 4, 1, f) != 1)
    return err(ErrorCode::kCorrupt, "%s: truncated header", path.c_str());
  if (h.n_ctx < 4 || h.n_ctx > (1u << 20))
    return err(ErrorCode::kCorrupt, "%s: context of %u tokens (expected 4 .. 1048576)", path.c_str(), h.n_ctx);
  if (h.n_chunk < 1) return err(ErrorCode::kCorrupt, "%s: %d chunks", path.c_str(), h.n_chunk);
  if (h.n_vocab != vocab)
    return err(ErrorCode::kInvalidArgument, "%s was written for a vocabulary of %d tokens; this model has %lld",
               path.c_str(), h.n_vocab, static_cast<long long>(vocab));
  // The exact size its header implies (in 64 bits: n_chunk, n_ctx and n_vocab are bounded above).
  const uint64_t n_tok = static_cast<uint64_t>(h.n_chunk) * h.n_ctx;
  const uint64_t want = 20 + 4 * n_tok + 2 * static_cast<uint64_t>(h.n_chunk) *
                                             static_cast<uint64_t>(h.rows_per_chunk()) *
                                             static_cast<uint64_t>(log_prob_row_u16(h.n_vocab));
  if (size != want)
    return err(ErrorCode::kCorrupt, "%s is %llu bytes; its header (%d chunks of %u tokens, vocabulary %d) needs %llu",
               path.c_str(), static_cast<unsigned long long>(size), h.n_chunk, h.n_ctx, h.n_vocab,
               static_cast<unsigned long long>(want));
  h.tokens.resize(n_tok);
  if (std::fread(h.tokens.data(), 4, n_tok, f) != n_tok)
    return err(ErrorCode::kIo, "%s: reading the tokens failed", path.c_str());
  for (size_t i = 0; i < h.tokens.size(); ++i)
    if (h.tokens[i] < 0 || h.tokens[i] >= vocab)
      return err(ErrorCode::kCorrupt, "%s: token %zu is %d, outside the vocabulary", path.c_str(), i, h.tokens[i]);
  return h;
}

}  // namespace herd::model
