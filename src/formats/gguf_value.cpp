// GgufValue: typed accessors, constructors, display and encoding.
//
// Scalars are kept as raw little-endian bits and decoded on access, so a value
// read from a file and written back is bit-identical (NaN payloads included).
#include <cmath>
#include <cstring>
#include <limits>

#include "base/check.h"
#include "base/half.h"
#include "formats/gguf.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "GGUF code assumes a little-endian host");

namespace herd::formats {

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::kUint8: return "u8";
    case GgufType::kInt8: return "i8";
    case GgufType::kUint16: return "u16";
    case GgufType::kInt16: return "i16";
    case GgufType::kUint32: return "u32";
    case GgufType::kInt32: return "i32";
    case GgufType::kFloat32: return "f32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "u64";
    case GgufType::kInt64: return "i64";
    case GgufType::kFloat64: return "f64";
  }
  return "unknown type";
}

bool is_valid_gguf_type(uint32_t id) { return id <= static_cast<uint32_t>(GgufType::kFloat64); }

size_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool: return 1;
    case GgufType::kUint16:
    case GgufType::kInt16: return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32: return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64: return 8;
    case GgufType::kString:
    case GgufType::kArray: return 0;
  }
  return 0;
}

namespace {

// ggml's ids (ggml.h enum ggml_type) of the DTypes it has.
constexpr struct {
  DType dtype;
  uint32_t ggml;
} kGgmlIds[] = {
    {DType::kF32, 0},   {DType::kF16, 1},   {DType::kQ4_0, 2},  {DType::kQ4_1, 3},  {DType::kQ5_0, 6},  {DType::kQ5_1, 7},
    {DType::kQ8_0, 8},  {DType::kQ4_K, 12}, {DType::kQ5_K, 13}, {DType::kQ6_K, 14}, {DType::kBF16, 30},
};

}  // namespace

std::optional<uint32_t> ggml_type_id(DType t) {
  for (const auto& m : kGgmlIds)
    if (m.dtype == t) return m.ggml;
  return std::nullopt;
}

std::optional<DType> dtype_from_ggml(uint32_t ggml_type) {
  for (const auto& m : kGgmlIds)
    if (m.ggml == ggml_type) return m.dtype;
  return std::nullopt;
}

const char* ggml_type_name(uint32_t ggml_type) {
  // ggml's type ids (ggml.h); nullptr marks ids that were never assigned or were retired.
  static const char* const kNames[] = {
      "f32",     "f16",    "q4_0",    "q4_1",  nullptr, nullptr, "q5_0",  "q5_1",   "q8_0",
      "q8_1",    "q2_K",   "q3_K",    "q4_K",  "q5_K",  "q6_K",  "q8_K",  "iq2_xxs", "iq2_xs",
      "iq3_xxs", "iq1_s",  "iq4_nl",  "iq3_s", "iq2_s", "iq4_xs", "i8",   "i16",     "i32",
      "i64",     "f64",    "iq1_m",   "bf16",  nullptr, nullptr, nullptr, "tq1_0",  "tq2_0",
      nullptr,   nullptr,  nullptr,   "mxfp4", "nvfp4", "q1_0",
  };
  if (ggml_type >= sizeof kNames / sizeof kNames[0]) return nullptr;
  return kNames[ggml_type];
}

namespace {

bool is_integer_type(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kUint16:
    case GgufType::kInt16:
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kUint64:
    case GgufType::kInt64: return true;
    default: return false;
  }
}

bool is_numeric_type(GgufType t) {
  return is_integer_type(t) || t == GgufType::kFloat32 || t == GgufType::kFloat64 ||
         t == GgufType::kBool;
}

uint64_t load_bits(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  std::memcpy(&v, p, n);  // little-endian host: low bytes first
  return v;
}

// The integer value of raw bits of integer type t, widened so both u64 and i64 fit.
__int128 int_of(GgufType t, uint64_t bits) {
  switch (t) {
    case GgufType::kInt8: return static_cast<int8_t>(static_cast<uint8_t>(bits));
    case GgufType::kInt16: return static_cast<int16_t>(static_cast<uint16_t>(bits));
    case GgufType::kInt32: return static_cast<int32_t>(static_cast<uint32_t>(bits));
    case GgufType::kInt64: return static_cast<int64_t>(bits);
    default: return static_cast<__int128>(bits);  // unsigned types are zero-extended
  }
}

double float_of(GgufType t, uint64_t bits) {
  if (t == GgufType::kFloat32) return bits_to_float(static_cast<uint32_t>(bits));
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

std::string int_to_string(__int128 v) {
  if (v < 0) return str_printf("%lld", static_cast<long long>(v));
  return str_printf("%llu", static_cast<unsigned long long>(v));
}

// Shortest decimal that reads back to the same float (so 1e-5f prints as 1e-05).
std::string float_to_string(GgufType t, uint64_t bits) {
  double d = float_of(t, bits);
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Whole numbers print in full (500000, not 5e+05) while they are exact.
  if (d == std::floor(d) && std::fabs(d) < 1e15) return str_printf("%.0f", d);
  int max_digits = t == GgufType::kFloat32 ? 9 : 17;
  for (int p = 1; p < max_digits; ++p) {
    std::string s = str_printf("%.*g", p, d);
    if (t == GgufType::kFloat32 ? std::strtof(s.c_str(), nullptr) == static_cast<float>(d)
                                : std::strtod(s.c_str(), nullptr) == d) {
      return s;
    }
  }
  return str_printf("%.*g", max_digits, d);
}

std::string scalar_to_string(GgufType t, uint64_t bits) {
  if (t == GgufType::kBool) return bits ? "true" : "false";
  if (t == GgufType::kFloat32 || t == GgufType::kFloat64) return float_to_string(t, bits);
  return int_to_string(int_of(t, bits));
}

std::string quote(std::string_view s) {
  constexpr size_t kMaxShown = 256;
  std::string out = "\"";
  size_t n = s.size() < kMaxShown ? s.size() : kMaxShown;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += str_printf("\\x%02x", c);
    } else {
      out += static_cast<char>(c);  // UTF-8 bytes pass through for the terminal
    }
  }
  out += '"';
  if (n < s.size()) out += str_printf("...(%zu bytes)", s.size());
  return out;
}

Error type_mismatch(const GgufValue& v, const char* wanted) {
  return err(ErrorCode::kInvalidArgument, "expected %s, found %s", wanted, v.type_string().c_str());
}

}  // namespace

bool GgufValue::is_integer() const { return is_integer_type(type_); }

Result<uint64_t> GgufValue::as_uint() const {
  if (!is_integer_type(type_)) return type_mismatch(*this, "an unsigned integer");
  __int128 v = int_of(type_, bits_);
  if (v < 0) {
    return err(ErrorCode::kInvalidArgument, "expected a non-negative integer, found %s %s",
               gguf_type_name(type_), int_to_string(v).c_str());
  }
  return static_cast<uint64_t>(v);
}

Result<int64_t> GgufValue::as_int() const {
  if (!is_integer_type(type_)) return type_mismatch(*this, "an integer");
  __int128 v = int_of(type_, bits_);
  if (v > std::numeric_limits<int64_t>::max()) {
    return err(ErrorCode::kInvalidArgument, "integer %s does not fit in int64",
               int_to_string(v).c_str());
  }
  return static_cast<int64_t>(v);
}

Result<double> GgufValue::as_float() const {
  if (type_ == GgufType::kFloat32 || type_ == GgufType::kFloat64) return float_of(type_, bits_);
  if (is_integer_type(type_)) return static_cast<double>(int_of(type_, bits_));
  return type_mismatch(*this, "a number");
}

Result<std::string> GgufValue::as_string() const {
  if (type_ != GgufType::kString) return type_mismatch(*this, "a string");
  return bytes_;
}

std::string_view GgufValue::as_string_view() const {
  if (type_ != GgufType::kString) return {};
  return bytes_;
}

std::string_view GgufValue::string_at(size_t i) const {
  HERD_CHECK(type_ == GgufType::kArray && elem_type_ == GgufType::kString && i < count_,
             "string_at(%zu) on %s of size %llu", i, type_string().c_str(),
             static_cast<unsigned long long>(count_));
  uint64_t begin = i == 0 ? 0 : ends_[i - 1];
  return std::string_view(bytes_).substr(begin, ends_[i] - begin);
}

const uint8_t* GgufValue::array_data() const {
  if (type_ != GgufType::kArray || !is_numeric_type(elem_type_)) return nullptr;
  return reinterpret_cast<const uint8_t*>(bytes_.data());
}

Result<std::vector<std::string>> GgufValue::as_string_array() const {
  if (type_ != GgufType::kArray || elem_type_ != GgufType::kString) {
    return type_mismatch(*this, "array<string>");
  }
  std::vector<std::string> out;
  out.reserve(count_);
  for (size_t i = 0; i < count_; ++i) out.emplace_back(string_at(i));
  return out;
}

Result<std::vector<int64_t>> GgufValue::as_int_array() const {
  if (type_ != GgufType::kArray || !is_integer_type(elem_type_)) {
    return type_mismatch(*this, "an array of integers");
  }
  size_t sz = gguf_scalar_size(elem_type_);
  std::vector<int64_t> out(count_);
  const uint8_t* p = array_data();
  for (size_t i = 0; i < count_; ++i) {
    __int128 v = int_of(elem_type_, load_bits(p + i * sz, sz));
    if (v > std::numeric_limits<int64_t>::max()) {
      return err(ErrorCode::kInvalidArgument, "array element %zu (%s) does not fit in int64", i,
                 int_to_string(v).c_str());
    }
    out[i] = static_cast<int64_t>(v);
  }
  return out;
}

Result<std::vector<double>> GgufValue::as_float_array() const {
  if (type_ != GgufType::kArray ||
      !(is_integer_type(elem_type_) || elem_type_ == GgufType::kFloat32 ||
        elem_type_ == GgufType::kFloat64)) {
    return type_mismatch(*this, "an array of numbers");
  }
  size_t sz = gguf_scalar_size(elem_type_);
  std::vector<double> out(count_);
  const uint8_t* p = array_data();
  bool is_float = elem_type_ == GgufType::kFloat32 || elem_type_ == GgufType::kFloat64;
  for (size_t i = 0; i < count_; ++i) {
    uint64_t bits = load_bits(p + i * sz, sz);
    out[i] = is_float ? float_of(elem_type_, bits) : static_cast<double>(int_of(elem_type_, bits));
  }
  return out;
}

std::string GgufValue::type_string() const {
  if (type_ != GgufType::kArray) return gguf_type_name(type_);
  return std::string("array<") + gguf_type_name(elem_type_) + ">";
}

std::string GgufValue::to_display_string(size_t max_elems) const {
  if (type_ == GgufType::kString) return quote(bytes_);
  if (type_ != GgufType::kArray) return scalar_to_string(type_, bits_);
  std::string out = str_printf("[%s x %llu] [", gguf_type_name(elem_type_),
                               static_cast<unsigned long long>(count_));
  uint64_t shown = count_ < max_elems ? count_ : max_elems;
  size_t sz = gguf_scalar_size(elem_type_);
  for (uint64_t i = 0; i < shown; ++i) {
    if (i) out += ", ";
    if (elem_type_ == GgufType::kString) {
      out += quote(string_at(i));
    } else if (elem_type_ == GgufType::kArray) {
      out += elems_[i].to_display_string(max_elems);
    } else {
      out += scalar_to_string(elem_type_, load_bits(array_data() + i * sz, sz));
    }
  }
  if (shown < count_) out += shown ? ", ..." : "...";
  return out + "]";
}

bool GgufValue::operator==(const GgufValue& o) const {
  return type_ == o.type_ && elem_type_ == o.elem_type_ && bits_ == o.bits_ &&
         count_ == o.count_ && bytes_ == o.bytes_ && ends_ == o.ends_ && elems_ == o.elems_;
}

// --- constructors ------------------------------------------------------------

GgufValue GgufValue::scalar(GgufType t, uint64_t bits) {
  GgufValue v;
  v.type_ = t;
  v.bits_ = bits;
  return v;
}

GgufValue GgufValue::u8(uint8_t x) { return scalar(GgufType::kUint8, x); }
GgufValue GgufValue::i8(int8_t x) { return scalar(GgufType::kInt8, static_cast<uint8_t>(x)); }
GgufValue GgufValue::u16(uint16_t x) { return scalar(GgufType::kUint16, x); }
GgufValue GgufValue::i16(int16_t x) { return scalar(GgufType::kInt16, static_cast<uint16_t>(x)); }
GgufValue GgufValue::u32(uint32_t x) { return scalar(GgufType::kUint32, x); }
GgufValue GgufValue::i32(int32_t x) { return scalar(GgufType::kInt32, static_cast<uint32_t>(x)); }
GgufValue GgufValue::u64(uint64_t x) { return scalar(GgufType::kUint64, x); }
GgufValue GgufValue::i64(int64_t x) { return scalar(GgufType::kInt64, static_cast<uint64_t>(x)); }
GgufValue GgufValue::f32(float x) { return scalar(GgufType::kFloat32, float_to_bits(x)); }
GgufValue GgufValue::f64(double x) {
  uint64_t b;
  std::memcpy(&b, &x, 8);
  return scalar(GgufType::kFloat64, b);
}
GgufValue GgufValue::boolean(bool x) { return scalar(GgufType::kBool, x ? 1 : 0); }

GgufValue GgufValue::string(std::string x) {
  GgufValue v;
  v.type_ = GgufType::kString;
  v.bytes_ = std::move(x);
  return v;
}

GgufValue GgufValue::numeric_array(GgufType elem, const void* data, size_t count) {
  GgufValue v;
  v.type_ = GgufType::kArray;
  v.elem_type_ = elem;
  v.count_ = count;
  if (count) v.bytes_.assign(static_cast<const char*>(data), count * gguf_scalar_size(elem));
  return v;
}

GgufValue GgufValue::string_array(const std::vector<std::string>& x) {
  GgufValue v;
  v.type_ = GgufType::kArray;
  v.elem_type_ = GgufType::kString;
  v.count_ = x.size();
  size_t total = 0;
  for (const auto& s : x) total += s.size();
  v.bytes_.reserve(total);
  v.ends_.reserve(x.size());
  for (const auto& s : x) {
    v.bytes_ += s;
    v.ends_.push_back(v.bytes_.size());
  }
  return v;
}

#define HERD_GGUF_NUMERIC_ARRAY(fn, ctype, gtype) \
  GgufValue GgufValue::fn(const std::vector<ctype>& x) { return numeric_array(gtype, x.data(), x.size()); }
HERD_GGUF_NUMERIC_ARRAY(u8_array, uint8_t, GgufType::kUint8)
HERD_GGUF_NUMERIC_ARRAY(i8_array, int8_t, GgufType::kInt8)
HERD_GGUF_NUMERIC_ARRAY(u16_array, uint16_t, GgufType::kUint16)
HERD_GGUF_NUMERIC_ARRAY(i16_array, int16_t, GgufType::kInt16)
HERD_GGUF_NUMERIC_ARRAY(u32_array, uint32_t, GgufType::kUint32)
HERD_GGUF_NUMERIC_ARRAY(i32_array, int32_t, GgufType::kInt32)
HERD_GGUF_NUMERIC_ARRAY(u64_array, uint64_t, GgufType::kUint64)
HERD_GGUF_NUMERIC_ARRAY(i64_array, int64_t, GgufType::kInt64)
HERD_GGUF_NUMERIC_ARRAY(f32_array, float, GgufType::kFloat32)
HERD_GGUF_NUMERIC_ARRAY(f64_array, double, GgufType::kFloat64)
#undef HERD_GGUF_NUMERIC_ARRAY

GgufValue GgufValue::bool_array(const std::vector<bool>& x) {
  std::vector<uint8_t> bytes(x.begin(), x.end());
  return numeric_array(GgufType::kBool, bytes.data(), bytes.size());
}

GgufValue GgufValue::array_of_arrays(std::vector<GgufValue> elems) {
  for (const auto& e : elems) {
    HERD_CHECK(e.type_ == GgufType::kArray, "array_of_arrays: element is %s, not an array",
               e.type_string().c_str());
  }
  GgufValue v;
  v.type_ = GgufType::kArray;
  v.elem_type_ = GgufType::kArray;
  v.count_ = elems.size();
  v.elems_ = std::move(elems);
  return v;
}

GgufValue GgufValue::empty_array(GgufType elem_type) {
  GgufValue v;
  v.type_ = GgufType::kArray;
  v.elem_type_ = elem_type;
  return v;
}

// --- encoding ----------------------------------------------------------------

namespace {
void put_u32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }
}  // namespace

void GgufValue::encode(std::string* out) const {
  switch (type_) {
    case GgufType::kString:
      put_u64(out, bytes_.size());
      out->append(bytes_);
      return;
    case GgufType::kArray:
      put_u32(out, static_cast<uint32_t>(elem_type_));
      put_u64(out, count_);
      if (elem_type_ == GgufType::kString) {
        for (size_t i = 0; i < count_; ++i) {
          std::string_view s = string_at(i);
          put_u64(out, s.size());
          out->append(s);
        }
      } else if (elem_type_ == GgufType::kArray) {
        for (const auto& e : elems_) e.encode(out);
      } else {
        out->append(bytes_);
      }
      return;
    default:
      out->append(reinterpret_cast<const char*>(&bits_), gguf_scalar_size(type_));
      return;
  }
}

}  // namespace herd::formats
