// safetensors reader: header validation and the tensor index.
//
// The header is parsed into a nlohmann::json DOM (bounded by the 100 MB cap)
// through a parser callback that records duplicate keys and nesting deeper
// than a valid header needs; nlohmann would otherwise keep the last of two
// equal keys silently. Every nlohmann call sits inside one try block, so no
// exception leaves this file.
#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/checked_math.h"

namespace herd::formats {

namespace {

struct DTypeRow {
  StDType t;
  const char* name;
  uint64_t size;
};
constexpr DTypeRow kStDTypes[] = {
    {StDType::kBool, "BOOL", 1},       {StDType::kU8, "U8", 1},   {StDType::kI8, "I8", 1},
    {StDType::kI16, "I16", 2},         {StDType::kU16, "U16", 2}, {StDType::kF16, "F16", 2},
    {StDType::kBF16, "BF16", 2},       {StDType::kI32, "I32", 4}, {StDType::kU32, "U32", 4},
    {StDType::kF32, "F32", 4},         {StDType::kF64, "F64", 8}, {StDType::kI64, "I64", 8},
    {StDType::kU64, "U64", 8},         {StDType::kF8E4M3, "F8_E4M3", 1},
    {StDType::kF8E5M2, "F8_E5M2", 1},
};

const DTypeRow& row_of(StDType t) {
  for (const auto& r : kStDTypes)
    if (r.t == t) return r;
  HERD_CHECK(false, "unknown StDType %d", static_cast<int>(t));
}

using Json = nlohmann::json;

// A valid header nests at most three deep: root object > entry object > shape
// array. Anything deeper is refused before the DOM grows further.
constexpr int kMaxHeaderDepth = 3;

// Records what nlohmann's DOM would hide: duplicate keys and excess nesting.
struct HeaderScan {
  std::vector<std::optional<std::set<std::string>>> stack;  // nullopt for arrays
  std::string duplicate;         // first duplicate key found, with its depth
  int duplicate_depth = 0;
  bool too_deep = false;
  bool found_duplicate = false;

  bool on_event(int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= kMaxHeaderDepth) too_deep = true;
        if (event == Json::parse_event_t::object_start) {
          stack.emplace_back(std::set<std::string>{});
        } else {
          stack.emplace_back(std::nullopt);
        }
        return !too_deep;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        return !too_deep;
      case Json::parse_event_t::key:
        if (!stack.empty() && stack.back().has_value() && parsed.is_string()) {
          const std::string& k = parsed.get_ref<const std::string&>();
          if (!stack.back()->insert(k).second && !found_duplicate) {
            found_duplicate = true;
            duplicate = k;
            duplicate_depth = depth;
          }
        }
        return true;
      case Json::parse_event_t::value:
        return true;
    }
    return true;
  }
};

const char* json_type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer: return "a negative integer";
    case Json::value_t::number_unsigned: return "a non-negative integer";
    case Json::value_t::number_float: return "a floating-point number";
    case Json::value_t::binary: return "binary";
    case Json::value_t::discarded: return "discarded";
  }
  return "unknown";
}

// Prefixes "<source>: " to a kCorrupt message.
Error corrupt(const std::string& source, std::string message) {
  return Error(ErrorCode::kCorrupt, source + ": " + message);
}

// Validates one tensor entry and fills `out` (data pointer included).
Status parse_entry(const std::string& source, const std::string& name, const Json& entry,
                   const uint8_t* buffer, uint64_t buffer_bytes, StTensor* out) {
  const std::string where = "tensor '" + name + "'";
  if (!entry.is_object()) {
    return corrupt(source, str_printf("%s: entry is %s, expected an object with dtype, shape "
                                      "and data_offsets",
                                      where.c_str(), json_type_name(entry)));
  }
  auto dt = entry.find("dtype");
  if (dt == entry.end()) return corrupt(source, where + ": missing field 'dtype'");
  if (!dt->is_string()) {
    return corrupt(source, str_printf("%s: dtype is %s, expected a string such as \"BF16\"",
                                      where.c_str(), json_type_name(*dt)));
  }
  const std::string& dtype_name = dt->get_ref<const std::string&>();
  std::optional<StDType> dtype = parse_st_dtype(dtype_name);
  if (!dtype) {
    return corrupt(source, str_printf("%s: unknown dtype \"%s\" (herd reads BOOL, U8, I8, I16, "
                                      "U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, "
                                      "F8_E5M2)",
                                      where.c_str(), dtype_name.c_str()));
  }

  auto sh = entry.find("shape");
  if (sh == entry.end()) return corrupt(source, where + ": missing field 'shape'");
  if (!sh->is_array()) {
    return corrupt(source, str_printf("%s: shape is %s, expected an array of non-negative "
                                      "integers",
                                      where.c_str(), json_type_name(*sh)));
  }
  std::vector<int64_t> shape;
  shape.reserve(sh->size());
  uint64_t numel = 1;
  bool numel_overflow = false;
  for (size_t i = 0; i < sh->size(); ++i) {
    const Json& d = (*sh)[i];
    if (!d.is_number_unsigned()) {
      return corrupt(source,
                     str_printf("%s: shape[%zu] is %s%s%s, expected a non-negative integer",
                                where.c_str(), i, json_type_name(d), d.is_number() ? " " : "",
                                d.is_number() ? d.dump().c_str() : ""));
    }
    uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return corrupt(source, str_printf("%s: shape[%zu] = %llu exceeds 2^63-1", where.c_str(), i,
                                        static_cast<unsigned long long>(v)));
    }
    shape.push_back(static_cast<int64_t>(v));
    if (!numel_overflow && !checked_mul(numel, v, &numel)) numel_overflow = true;
  }
  const std::string shape_str = shape_string(shape);
  uint64_t elem = st_dtype_size(*dtype);
  uint64_t nbytes = 0;
  if (numel_overflow || !checked_mul(numel, elem, &nbytes)) {
    return corrupt(source, str_printf("%s: shape %s of %s overflows 64-bit byte arithmetic",
                                      where.c_str(), shape_str.c_str(), dtype_name.c_str()));
  }

  auto off = entry.find("data_offsets");
  if (off == entry.end()) return corrupt(source, where + ": missing field 'data_offsets'");
  if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    return corrupt(source, str_printf("%s: data_offsets is %s, expected [begin, end] with two "
                                      "non-negative integers",
                                      where.c_str(), off->dump().substr(0, 80).c_str()));
  }
  uint64_t begin = (*off)[0].get<uint64_t>();
  uint64_t end = (*off)[1].get<uint64_t>();
  if (begin > end) {
    return corrupt(source, str_printf("%s: data_offsets [%llu, %llu] has begin > end",
                                      where.c_str(), static_cast<unsigned long long>(begin),
                                      static_cast<unsigned long long>(end)));
  }
  if (end > buffer_bytes) {
    return corrupt(source, str_printf("%s: data_offsets [%llu, %llu] end past the data buffer "
                                      "of %llu bytes (file truncated?)",
                                      where.c_str(), static_cast<unsigned long long>(begin),
                                      static_cast<unsigned long long>(end),
                                      static_cast<unsigned long long>(buffer_bytes)));
  }
  if (end - begin != nbytes) {
    return corrupt(source, str_printf("%s: data_offsets [%llu, %llu] hold %llu bytes, expected "
                                      "%llu for %s %s",
                                      where.c_str(), static_cast<unsigned long long>(begin),
                                      static_cast<unsigned long long>(end),
                                      static_cast<unsigned long long>(end - begin),
                                      static_cast<unsigned long long>(nbytes),
                                      dtype_name.c_str(), shape_str.c_str()));
  }
  out->name = name;
  out->dtype = *dtype;
  out->dtype_name = dtype_name;
  out->shape = std::move(shape);
  out->data = buffer + begin;
  out->nbytes = nbytes;
  out->data_begin = begin;
  return Ok{};
}

}  // namespace

const char* st_dtype_name(StDType t) { return row_of(t).name; }
uint64_t st_dtype_size(StDType t) { return row_of(t).size; }

std::optional<StDType> parse_st_dtype(std::string_view name) {
  for (const auto& r : kStDTypes)
    if (name == r.name) return r.t;
  return std::nullopt;
}

std::optional<DType> to_herd_dtype(StDType t) {
  switch (t) {
    case StDType::kF32: return DType::kF32;
    case StDType::kF16: return DType::kF16;
    case StDType::kBF16: return DType::kBF16;
    case StDType::kF8E4M3: return DType::kF8_E4M3;  // the row scales are separate tensors
    default: return std::nullopt;
  }
}

std::optional<StDType> from_herd_dtype(DType t) {
  switch (t) {
    case DType::kF32: return StDType::kF32;
    case DType::kF16: return StDType::kF16;
    case DType::kBF16: return StDType::kBF16;
    case DType::kF8_E4M3: return StDType::kF8E4M3;
    default: return std::nullopt;
  }
}

uint64_t StTensor::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);  // validated not to overflow
  return n;
}

std::optional<TensorView> StTensor::view() const {
  std::optional<DType> d = to_herd_dtype(dtype);
  if (!d) return std::nullopt;
  TensorView v;
  v.dtype = *d;
  v.shape = shape;
  v.data = data;
  return v;
}

const StTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(MappedFile map, MappedFile::open(path));
  HERD_ASSIGN_OR_RETURN(SafetensorsFile f, parse(map.data(), map.size(), path));
  f.map_ = std::move(map);  // the mapping's address does not change on move
  return f;
}

Result<SafetensorsFile> SafetensorsFile::parse(const uint8_t* data, size_t size,
                                               std::string_view source_view) {
  const std::string source(source_view);
  if (size < 8) {
    return corrupt(source, str_printf("file is %zu bytes, too short for the 8-byte header "
                                      "length (not a safetensors file?)",
                                      size));
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little-endian u64
  const uint64_t after_len = static_cast<uint64_t>(size) - 8;
  if (n > kMaxHeaderBytes) {
    return Error(ErrorCode::kOutOfRange,
                 str_printf("%s: header length %llu exceeds the %llu-byte limit (file size %zu; "
                            "not a safetensors file?)",
                            source.c_str(), static_cast<unsigned long long>(n),
                            static_cast<unsigned long long>(kMaxHeaderBytes), size));
  }
  if (n > after_len) {
    return corrupt(source, str_printf("header length %llu exceeds the %llu bytes after the "
                                      "length field (file truncated?)",
                                      static_cast<unsigned long long>(n),
                                      static_cast<unsigned long long>(after_len)));
  }
  if (n < 2 || data[8] != '{') {
    return corrupt(source, "header does not start with '{' (expected a JSON object)");
  }
  const char* text = reinterpret_cast<const char*>(data + 8);
  // nlohmann stops at a NUL byte as if the input ended there, which would let
  // "{}\0<anything>" through. JSON has no raw NUL anywhere, so refuse it.
  if (const void* nul = std::memchr(text, 0, n)) {
    return corrupt(source, str_printf("header holds a NUL byte at offset %zu (JSON headers are "
                                      "padded with spaces, not NULs)",
                                      static_cast<size_t>(static_cast<const char*>(nul) - text)));
  }
  const uint8_t* buffer = data + 8 + n;
  const uint64_t buffer_bytes = after_len - n;

  SafetensorsFile f;
  f.path_ = source;
  f.header_bytes_ = n;
  try {
    HeaderScan scan;
    Json root = Json::parse(
        text, text + n,
        [&scan](int depth, Json::parse_event_t event, Json& parsed) {
          return scan.on_event(depth, event, parsed);
        },
        /*allow_exceptions=*/true, /*ignore_comments=*/false);
    if (scan.too_deep) {
      return corrupt(source, str_printf("header JSON nests deeper than %d levels",
                                        kMaxHeaderDepth));
    }
    if (scan.found_duplicate) {
      if (scan.duplicate_depth <= 1) {
        return corrupt(source, "header lists tensor '" + scan.duplicate + "' more than once");
      }
      return corrupt(source, "header repeats the key '" + scan.duplicate + "' inside an entry");
    }
    if (!root.is_object()) {
      return corrupt(source, str_printf("header is %s, expected a JSON object",
                                        json_type_name(root)));
    }
    f.tensors_.reserve(root.size());
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string& name = it.key();
      if (name == "__metadata__") {
        const Json& m = it.value();
        if (!m.is_object()) {
          return corrupt(source, str_printf("__metadata__ is %s, expected an object of "
                                            "string -> string",
                                            json_type_name(m)));
        }
        for (auto mi = m.begin(); mi != m.end(); ++mi) {
          if (!mi.value().is_string()) {
            return corrupt(source, str_printf("__metadata__['%s'] is %s, expected a string",
                                              mi.key().c_str(), json_type_name(mi.value())));
          }
          f.metadata_[mi.key()] = mi.value().get<std::string>();
        }
        continue;
      }
      StTensor t;
      HERD_TRY(parse_entry(source, name, it.value(), buffer, buffer_bytes, &t));
      f.tensors_.push_back(std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    return corrupt(source, std::string("header is not valid JSON: ") + e.what());
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, source + ": reading the header: " + e.what());
  }

  std::sort(f.tensors_.begin(), f.tensors_.end(), [](const StTensor& a, const StTensor& b) {
    if (a.data_begin != b.data_begin) return a.data_begin < b.data_begin;
    if (a.nbytes != b.nbytes) return a.nbytes < b.nbytes;
    return a.name < b.name;
  });
  // Sorted by begin, a tensor overlaps an earlier one iff it starts before the
  // furthest end seen so far. Empty tensors hold no bytes and overlap nothing.
  uint64_t max_end = 0;
  const StTensor* max_owner = nullptr;
  for (const StTensor& t : f.tensors_) {
    if (t.nbytes == 0) continue;
    if (max_owner && t.data_begin < max_end) {
      return corrupt(source, str_printf("tensor '%s': data_offsets [%llu, %llu] overlap tensor "
                                        "'%s' [%llu, %llu]",
                                        t.name.c_str(),
                                        static_cast<unsigned long long>(t.data_begin),
                                        static_cast<unsigned long long>(t.data_begin + t.nbytes),
                                        max_owner->name.c_str(),
                                        static_cast<unsigned long long>(max_owner->data_begin),
                                        static_cast<unsigned long long>(max_end)));
    }
    max_end = t.data_begin + t.nbytes;
    max_owner = &t;
  }
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.by_name_.emplace(f.tensors_[i].name, i);
  return f;
}

}  // namespace herd::formats
