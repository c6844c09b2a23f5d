// GGUF v2/v3 files: metadata values, tensor infos and the validating reader.
//
// A GgufFile is a parsed, fully validated view of a GGUF file (layout in
// docs/formats/gguf.md). Parsing checks every count, length, type id, shape
// and offset against the bytes actually present, with overflow-checked
// arithmetic, *before* allocating or reading; a malformed or hostile file
// yields a kCorrupt/kUnsupported Error naming the item, the byte offset, what
// was expected and what was found. Nothing is read outside [data, data+size).
// After a successful parse every GgufTensor's bytes lie inside the file, are
// aligned to alignment(), and do not overlap another tensor's.
//
// Metadata values are copied out of the file (small, except tokenizer arrays,
// which are stored compactly: one byte blob plus end offsets for string
// arrays, packed little-endian elements for numeric arrays). Tensor data is
// never copied: GgufTensor::data points into the mapped file.
//
// Shapes are outermost first (herd convention): GGUF's ne[] is reversed on
// read and on write, so a weight with ne = [in, out] has shape [out, in].
//
// Limits herd adds beyond the GGUF spec (all generous for real models):
//   key length 1..65535 bytes; tensor name 1..63 bytes (ggml's GGML_MAX_NAME
//   of 64 includes the NUL terminator, so herd accepts exactly what ggml
//   does); n_dims 1..4; each dim >= 1; element count and byte size fit in
//   int64; arrays nest at most kGgufMaxArrayDepth deep and a file holds at
//   most kGgufMaxNestedValues array-of-array elements in total.
//
// Thread safety: a GgufFile and its values are immutable after parse; any
// number of threads may read them. GgufValue is a plain value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace herd::formats {

// Metadata value type ids (gguf_metadata_value_type).
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr size_t kGgufMaxKeyLength = 65535;
inline constexpr size_t kGgufMaxTensorNameLength = 63;  // bytes, excluding a terminator
inline constexpr int kGgufMaxDims = 4;
inline constexpr int kGgufMaxArrayDepth = 4;  // an array of arrays has depth 2
inline constexpr uint64_t kGgufMaxNestedValues = uint64_t{1} << 20;

// "u32", "string", "array", ... ; "type 99" for ids outside the enum.
const char* gguf_type_name(GgufType t);
// True for ids 0..12.
bool is_valid_gguf_type(uint32_t id);
// Encoded size of one scalar of type t (0 for string and array).
size_t gguf_scalar_size(GgufType t);

namespace detail {
class GgufParser;
}  // namespace detail

// One metadata value. Scalars keep their exact type and bits; arrays keep an
// element type and are stored compactly (see the file comment), so an array
// of 280k strings costs two allocations, not 280k.
class GgufValue {
 public:
  GgufValue() = default;  // u8 0

  GgufType type() const { return type_; }
  bool is_integer() const;  // scalar u8..i64 (bool is not an integer here)
  bool is_float() const { return type_ == GgufType::kFloat32 || type_ == GgufType::kFloat64; }
  bool is_array() const { return type_ == GgufType::kArray; }

  // Scalars. Each returns kInvalidArgument naming the actual type on mismatch.
  Result<uint64_t> as_uint() const;   // any integer type holding a value >= 0
  Result<int64_t> as_int() const;     // any integer type whose value fits int64
  Result<double> as_float() const;    // f32, f64 and integers (converted)
  Result<std::string> as_string() const;
  std::string_view as_string_view() const;  // the string of a kString value; "" otherwise
  // The value of a kBool; false for every other type (check type() when that
  // matters). Not a Result on purpose: `if (v.as_bool())` must mean the value.
  bool as_bool() const { return type_ == GgufType::kBool && bits_ != 0; }

  // Arrays. array_type() is the element type; array_size() the element count.
  // Both are 0/kUint8 for non-arrays.
  GgufType array_type() const { return elem_type_; }
  uint64_t array_size() const { return count_; }
  // Element i of a string array (HERD_CHECKs type and bounds: programmer error).
  std::string_view string_at(size_t i) const;
  // Elements of an array of arrays (empty for other types).
  const std::vector<GgufValue>& array_elems() const { return elems_; }
  // Packed little-endian elements of a numeric or bool array
  // (array_size() * gguf_scalar_size(array_type()) bytes); nullptr otherwise.
  const uint8_t* array_data() const;

  Result<std::vector<std::string>> as_string_array() const;
  Result<std::vector<int64_t>> as_int_array() const;   // integer element types
  Result<std::vector<double>> as_float_array() const;  // float and integer element types

  // One line for `herd inspect`: scalars as values, strings quoted and
  // escaped, arrays as "[string x 128256] ["a", "b", ...]" showing at most
  // max_elems elements (strings longer than 256 bytes are cut).
  std::string to_display_string(size_t max_elems = 8) const;
  // "u32", "string", "array<string>", "array<array>".
  std::string type_string() const;

  // Exact equality: same type, same bits (so NaN == NaN with equal bits).
  bool operator==(const GgufValue& other) const;

  // Constructors for the writer.
  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue string_array(const std::vector<std::string>& v);
  static GgufValue u8_array(const std::vector<uint8_t>& v);
  static GgufValue i8_array(const std::vector<int8_t>& v);
  static GgufValue u16_array(const std::vector<uint16_t>& v);
  static GgufValue i16_array(const std::vector<int16_t>& v);
  static GgufValue u32_array(const std::vector<uint32_t>& v);
  static GgufValue i32_array(const std::vector<int32_t>& v);
  static GgufValue u64_array(const std::vector<uint64_t>& v);
  static GgufValue i64_array(const std::vector<int64_t>& v);
  static GgufValue f32_array(const std::vector<float>& v);
  static GgufValue f64_array(const std::vector<double>& v);
  static GgufValue bool_array(const std::vector<bool>& v);
  // An array whose elements are arrays (each may have its own element type).
  // HERD_CHECKs that every element is an array.
  static GgufValue array_of_arrays(std::vector<GgufValue> elems);
  // An empty array of the given element type.
  static GgufValue empty_array(GgufType elem_type);

  // Appends the GGUF encoding of this value (without its u32 type id) to out.
  void encode(std::string* out) const;

 private:
  friend class detail::GgufParser;
  static GgufValue scalar(GgufType t, uint64_t bits);
  static GgufValue numeric_array(GgufType elem, const void* data, size_t count);

  GgufType type_ = GgufType::kUint8;
  GgufType elem_type_ = GgufType::kUint8;  // arrays only
  uint64_t bits_ = 0;   // numeric and bool scalars: raw little-endian bits, zero-extended
  uint64_t count_ = 0;  // arrays: element count
  // kString: the string. Numeric/bool arrays: packed elements. String arrays:
  // all elements concatenated, element i is [ends_[i-1], ends_[i]).
  std::string bytes_;
  std::vector<uint64_t> ends_;    // string arrays only
  std::vector<GgufValue> elems_;  // arrays of arrays only
};

// One tensor as described by its tensor info; data points into the file.
struct GgufTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // outermost first (ggml ne[] reversed)
  uint64_t offset = 0;         // bytes from GgufFile::data_offset(); multiple of alignment
  uint64_t nbytes = 0;         // rows * row_bytes(dtype, shape.back())
  const uint8_t* data = nullptr;  // [nbytes], inside the file

  TensorView view() const { return TensorView{dtype, shape, data}; }
};

// A parsed GGUF file. Move-only; owns its MappedFile when made by open().
class GgufFile {
 public:
  // Maps `path` read-only, then parses and validates it. Errors carry the
  // path as context.
  static Result<GgufFile> open(const std::string& path);
  // Parses bytes the caller owns; data must outlive the GgufFile and every
  // GgufTensor::data taken from it. data may be nullptr when size is 0.
  static Result<GgufFile> parse(const uint8_t* data, size_t size);

  GgufFile(GgufFile&&) noexcept = default;
  GgufFile& operator=(GgufFile&&) noexcept = default;
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // File offset of the tensor data section (a multiple of alignment()).
  uint64_t data_offset() const { return data_offset_; }
  size_t file_size() const { return size_; }
  const uint8_t* file_data() const { return data_; }
  // The mapping's pages given back (MappedFile::release_pages); none for parse().
  void release_pages() const { file_.release_pages(); }

  // Metadata in file order; keys are unique.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;  // nullptr if absent

  // Typed getters: kNotFound if the key is missing, kInvalidArgument if its
  // value has another type; both messages name the key.
  Result<uint64_t> get_uint(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  Result<double> get_float(std::string_view key) const;
  Result<std::string> get_string(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;

  // Tensors in file (tensor info) order; names are unique.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(std::string_view name) const;  // nullptr if absent

 private:
  friend class detail::GgufParser;
  GgufFile() = default;

  MappedFile file_;  // empty for parse()
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> key_index_;  // key -> index in metadata_
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;  // name -> index in tensors_
};

// ggml's type id of a DType (GGUF tensor_info.type), nullopt for a type GGUF
// cannot hold (F8_E4M3 with row scales); and back, nullopt for an id herd
// does not read.
std::optional<uint32_t> ggml_type_id(DType t);
std::optional<DType> dtype_from_ggml(uint32_t ggml_type);

// The ggml name of a ggml type id ("q2_K", "iq4_xs", ...) for error messages,
// or nullptr for ids ggml never assigned or retired.
const char* ggml_type_name(uint32_t ggml_type);

}  // namespace herd::formats
