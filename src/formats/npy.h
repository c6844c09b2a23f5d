// NpyWriter: float32 .npy arrays (NumPy format 1.0), written as they are
// produced: the header states the full shape up front, rows are appended.
// Used for --logits-out and activation taps, read back by numpy in the
// reference tests. read_npy_f32 reads such files back (tests, tools).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "base/result.h"

namespace herd::formats {

class NpyWriter {
 public:
  NpyWriter() = default;
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  ~NpyWriter();

  // Creates `path` for a little-endian float32 C-order array of `shape`.
  Status open(const std::string& path, const std::vector<int64_t>& shape);
  // Appends n floats; the total must reach the shape's element count by close().
  Status append(const float* data, int64_t n);
  // Checks the element count and closes the file.
  Status close();

 private:
  FILE* f_ = nullptr;
  std::string path_;
  int64_t expected_ = 0;
  int64_t written_ = 0;
};

// Writes a whole array at once.
Status write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data);

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};
// Reads a little-endian float32 C-order .npy (format 1.0 or 2.0).
Result<NpyArray> read_npy_f32(const std::string& path);

}  // namespace herd::formats
