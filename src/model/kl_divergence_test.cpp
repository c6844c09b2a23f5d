// The KL-divergence base file and statistics of model/kl_divergence.h:
//  - a row decodes every log-prob within scale / 2 (+ f32 rounding of the
//    decode, 2^-24 relative to |log p|) above the 24-nat floor, and to at
//    least the true value below it; scale = (max - floor) / 65535;
//  - a row's layout: two floats, then n_vocab uint16 padded to even;
//  - KldStats on the model's own rows: |KLD| within what the row rounding
//    allows, same top; on a shifted distribution: the KLD of the exact
//    formula (computed here in long double), the NLLs and dp;
//  - the header round trip, and refusals: another magic, another vocabulary,
//    a truncated file, a padded file, a token outside the vocabulary, a zero
//    context.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "model/kl_divergence.h"

namespace herd::model {
namespace {

std::vector<float> random_logits(int64_t V, uint32_t seed, float spread) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, spread);
  std::vector<float> v(static_cast<size_t>(V));
  for (float& x : v) x = n(g);
  return v;
}

std::vector<long double> log_softmax(const std::vector<float>& l) {
  long double m = l[0];
  for (float v : l) m = std::max<long double>(m, v);
  long double s = 0;
  for (float v : l) s += std::exp(static_cast<long double>(v) - m);
  std::vector<long double> out(l.size());
  for (size_t i = 0; i < l.size(); ++i) out[i] = l[i] - m - std::log(s);
  return out;
}

TEST(KlDivergence, RowDecodesWithinHalfAStep) {
  for (int64_t V : {7, 8, 1000}) {
    for (float spread : {0.0f, 1.0f, 10.0f}) {  // 10: a floor 24 nats down cuts the tail
      const std::vector<float> l = random_logits(V, static_cast<uint32_t>(V), spread);
      std::vector<uint16_t> row(static_cast<size_t>(log_prob_row_u16(V)), 0xffff);
      ASSERT_EQ(row.size(), static_cast<size_t>(4 + (V + 1) / 2 * 2));
      const double nll = encode_log_probs(l, 3, row.data());
      const std::vector<long double> lp = log_softmax(l);
      EXPECT_NEAR(nll, -static_cast<double>(lp[3]), 1e-5);
      float scale, lo;
      std::memcpy(&scale, row.data(), 4);
      std::memcpy(&lo, row.data() + 2, 4);
      const float mx = *std::max_element(l.begin(), l.end()), mn = *std::min_element(l.begin(), l.end());
      EXPECT_NEAR(scale, (mx - std::max(mn, mx - 24)) / 65535.0f, 1e-6f * (1 + scale));
      if (V % 2) {
        EXPECT_EQ(row.back(), 0) << "the padding is zero";
      }
      for (int64_t i = 0; i < V; ++i) {
        const long double got = decoded_log_prob(row.data(), i), want = lp[static_cast<size_t>(i)];
        const long double slack = 0x1p-22L * std::fabs(want) + 1e-6L;
        if (row[4 + static_cast<size_t>(i)] > 0 || spread == 0)
          EXPECT_LE(std::fabs(got - want), scale / 2 + slack) << "V " << V << " i " << i;
        else
          EXPECT_LE(want, got + scale / 2 + slack) << "below the floor, V " << V << " i " << i;
      }
    }
  }
}

TEST(KlDivergence, StatisticsOfOwnRowsAndOfAShiftedModel) {
  const int64_t V = 500;
  KldStats self, other;
  long double want_kld = 0, want_nll = 0;
  int64_t want_same = 0;
  for (uint32_t t = 0; t < 120; ++t) {
    const std::vector<float> base = random_logits(V, 100 + t, 2.0f);
    std::vector<uint16_t> row(static_cast<size_t>(log_prob_row_u16(V)));
    encode_log_probs(base, static_cast<int32_t>(t % V), row.data());
    self.add(base, row.data(), static_cast<int32_t>(t % V));
    // Another model: the base's logits plus noise.
    std::vector<float> q = base;
    const std::vector<float> noise = random_logits(V, 900 + t, 0.5f);
    for (int64_t i = 0; i < V; ++i) q[static_cast<size_t>(i)] += noise[static_cast<size_t>(i)];
    other.add(q, row.data(), static_cast<int32_t>(t % V));
    const std::vector<long double> lq = log_softmax(q);
    long double kld = 0;
    int64_t top_b = 0, top_q = 0;
    for (int64_t i = 0; i < V; ++i) {
      const long double lb = decoded_log_prob(row.data(), i);
      if (lb > -16) kld += std::exp(lb) * (lb - lq[static_cast<size_t>(i)]);
      if (decoded_log_prob(row.data(), i) > decoded_log_prob(row.data(), top_b)) top_b = i;
      if (q[static_cast<size_t>(i)] > q[static_cast<size_t>(top_q)]) top_q = i;
    }
    want_kld += kld;
    want_nll += -lq[t % V];
    want_same += top_b == top_q;
  }
  // Against its own rows: |KLD| <= sum p |lb - l| <= scale / 2 + the f32 decode (scale <= 24 / 65535).
  const MeanUnc self_kld = mean_and_uncertainty(self.sum_kld, self.sum_kld2, self.count);
  EXPECT_LT(std::fabs(self_kld.mean), 12.0 / 65535 + 1e-5);
  EXPECT_EQ(self.same_top, self.count);
  EXPECT_NEAR(self.sum_nll, self.sum_nll_base, 1e-3 * static_cast<double>(self.count));
  // The shifted model: the exact formula on the same rows.
  ASSERT_EQ(other.count, 120);
  EXPECT_NEAR(other.sum_kld / 120, static_cast<double>(want_kld / 120), 1e-6);
  EXPECT_GT(other.sum_kld / 120, 0.05) << "noise of 0.5 moves the distribution";
  EXPECT_NEAR(other.sum_nll / 120, static_cast<double>(want_nll / 120), 1e-6);
  EXPECT_EQ(other.same_top, want_same);
  EXPECT_EQ(other.kld_values.size(), 120u);
  // The report has llama-perplexity's lines.
  const std::string r = kld_report(other);
  for (const char* line : {"====== Perplexity statistics ======", "Mean PPL(Q)                   :",
                           "====== KL divergence statistics ======", "Mean    KLD:", "99.9%   KLD:", "Median  KLD:",
                           " 0.1%   KLD:", "Minimum KLD:", "RMS \u0394p    :", "Same top p:"})
    EXPECT_NE(r.find(line), std::string::npos) << line;
}

struct TempFile {
  std::string path;
  TempFile() {
    char name[] = "/tmp/herd-kld-XXXXXX";
    const int fd = mkstemp(name);
    if (fd >= 0) close(fd);
    path = name;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

// A file of n_chunk chunks of n_ctx tokens, vocabulary V, rows of zeros, with
// `extra` bytes more (negative: fewer).
void write_file(const std::string& path, uint32_t n_ctx, int32_t V, int32_t n_chunk, std::vector<int32_t> tokens,
                long extra, const char* magic = "_logits_") {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(magic, 1, 8, f);
  std::fwrite(&n_ctx, 4, 1, f);
  std::fwrite(&V, 4, 1, f);
  std::fwrite(&n_chunk, 4, 1, f);
  if (!tokens.empty()) std::fwrite(tokens.data(), 4, tokens.size(), f);
  const long rows = static_cast<long>(n_chunk) * (static_cast<long>(n_ctx) - 1 - n_ctx / 2);
  std::vector<char> zero(static_cast<size_t>(std::max(0L, 2 * rows * log_prob_row_u16(V) + extra)), 0);
  if (!zero.empty()) std::fwrite(zero.data(), 1, zero.size(), f);
  std::fclose(f);
}

Result<LogProbFile> read(const std::string& path, int64_t vocab) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  Result<LogProbFile> r = read_log_prob_header(f, path, vocab);
  std::fclose(f);
  return r;
}

TEST(KlDivergence, HeaderRoundTripAndRefusals) {
  TempFile t;
  const std::vector<int32_t> ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  {
    std::FILE* f = std::fopen(t.path.c_str(), "wb");
    ASSERT_TRUE(write_log_prob_header(f, t.path, 4, 11, 2, ids).has_value());
    std::vector<uint16_t> rows(static_cast<size_t>(2 * 1 * log_prob_row_u16(11)), 0);
    std::fwrite(rows.data(), 2, rows.size(), f);
    std::fclose(f);
  }
  Result<LogProbFile> h = read(t.path, 11);
  ASSERT_TRUE(h.has_value()) << h.error().to_string();
  EXPECT_EQ(h->n_ctx, 4u);
  EXPECT_EQ(h->n_chunk, 2);
  EXPECT_EQ(h->rows_per_chunk(), 1);
  EXPECT_EQ(h->tokens, std::vector<int32_t>(ids.begin(), ids.begin() + 8));

  auto refused = [&](const char* what, const char* needle) {
    Result<LogProbFile> r = read(t.path, 11);
    ASSERT_FALSE(r.has_value()) << what;
    EXPECT_NE(r.error().to_string().find(needle), std::string::npos) << what << ": " << r.error().to_string();
  };
  const std::vector<int32_t> eight(ids.begin(), ids.begin() + 8);
  write_file(t.path, 4, 11, 2, eight, 0, "_logitz_");
  refused("magic", "not a KL-divergence base file");
  write_file(t.path, 4, 12, 2, eight, 0);
  refused("vocabulary", "vocabulary of 12 tokens; this model has 11");
  write_file(t.path, 4, 11, 2, eight, -2);
  refused("truncated", "needs");
  write_file(t.path, 4, 11, 2, eight, 2);
  refused("padded", "needs");
  std::vector<int32_t> bad = eight;
  bad[5] = 11;
  write_file(t.path, 4, 11, 2, bad, 0);
  refused("token", "token 5 is 11, outside the vocabulary");
  write_file(t.path, 0, 11, 2, {}, 0);
  refused("context", "context of 0 tokens");
  write_file(t.path, 4, 11, 0, {}, 0);
  refused("chunks", "0 chunks");
  write_file(t.path, 4, 11, 2, {1, 2}, 0);  // the tokens cut short: the size no longer adds up
  refused("short tokens", "needs");
}

}  // namespace
}  // namespace herd::model
