// safetensors writer: one file, or a Hugging Face directory of shards.
//
// SafetensorsWriter collects tensor descriptions (name, dtype, shape and a
// fill callback) and write() lays them out in insertion order, contiguous,
// behind a JSON header padded with spaces so that the data buffer starts at a
// multiple of 8 bytes (what huggingface/safetensors writes, so Python reads
// herd's files). Tensor bytes are never staged in a heap buffer: the output
// file is sized with posix_fallocate (so a full disk is an error, not a
// SIGBUS), mapped, and each fill callback writes straight into the mapping;
// the pages of each finished tensor leave the process's mapping (the page
// cache keeps them until written back), so a multi-GB file adds about one
// tensor to resident memory. The file appears atomically: it is written to "<path>.tmp" and
// renamed over `path` only after every fill succeeded.
//
// write_hf_safetensors() packs tensors, in order, into shards no larger than
// max_shard_bytes of tensor data (a single tensor larger than the limit gets a
// shard of its own), names them model-0000k-of-0000n.safetensors and writes
// model.safetensors.index.json; when everything fits in one shard it writes a
// single model.safetensors instead, as transformers does.
//
// Thread safety: a writer is used by one thread. Fill callbacks run on the
// calling thread, in insertion order, each exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "formats/safetensors.h"

namespace herd::formats {

// Writes exactly `nbytes` bytes (numel * element size) of the tensor's
// row-major, little-endian data to dst. A non-ok Status aborts the write.
using FillFn = std::function<Status(uint8_t* dst, uint64_t nbytes)>;

class SafetensorsWriter {
 public:
  using FillFn = formats::FillFn;

  // __metadata__ entry; HF writes {"format": "pt"}. Later values replace earlier.
  void set_metadata(std::string key, std::string value);
  // Validates the name (non-empty, not "__metadata__", not already added) and
  // the shape (non-negative dims, byte size without 64-bit overflow).
  Status add_tensor(std::string name, StDType dtype, std::vector<int64_t> shape, FillFn fill);
  // A tensor whose bytes are already in memory (src must stay valid until
  // write() returns): copied in slices of 16 MiB, each slice's pages released
  // as it is done, so even a tensor of several GB (a full fine-tuning
  // checkpoint's embedding table) adds only a slice to resident memory.
  Status add_tensor_bytes(std::string name, StDType dtype, std::vector<int64_t> shape, const void* src);
  // Writes the file. Can be called again (fill callbacks run again).
  Status write(const std::string& path);

  // Sum of the tensors' byte sizes so far (the data buffer's length).
  uint64_t data_bytes() const { return data_bytes_; }
  size_t tensor_count() const { return tensors_.size(); }

 private:
  struct Pending {
    std::string name;
    StDType dtype;
    std::vector<int64_t> shape;
    uint64_t nbytes;
    FillFn fill;
    const uint8_t* src = nullptr;  // add_tensor_bytes: copied from here instead of fill
  };
  std::map<std::string, std::string> metadata_;
  std::vector<Pending> tensors_;  // insertion order == layout order
  std::map<std::string, size_t> names_;
  uint64_t data_bytes_ = 0;
};

struct HfTensorSpec {
  std::string name;
  StDType dtype = StDType::kBF16;
  std::vector<int64_t> shape;  // outermost first
  FillFn fill;
};

// Writes `specs` into directory `dir` (created if missing, one level). Every
// shard carries __metadata__ {"format": "pt"}. Shard boundaries never split a
// tensor. max_shard_bytes must be > 0. A stale single model.safetensors left
// in `dir` is removed when writing shards, because loaders (transformers and
// HfCheckpoint) prefer it over an index.
Status write_hf_safetensors(const std::string& dir, std::vector<HfTensorSpec> specs,
                            uint64_t max_shard_bytes);

}  // namespace herd::formats
