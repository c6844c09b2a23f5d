// The importance matrix: for every matrix a forward pass multiplies by, the
// mean square of each input column over calibration text, the statistic
// llama.cpp's llama-imatrix collects and its K-quant quantizers weight their
// rounding error by. Files in llama-imatrix's format (imatrix.dat), so either
// tool's file works in either.
//
// Collection (ImatrixCollector, a TapSink with matmul inputs on,
// model/taps.h) follows llama-imatrix: the inputs of every layer matrix
// (blk.N.attn_q ... ffn_down), and of output.weight only when asked
// (--process-output); an eval of fewer than 16 tokens is skipped (llama.cpp
// ignores matmuls with fewer than 16 rows); each entry's ncall is the number
// of evals it took part in. Sums are kept in double (llama.cpp: float).
//
// The file (little-endian int32 and float32): n_entries; per entry: name
// length, name bytes, ncall, nval, nval floats = sum(x^2) / count * ncall;
// then the number of chunks the data came from and the length and bytes of
// the calibration file's name. herd writes entries in the model's tensor
// order (llama-imatrix in hash-map order: readers must not rely on order).
// read_imatrix_dat() bounds every count and length by the file size before
// allocating, and refuses duplicate names and non-finite or negative values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/taps.h"

namespace herd::model {

struct ImatrixEntry {
  std::string name;           // "blk.0.attn_q.weight"
  int32_t ncall = 0;
  std::vector<float> values;  // per input column: mean(x^2) * ncall
};

struct ImatrixFile {
  std::vector<ImatrixEntry> entries;
  int32_t chunks = 0;         // the chunk count llama-imatrix stores after the entries
  std::string dataset;        // the calibration file's name
};

class ImatrixCollector final : public TapSink {
 public:
  explicit ImatrixCollector(bool process_output) : process_output_(process_output) {}

  // Call before each eval with its token count (evals under 16 tokens are skipped).
  void begin_eval(int64_t n_tokens);
  void tap(const std::string& name, const float* data, int64_t rows, int64_t cols) override;
  bool wants_matmul_inputs() const override { return true; }

  // Entries in first-seen order (the forward pass's order); `chunks` and `dataset` as stored.
  ImatrixFile result(int32_t chunks, const std::string& dataset) const;
  int64_t counted_evals() const { return evals_; }

 private:
  struct Stat {
    std::vector<double> sum;  // per column
    int64_t rows = 0;
    int32_t ncall = 0;
    int64_t last_eval = -1;
  };
  bool process_output_;
  bool active_ = false;
  int64_t evals_ = 0;
  std::vector<std::string> order_;
  std::map<std::string, Stat> stats_;
};

Status write_imatrix_dat(const std::string& path, const ImatrixFile& f);
Result<ImatrixFile> read_imatrix_dat(const std::string& path);
// The same from bytes in memory (not copied); `source` names them in errors.
Result<ImatrixFile> parse_imatrix_dat(const uint8_t* data, size_t size, const std::string& source);

}  // namespace herd::model
