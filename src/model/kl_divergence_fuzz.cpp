// libFuzzer target for the KL-divergence base file reader
// (model/kl_divergence.h): arbitrary bytes as a file, read with the vocabulary
// its own header names (1 .. 4096, so that any header can be accepted). On
// success every row is read and checked as herd perplexity --kl-divergence
// does; each row that passes is decoded against fixed logits, and its KLD and
// NLLs must be finite (the row check's promise). Seeds:
// tests/fuzz_seeds/kl_divergence_fuzz/ (a file in the writer's layout).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "model/kl_divergence.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int32_t vocab = 11;
  if (size >= 16) std::memcpy(&vocab, data + 12, 4);
  if (vocab < 1 || vocab > 4096) vocab = 11;
  std::FILE* f = std::tmpfile();
  if (f == nullptr) return 0;
  if (size) std::fwrite(data, 1, size, f);
  std::fflush(f);
  std::rewind(f);
  auto h = herd::model::read_log_prob_header(f, "fuzz", vocab);
  if (h.has_value()) {
    if (static_cast<int64_t>(h->tokens.size()) != static_cast<int64_t>(h->n_chunk) * h->n_ctx) std::abort();
    std::vector<uint16_t> row(static_cast<size_t>(herd::model::log_prob_row_u16(vocab)));
    std::vector<float> logits(static_cast<size_t>(vocab));
    for (int32_t i = 0; i < vocab; ++i) logits[static_cast<size_t>(i)] = std::sin(static_cast<float>(i));
    herd::model::KldStats stats;
    const int64_t rows = static_cast<int64_t>(h->n_chunk) * h->rows_per_chunk();
    for (int64_t r = 0; r < rows; ++r) {
      if (std::fread(row.data(), 2, row.size(), f) != row.size()) std::abort();  // the size was checked
      if (!herd::model::check_log_prob_row(row.data(), vocab, "fuzz", r).has_value()) continue;
      stats.add(logits, row.data(), h->tokens[static_cast<size_t>(r % static_cast<int64_t>(h->tokens.size()))]);
      if (!std::isfinite(stats.sum_kld) || !std::isfinite(stats.sum_nll_base)) std::abort();
    }
  }
  std::fclose(f);
  return 0;
}
