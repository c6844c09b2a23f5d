// MappedFile: a read-only memory map of a whole file.
//
// Model weights are mapped, not read: the kernel pages them in on demand and
// shares them between processes, so resident memory is what the forward pass
// touches. The mapping lives as long as the MappedFile (move-only).
//
// Thread safety: the bytes are immutable; any thread may read them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/result.h"

namespace herd {

class MappedFile {
 public:
  // Maps `path` read-only. An empty file maps to size() == 0, data() == nullptr.
  static Result<MappedFile> open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Gives every page of the mapping back to the OS (MADV_DONTNEED): the bytes
  // stay the same (the mapping is read-only and private, a later read faults
  // them in again from the file); resident memory drops by what was read.
  void release_pages() const;

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file into a string: configs, JSON, tokenizer files.
// Refuses files larger than max_bytes with kOutOfRange.
Result<std::string> read_text_file(const std::string& path, size_t max_bytes = size_t{1} << 30);

// Writes bytes to `path` atomically enough for tools: write to path.tmp, then rename.
Status write_file(const std::string& path, const void* data, size_t size);

}  // namespace herd
