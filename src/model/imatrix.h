// The importance matrix: for every matrix a forward pass multiplies by, the
// mean square of each input column over calibration text, the statistic
// llama.cpp's llama-imatrix collects and its K-quant quantizers weight their
// rounding error by. Files in llama-imatrix's two formats, so either tool's
// file works in either: the legacy imatrix.dat and the GGUF one it writes by
// default today (imatrix.gguf).
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
//
// The GGUF file (llama-imatrix's save_imatrix): metadata general.type
// "imatrix", imatrix.datasets (array of strings), imatrix.chunk_count and
// imatrix.chunk_size (u32); per matrix, sorted by name, "<name>.in_sum2" F32
// [1, n] = sum(x^2) over the rows and "<name>.counts" F32 [1, 1] = the rows
// ("<name>.in_sum", which newer versions add, is not needed and ignored).
// llama-quantize weights with in_sum2 / counts (1 where counts is 0).
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
  int32_t ncall = 0;          // .dat: the evals it took part in
  float count = 0;            // GGUF: the rows summed
  std::vector<float> values;  // per input column: .dat mean(x^2) * ncall; GGUF sum(x^2)
};

struct ImatrixFile {
  bool gguf = false;          // the GGUF format (else .dat)
  std::vector<ImatrixEntry> entries;
  int32_t chunks = 0;         // the chunk count (.dat: after the entries; GGUF: imatrix.chunk_count)
  int32_t chunk_size = 0;     // GGUF: imatrix.chunk_size (the context size)
  std::string dataset;        // the calibration file's name (GGUF: the last of imatrix.datasets)
};

// What llama-quantize weights a row's columns by: each entry's mean(x^2), as it
// computes it from either format (.dat values / ncall; GGUF in_sum2 / counts).
std::vector<float> imatrix_importance(const ImatrixFile& f, const ImatrixEntry& e);

class ImatrixCollector final : public TapSink {
 public:
  explicit ImatrixCollector(bool process_output) : process_output_(process_output) {}

  // Call before each eval with its token count (evals under 16 tokens are skipped).
  void begin_eval(int64_t n_tokens);
  void tap(const std::string& name, const float* data, int64_t rows, int64_t cols) override;
  bool wants_matmul_inputs() const override { return true; }

  // Entries in first-seen order (the forward pass's order); `chunks` and `dataset` as stored;
  // in the GGUF format's terms with `gguf` (chunk_size: the context size).
  ImatrixFile result(int32_t chunks, const std::string& dataset, bool gguf = false, int32_t chunk_size = 0) const;
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

// Writes f in its format (f.gguf), to a temporary name renamed at the end.
Status write_imatrix(const std::string& path, const ImatrixFile& f);
// Reads either format (a file starting with "GGUF" is the GGUF one).
Result<ImatrixFile> read_imatrix(const std::string& path);
// The same from bytes in memory (not copied); `source` names them in errors.
Result<ImatrixFile> parse_imatrix(const uint8_t* data, size_t size, const std::string& source);

}  // namespace herd::model
