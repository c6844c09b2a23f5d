// GgufWriter: builds a GGUF v3 file from metadata and lazily produced tensors.
//
// Metadata keeps insertion order (set() on an existing key replaces its value
// in place). Tensor bytes are not held by the writer: each tensor has a
// FillFn that produces its bytes at write time, into one buffer reused for
// every tensor, so peak memory is the largest single tensor (not the file),
// and a multi-GB model streams to disk. Layout (docs/formats/gguf.md): header,
// metadata, tensor infos, zero padding to the alignment, then each tensor at
// the next aligned offset in add_tensor() order, zero-padded to the alignment.
// Files written here are accepted by GgufFile and by ggml (tensor names are
// limited to 63 bytes, shapes to 1..4 dims).
//
// If the alignment is not 32, `general.alignment` (u32) is written as the last
// metadata key unless the caller set it; a caller-set value must match.
//
// Thread safety: none; one thread builds and writes. FillFns are called on the
// writing thread, in add_tensor() order, exactly once each per write().
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "formats/gguf.h"
#include "tensor/dtype.h"

namespace herd::formats {

class GgufWriter {
 public:
  // Fills dst[0, nbytes) with the tensor's bytes in the GGUF (row-major,
  // packed blocks) layout. dst is not zeroed; every byte must be written.
  using FillFn = std::function<Status(uint8_t* dst, uint64_t nbytes)>;

  // alignment must be a nonzero power of two; write() reports it otherwise.
  explicit GgufWriter(uint32_t alignment = kGgufDefaultAlignment);

  // Sets a metadata key (keeps first-insertion order; replaces an existing key).
  void set(std::string key, GgufValue v);

  // Adds a tensor; shape is outermost first (reversed into ggml ne[] on write).
  // Checks: name 1..63 bytes and unique, 1..4 dims each >= 1, the last dim a
  // multiple of the dtype's block size, byte size fits int64, fill non-empty.
  Status add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, FillFn fill);

  // Writes path.tmp, then renames it to path; on error removes path.tmp.
  Status write(const std::string& path);
  // Builds the whole file in memory (tests, fuzz seeds, small files).
  Result<std::string> write_to_string();

  size_t tensor_count() const { return tensors_.size(); }

 private:
  struct PendingTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;  // outermost first
    uint64_t nbytes;
    uint64_t offset;  // relative to the data start, assigned by layout()
    FillFn fill;
  };

  // Validates the metadata and assigns tensor offsets; returns the header
  // (everything before the data start, padding included).
  Result<std::string> layout();
  // Streams header + tensors to `sink(bytes, n)`, which returns false on error.
  Status emit(const std::function<bool(const void*, size_t)>& sink);

  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace herd::formats
