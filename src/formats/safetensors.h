// safetensors reader: validates and indexes one .safetensors file or buffer.
//
// Layout (docs/formats/safetensors.md): u64 little-endian header length N,
// then N bytes of UTF-8 JSON, then the data buffer. Each JSON entry names a
// tensor with its dtype string, its shape (outermost first, no reversal, unlike
// GGUF) and data_offsets [begin, end) relative to the start of the data buffer.
//
// The file is untrusted (post-training-safety.md Part C, class 1). open() and
// parse() check every size with overflow-safe arithmetic before a byte of
// tensor data is addressed: the header length against the file size and a
// 100 MB cap, each dtype and shape, each [begin, end) against the data buffer
// and numel * element size, overlaps between tensors, duplicate names (which
// a plain JSON parser would silently merge), and __metadata__ being
// string -> string. After a successful parse every StTensor's [data, data +
// nbytes) lies inside the buffer. Errors are kCorrupt (or kOutOfRange for the
// header cap, kIo/kNotFound for the file) and name the file, the tensor, the
// field, what was expected and what was found.
//
// What is accepted that the Python reference rejects: gaps between tensors and
// trailing bytes after the last one (harmless; herd's writer never makes them).
// Tensor data is not necessarily aligned: herd's writer pads the header so the
// data buffer starts 8-byte aligned, but offsets inside it are the writer's.
//
// Ownership and thread safety: open() maps the file read-only and the
// SafetensorsFile owns the map (move-only; moving keeps StTensor::data valid).
// parse() does not copy: the caller keeps the buffer alive as long as the
// SafetensorsFile. All accessors are const and safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace herd::formats {

// The dtype strings of the safetensors format (huggingface/safetensors). Newer
// exotic ones (F8_E8M0, F4, F6_*) are rejected as unknown.
enum class StDType {
  kBool,
  kU8,
  kI8,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64,
  kF8E4M3,
  kF8E5M2,
};

// "BF16", "F8_E4M3", ... exactly as the header spells them.
const char* st_dtype_name(StDType t);
// Case-sensitive, as in the format ("BF16", not "bf16").
std::optional<StDType> parse_st_dtype(std::string_view name);
// Bytes per element: 1, 2, 4 or 8.
uint64_t st_dtype_size(StDType t);
// F32/F16/BF16 -> herd DType; every other dtype -> nullopt.
std::optional<DType> to_herd_dtype(StDType t);
// herd's plain dtypes (F32/F16/BF16) -> StDType; quantized ones -> nullopt.
std::optional<StDType> from_herd_dtype(DType t);

// One validated tensor entry. `data` points into the file's bytes.
struct StTensor {
  std::string name;
  StDType dtype = StDType::kF32;
  std::string dtype_name;       // the header's string, e.g. "BF16"
  std::vector<int64_t> shape;   // outermost first; [] for a scalar
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;          // == numel * st_dtype_size(dtype)
  uint64_t data_begin = 0;      // data_offsets[0], relative to the data buffer

  uint64_t numel() const;
  // A view for dtypes herd computes with (F32/F16/BF16); nullopt otherwise.
  std::optional<TensorView> view() const;
};

class SafetensorsFile {
 public:
  // Largest header herd accepts (the reference loader's cap).
  static constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

  // Maps and validates `path`. Errors carry the path.
  static Result<SafetensorsFile> open(const std::string& path);
  // Validates `size` bytes at `data` (not copied: keep them alive). `source`
  // names the bytes in error messages.
  static Result<SafetensorsFile> parse(const uint8_t* data, size_t size,
                                       std::string_view source = "<buffer>");

  SafetensorsFile() = default;
  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // Every tensor, in data-offset order (the order a writer laid them out).
  const std::vector<StTensor>& tensors() const { return tensors_; }
  // nullptr when absent. O(log n).
  const StTensor* find(std::string_view name) const;
  // The header's __metadata__ (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The path given to open(), or parse()'s `source`.
  const std::string& path() const { return path_; }
  // Header length N as stored in the first 8 bytes.
  uint64_t header_bytes() const { return header_bytes_; }
  // The mapping's pages given back (MappedFile::release_pages); none for parse().
  void release_pages() const { map_.release_pages(); }

 private:
  MappedFile map_;  // empty for parse(); moving it keeps the mapping's address
  std::string path_;
  uint64_t header_bytes_ = 0;
  std::vector<StTensor> tensors_;                        // sorted by data_begin
  std::map<std::string, size_t, std::less<>> by_name_;  // name -> index in tensors_
  std::map<std::string, std::string> metadata_;
};

}  // namespace herd::formats
