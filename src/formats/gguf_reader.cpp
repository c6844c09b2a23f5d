// The GGUF reader: parse and validate a whole file from a byte range.
//
// One forward pass over the header, the metadata and the tensor infos, then
// whole-file checks on the tensor data (bounds, overlap). Every read is
// preceded by a check against the bytes remaining, and every count is checked
// against the smallest number of bytes its elements could occupy before
// anything is reserved, so a count of 2^60 fails at once instead of
// allocating. Arithmetic on file values goes through base/checked_math.h.
// This is the path the CVEs in spec/post-training-safety.md Part C went
// through; gguf_test.cpp has one regression test per class.
#include <algorithm>
#include <cstdarg>
#include <cstring>
#include <limits>

#include "base/checked_math.h"
#include "formats/gguf.h"

namespace herd::formats {
namespace detail {

namespace {

// Smallest encodings, used to bound counts before reserving memory.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;               // key len, 1-byte key, type, u8
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, n_dims, ne[0], type, offset
constexpr uint64_t kMinArrayBytes = 4 + 8;                    // element type, count
constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// A printable, bounded rendering of a key or tensor name taken from the file.
std::string printable(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += str_printf("\\x%02x", c);
    }
  }
  if (s.size() > kMax) out += "...";
  return out;
}

unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

std::string supported_dtype_list() {
  int n = 0;
  const DTypeInfo* all = all_dtypes(&n);
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (!ggml_type_id(all[i].dtype)) continue;
    if (!out.empty()) out += ", ";
    out += all[i].name;
  }
  return out;
}

}  // namespace

class GgufParser {
 public:
  GgufParser(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  Status run(GgufFile* f) {
    f->data_ = data_;
    f->size_ = size_;
    HERD_TRY(read_header(f));
    HERD_TRY(read_metadata(f));
    HERD_TRY(read_tensor_infos(f));
    return check_tensor_data(f);
  }

 private:
  uint64_t remaining() const { return size_ - pos_; }

  Error fail(ErrorCode code, uint64_t offset, const char* fmt, ...) __attribute__((format(printf, 4, 5))) {
    va_list args;
    va_start(args, fmt);
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, args);
    va_end(args);
    return Error(code, str_printf("%s at offset %llu: %s", where_.c_str(), ull(offset), buf));
  }

  // Checks that n more bytes exist at pos_ for `what`.
  Status need(uint64_t n, const char* what) {
    if (n <= remaining()) return Ok{};
    return fail(ErrorCode::kCorrupt, pos_,
                "%s needs %llu bytes, but only %llu remain (file size %zu); the file is truncated",
                what, ull(n), ull(remaining()), size_);
  }

  uint32_t take_u32() {
    uint32_t v;
    std::memcpy(&v, data_ + pos_, 4);
    pos_ += 4;
    return v;
  }
  uint64_t take_u64() {
    uint64_t v;
    std::memcpy(&v, data_ + pos_, 8);
    pos_ += 8;
    return v;
  }

  Status read_u32(const char* what, uint32_t* out) {
    HERD_TRY(need(4, what));
    *out = take_u32();
    return Ok{};
  }
  Status read_u64(const char* what, uint64_t* out) {
    HERD_TRY(need(8, what));
    *out = take_u64();
    return Ok{};
  }

  // A gguf_string whose length must be in [min_len, max_len].
  Status read_string(const char* what, uint64_t min_len, uint64_t max_len, std::string* out) {
    uint64_t len_at = pos_;
    uint64_t len;
    HERD_TRY(read_u64(what, &len));
    if (len < min_len || len > max_len) {
      return fail(ErrorCode::kCorrupt, len_at, "%s length is %llu, expected %llu..%llu", what,
                  ull(len), ull(min_len), ull(max_len));
    }
    if (len > remaining()) {
      return fail(ErrorCode::kCorrupt, len_at,
                  "%s length is %llu, but only %llu bytes remain (file size %zu)", what, ull(len),
                  ull(remaining()), size_);
    }
    out->assign(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return Ok{};
  }

  Status read_type(const char* what, GgufType* out) {
    uint64_t at = pos_;
    uint32_t id;
    HERD_TRY(read_u32(what, &id));
    if (!is_valid_gguf_type(id)) {
      return fail(ErrorCode::kCorrupt, at, "%s is %u (0x%08x), expected 0..12", what, id, id);
    }
    *out = static_cast<GgufType>(id);
    return Ok{};
  }

  // --- header ------------------------------------------------------------------

  Status read_header(GgufFile* f) {
    where_ = "header";
    uint32_t magic;
    HERD_TRY(read_u32("magic", &magic));
    if (magic != kGgufMagic) {
      return fail(ErrorCode::kCorrupt, 0,
                  "magic is 0x%08x ('%s'), expected 0x%08x ('GGUF'); this is not a GGUF file", magic,
                  printable(std::string_view(reinterpret_cast<const char*>(data_), 4)).c_str(),
                  kGgufMagic);
    }
    uint32_t version;
    HERD_TRY(read_u32("version", &version));
    if (version == 1) {
      return fail(ErrorCode::kUnsupported, 4,
                  "GGUF version 1 (32-bit counts) is obsolete and not supported, expected 2 or 3; "
                  "reconvert the model with a current convert script");
    }
    if (version != 2 && version != 3) {
      if (__builtin_bswap32(version) >= 1 && __builtin_bswap32(version) <= 3) {
        return fail(ErrorCode::kUnsupported, 4,
                    "version reads 0x%08x, which is version %u byte-swapped: a big-endian GGUF "
                    "file; herd reads only little-endian files",
                    version, __builtin_bswap32(version));
      }
      return fail(ErrorCode::kUnsupported, 4, "version is %u, expected 2 or 3", version);
    }
    f->version_ = version;
    uint64_t tensor_count, kv_count;
    HERD_TRY(read_u64("tensor_count", &tensor_count));
    HERD_TRY(read_u64("metadata_kv_count", &kv_count));
    // Bound both counts by the file size before anything is reserved.
    uint64_t kv_min, ti_min, total_min;
    if (!checked_mul(kv_count, kMinKvBytes, &kv_min) ||
        !checked_mul(tensor_count, kMinTensorInfoBytes, &ti_min) ||
        !checked_add(kv_min, ti_min, &total_min) || total_min > remaining()) {
      return fail(ErrorCode::kCorrupt, 8,
                  "tensor_count %llu and metadata_kv_count %llu need at least %llu*%llu + "
                  "%llu*%llu bytes, but only %llu remain (file size %zu)",
                  ull(tensor_count), ull(kv_count), ull(tensor_count), ull(kMinTensorInfoBytes),
                  ull(kv_count), ull(kMinKvBytes), ull(remaining()), size_);
    }
    tensor_count_ = tensor_count;
    kv_count_ = kv_count;
    return Ok{};
  }

  // --- metadata ----------------------------------------------------------------

  Status read_metadata(GgufFile* f) {
    f->metadata_.reserve(kv_count_);
    for (uint64_t i = 0; i < kv_count_; ++i) {
      where_ = str_printf("metadata kv %llu", ull(i));
      std::string key;
      HERD_TRY(read_string("key", 1, kGgufMaxKeyLength, &key));
      where_ += " ('" + printable(key) + "')";
      if (auto it = f->key_index_.find(key); it != f->key_index_.end()) {
        return fail(ErrorCode::kCorrupt, pos_ - key.size() - 8,
                    "duplicate key; it was first defined by metadata kv %zu", it->second);
      }
      GgufType type;
      HERD_TRY(read_type("value type", &type));
      uint64_t value_at = pos_;
      GgufValue value;
      HERD_TRY(read_value(type, 1, &value));
      if (key == "general.alignment") HERD_TRY(check_alignment(value, value_at, f));
      f->key_index_.emplace(key, f->metadata_.size());
      f->metadata_.emplace_back(std::move(key), std::move(value));
    }
    return Ok{};
  }

  Status check_alignment(const GgufValue& v, uint64_t at, GgufFile* f) {
    if (v.type() != GgufType::kUint32) {
      return fail(ErrorCode::kCorrupt, at, "general.alignment has type %s, expected u32",
                  v.type_string().c_str());
    }
    uint64_t a = v.bits_;
    if (a == 0 || (a & (a - 1)) != 0) {
      return fail(ErrorCode::kCorrupt, at,
                  "general.alignment is %llu, expected a nonzero power of two", ull(a));
    }
    f->alignment_ = a;
    return Ok{};
  }

  // Reads one value of type t (its type id already consumed). depth counts
  // array nesting: 1 for a top-level value.
  Status read_value(GgufType t, int depth, GgufValue* out) {
    out->type_ = t;
    if (t == GgufType::kString) {
      return read_string("string value", 0, std::numeric_limits<uint64_t>::max(), &out->bytes_);
    }
    if (t == GgufType::kArray) return read_array(depth, out);
    size_t n = gguf_scalar_size(t);
    HERD_TRY(need(n, gguf_type_name(t)));
    std::memcpy(&out->bits_, data_ + pos_, n);
    if (t == GgufType::kBool && out->bits_ > 1) {
      return fail(ErrorCode::kCorrupt, pos_, "bool is %llu, expected 0 or 1", ull(out->bits_));
    }
    pos_ += n;
    return Ok{};
  }

  Status read_array(int depth, GgufValue* out) {
    if (depth > kGgufMaxArrayDepth) {
      return fail(ErrorCode::kCorrupt, pos_, "arrays nest %d deep, the limit is %d", depth,
                  kGgufMaxArrayDepth);
    }
    GgufType elem;
    HERD_TRY(read_type("array element type", &elem));
    uint64_t count_at = pos_;
    uint64_t count;
    HERD_TRY(read_u64("array count", &count));
    // The least each element can occupy; the array must fit in what remains.
    uint64_t elem_min = elem == GgufType::kString  ? 8
                        : elem == GgufType::kArray ? kMinArrayBytes
                                                   : gguf_scalar_size(elem);
    uint64_t min_bytes;
    if (!checked_mul(count, elem_min, &min_bytes) || min_bytes > remaining()) {
      return fail(ErrorCode::kCorrupt, count_at,
                  "array count is %llu; %llu elements of type %s need at least %llu bytes each, "
                  "but only %llu bytes remain (file size %zu)",
                  ull(count), ull(count), gguf_type_name(elem), ull(elem_min), ull(remaining()),
                  size_);
    }
    out->elem_type_ = elem;
    out->count_ = count;
    if (elem == GgufType::kString) return read_string_array(count, out);
    if (elem == GgufType::kArray) {
      if (!checked_add(nested_values_, count, &nested_values_) ||
          nested_values_ > kGgufMaxNestedValues) {
        return fail(ErrorCode::kOutOfRange, count_at,
                    "array of %llu arrays exceeds herd's limit of %llu nested array elements per "
                    "file",
                    ull(count), ull(kGgufMaxNestedValues));
      }
      out->elems_.resize(count);
      for (uint64_t i = 0; i < count; ++i) {
        out->elems_[i].type_ = GgufType::kArray;
        HERD_TRY(read_array(depth + 1, &out->elems_[i]));
      }
      return Ok{};
    }
    // Numeric and bool arrays: one copy of the packed little-endian elements.
    const uint8_t* p = data_ + pos_;
    if (elem == GgufType::kBool) {
      for (uint64_t i = 0; i < count; ++i) {
        if (p[i] > 1) {
          return fail(ErrorCode::kCorrupt, pos_ + i, "bool array element %llu is %u, expected 0 or 1",
                      ull(i), p[i]);
        }
      }
    }
    out->bytes_.assign(reinterpret_cast<const char*>(p), min_bytes);
    pos_ += min_bytes;
    return Ok{};
  }

  // Two passes so a 280k-element array costs two allocations: the first
  // validates every length and sums them, the second copies.
  Status read_string_array(uint64_t count, GgufValue* out) {
    uint64_t start = pos_;
    uint64_t total = 0;
    uint64_t p = pos_;
    for (uint64_t i = 0; i < count; ++i) {
      if (size_ - p < 8) {
        return fail(ErrorCode::kCorrupt, p,
                    "string array element %llu of %llu: length needs 8 bytes, but only %llu "
                    "remain (file size %zu); the file is truncated",
                    ull(i), ull(count), ull(size_ - p), size_);
      }
      uint64_t len;
      std::memcpy(&len, data_ + p, 8);
      if (len > size_ - p - 8) {
        return fail(ErrorCode::kCorrupt, p,
                    "string array element %llu of %llu: length is %llu, but only %llu bytes "
                    "remain (file size %zu)",
                    ull(i), ull(count), ull(len), ull(size_ - p - 8), size_);
      }
      p += 8 + len;
      total += len;  // cannot overflow: total <= p <= size_
    }
    out->bytes_.resize(total);
    out->ends_.resize(count);
    char* dst = out->bytes_.data();
    uint64_t end = 0;
    p = start;
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t len;
      std::memcpy(&len, data_ + p, 8);
      std::memcpy(dst + end, data_ + p + 8, len);
      end += len;
      out->ends_[i] = end;
      p += 8 + len;
    }
    pos_ = p;
    return Ok{};
  }

  // --- tensor infos --------------------------------------------------------------

  Status read_tensor_infos(GgufFile* f) {
    f->tensors_.reserve(tensor_count_);
    offset_field_at_.reserve(tensor_count_);
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      where_ = str_printf("tensor info %llu", ull(i));
      GgufTensor t;
      HERD_TRY(read_string("name", 1, kGgufMaxTensorNameLength, &t.name));
      where_ += " ('" + printable(t.name) + "')";
      if (auto it = f->tensor_index_.find(t.name); it != f->tensor_index_.end()) {
        return fail(ErrorCode::kCorrupt, pos_ - t.name.size() - 8,
                    "duplicate tensor name; it was first used by tensor info %zu", it->second);
      }
      uint64_t at = pos_;
      uint32_t n_dims;
      HERD_TRY(read_u32("n_dims", &n_dims));
      if (n_dims < 1 || n_dims > static_cast<uint32_t>(kGgufMaxDims)) {
        return fail(ErrorCode::kCorrupt, at, "n_dims is %u, expected 1..%d", n_dims, kGgufMaxDims);
      }
      uint64_t ne[kGgufMaxDims];
      uint64_t numel = 1;
      at = pos_;
      for (uint32_t d = 0; d < n_dims; ++d) {
        HERD_TRY(read_u64("ne", &ne[d]));
        if (ne[d] == 0 || ne[d] > kMaxInt64) {
          return fail(ErrorCode::kCorrupt, pos_ - 8, "ne[%u] is %llu, expected 1..2^63-1", d,
                      ull(ne[d]));
        }
        if (!checked_mul(numel, ne[d], &numel) || numel > kMaxInt64) {
          return fail(ErrorCode::kCorrupt, at, "element count of ne %s overflows int64",
                      ne_string(ne, d + 1).c_str());
        }
      }
      at = pos_;
      uint32_t type_id;
      HERD_TRY(read_u32("type", &type_id));
      const std::optional<DType> dtype = dtype_from_ggml(type_id);
      if (!dtype) {
        const char* ggml_name = ggml_type_name(type_id);
        if (ggml_name) {
          return fail(ErrorCode::kUnsupported, at,
                      "type id %u (ggml %s) is not a type herd supports; supported: %s", type_id,
                      ggml_name, supported_dtype_list().c_str());
        }
        return fail(ErrorCode::kCorrupt, at, "type id %u (0x%08x) is not a ggml type", type_id,
                    type_id);
      }
      t.dtype = *dtype;
      const DTypeInfo& info = dtype_info(t.dtype);
      if (ne[0] % static_cast<uint64_t>(info.block_elems) != 0) {
        return fail(ErrorCode::kCorrupt, at,
                    "ne[0] (the contiguous dimension) is %llu, not a multiple of the %s block "
                    "size %lld",
                    ull(ne[0]), info.name, static_cast<long long>(info.block_elems));
      }
      // nbytes = ne[0] / block_elems * block_bytes * ne[1] * ... (CVE-2026-33298 class).
      uint64_t nbytes = ne[0] / static_cast<uint64_t>(info.block_elems);
      bool ok = checked_mul(nbytes, static_cast<uint64_t>(info.block_bytes), &nbytes);
      for (uint32_t d = 1; ok && d < n_dims; ++d) ok = checked_mul(nbytes, ne[d], &nbytes);
      if (!ok || nbytes > kMaxInt64) {
        return fail(ErrorCode::kCorrupt, at, "byte size of a %s tensor with ne %s overflows int64",
                    info.name, ne_string(ne, n_dims).c_str());
      }
      t.nbytes = nbytes;
      at = pos_;
      HERD_TRY(read_u64("offset", &t.offset));
      if (t.offset % f->alignment_ != 0) {
        return fail(ErrorCode::kCorrupt, at, "offset is %llu, not a multiple of the alignment %llu",
                    ull(t.offset), ull(f->alignment_));
      }
      t.shape.resize(n_dims);
      for (uint32_t d = 0; d < n_dims; ++d) t.shape[d] = static_cast<int64_t>(ne[n_dims - 1 - d]);
      offset_field_at_.push_back(at);
      f->tensor_index_.emplace(t.name, f->tensors_.size());
      f->tensors_.push_back(std::move(t));
    }
    return Ok{};
  }

  static std::string ne_string(const uint64_t* ne, uint32_t n) {
    std::string s = "[";
    for (uint32_t d = 0; d < n; ++d) s += (d ? ", " : "") + std::to_string(ne[d]);
    return s + "]";
  }

  // --- tensor data ---------------------------------------------------------------

  Status check_tensor_data(GgufFile* f) {
    uint64_t infos_end = pos_;
    where_ = "tensor data";
    if (!checked_align_up(infos_end, f->alignment_, &f->data_offset_)) {
      return fail(ErrorCode::kCorrupt, infos_end, "aligning the data start to %llu overflows",
                  ull(f->alignment_));
    }
    if (f->tensors_.empty()) return Ok{};
    if (f->data_offset_ > size_) {
      return fail(ErrorCode::kCorrupt, infos_end,
                  "tensor data starts at %llu (infos end at %llu, aligned to %llu), past the end "
                  "of the file (%zu bytes)",
                  ull(f->data_offset_), ull(infos_end), ull(f->alignment_), size_);
    }
    for (size_t i = 0; i < f->tensors_.size(); ++i) {
      GgufTensor& t = f->tensors_[i];
      uint64_t begin, end;
      if (!checked_add(f->data_offset_, t.offset, &begin) ||
          !checked_add(begin, t.nbytes, &end) || end > size_) {
        where_ = str_printf("tensor info %zu ('%s')", i, printable(t.name).c_str());
        return fail(ErrorCode::kCorrupt, offset_field_at_[i],
                    "data at offset %llu + %llu (data start) with %llu bytes extends past the end "
                    "of the file (%zu bytes)",
                    ull(t.offset), ull(f->data_offset_), ull(t.nbytes), size_);
      }
      t.data = data_ + begin;
    }
    std::vector<size_t> order(f->tensors_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return f->tensors_[a].offset < f->tensors_[b].offset;
    });
    for (size_t k = 1; k < order.size(); ++k) {
      const GgufTensor& prev = f->tensors_[order[k - 1]];
      const GgufTensor& cur = f->tensors_[order[k]];
      if (prev.offset + prev.nbytes > cur.offset) {  // no overflow: checked against size_ above
        where_ = str_printf("tensor info %zu ('%s')", order[k], printable(cur.name).c_str());
        return fail(ErrorCode::kCorrupt, offset_field_at_[order[k]],
                    "data [%llu, %llu) overlaps tensor info %zu ('%s') at [%llu, %llu) (offsets "
                    "relative to the data start)",
                    ull(cur.offset), ull(cur.offset + cur.nbytes), order[k - 1],
                    printable(prev.name).c_str(), ull(prev.offset), ull(prev.offset + prev.nbytes));
      }
    }
    return Ok{};
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string where_;  // the item being read, for error messages
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  uint64_t nested_values_ = 0;
  std::vector<uint64_t> offset_field_at_;  // file offset of each tensor's offset field
};

}  // namespace detail

Result<GgufFile> GgufFile::parse(const uint8_t* data, size_t size) {
  static const uint8_t kEmpty = 0;
  if (!data) {
    if (size) return err(ErrorCode::kInvalidArgument, "GgufFile::parse: null data with size %zu", size);
    data = &kEmpty;
  }
  GgufFile f;
  detail::GgufParser parser(data, size);
  HERD_TRY(parser.run(&f));
  return f;
}

Result<GgufFile> GgufFile::open(const std::string& path) {
  Result<MappedFile> mapped = MappedFile::open(path);
  if (!mapped) return std::move(mapped).error().with_context("opening GGUF file " + path);
  Result<GgufFile> parsed = parse(mapped->data(), mapped->size());
  if (!parsed) return std::move(parsed).error().with_context("reading GGUF file " + path);
  parsed->file_ = std::move(*mapped);  // the bytes do not move, so tensor pointers stay valid
  return parsed;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

// Runs an accessor on the value of `key`, naming the key in any error.
template <typename T, typename Fn>
Result<T> get_as(const GgufFile& f, std::string_view key, Fn fn) {
  const GgufValue* v = f.find(key);
  if (!v) {
    return err(ErrorCode::kNotFound, "metadata key '%.*s' is missing", static_cast<int>(key.size()),
               key.data());
  }
  Result<T> r = fn(*v);
  if (!r) {
    return err(r.error().code(), "metadata key '%.*s': %s", static_cast<int>(key.size()),
               key.data(), r.error().message().c_str());
  }
  return r;
}

}  // namespace

Result<uint64_t> GgufFile::get_uint(std::string_view key) const {
  return get_as<uint64_t>(*this, key, [](const GgufValue& v) { return v.as_uint(); });
}
Result<int64_t> GgufFile::get_int(std::string_view key) const {
  return get_as<int64_t>(*this, key, [](const GgufValue& v) { return v.as_int(); });
}
Result<double> GgufFile::get_float(std::string_view key) const {
  return get_as<double>(*this, key, [](const GgufValue& v) { return v.as_float(); });
}
Result<std::string> GgufFile::get_string(std::string_view key) const {
  return get_as<std::string>(*this, key, [](const GgufValue& v) { return v.as_string(); });
}
Result<bool> GgufFile::get_bool(std::string_view key) const {
  return get_as<bool>(*this, key, [](const GgufValue& v) -> Result<bool> {
    if (v.type() != GgufType::kBool) {
      return err(ErrorCode::kInvalidArgument, "expected bool, found %s", v.type_string().c_str());
    }
    return v.as_bool();
  });
}

}  // namespace herd::formats
