// GgufWriter: layout and streaming of GGUF v3 files.
#include "formats/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <new>

#include "base/checked_math.h"

namespace herd::formats {

namespace {

void put_u32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }

// Array nesting depth of a value: 0 for scalars, 1 for a flat array.
int array_depth(const GgufValue& v) {
  if (!v.is_array()) return 0;
  int inner = 0;
  for (const auto& e : v.array_elems()) inner = std::max(inner, array_depth(e));
  return 1 + inner;
}

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {}

void GgufWriter::set(std::string key, GgufValue v) {
  for (auto& kv : metadata_) {
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(v));
}

Status GgufWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape,
                              FillFn fill) {
  if (name.empty() || name.size() > kGgufMaxTensorNameLength) {
    return err(ErrorCode::kInvalidArgument, "tensor name '%s' is %zu bytes, expected 1..%zu",
               name.c_str(), name.size(), kGgufMaxTensorNameLength);
  }
  for (const auto& t : tensors_) {
    if (t.name == name) {
      return err(ErrorCode::kInvalidArgument, "tensor '%s' was already added", name.c_str());
    }
  }
  if (shape.empty() || shape.size() > static_cast<size_t>(kGgufMaxDims)) {
    return err(ErrorCode::kInvalidArgument, "tensor '%s': shape %s has %zu dims, expected 1..%d",
               name.c_str(), shape_string(shape).c_str(), shape.size(), kGgufMaxDims);
  }
  if (!ggml_type_id(dtype)) {
    return err(ErrorCode::kInvalidArgument, "tensor '%s': GGUF has no type for %s", name.c_str(), dtype_name(dtype));
  }
  const DTypeInfo& info = dtype_info(dtype);
  for (int64_t d : shape) {
    if (d < 1) {
      return err(ErrorCode::kInvalidArgument, "tensor '%s': shape %s has a dimension < 1",
                 name.c_str(), shape_string(shape).c_str());
    }
  }
  if (shape.back() % info.block_elems != 0) {
    return err(ErrorCode::kInvalidArgument,
               "tensor '%s': last dimension %lld of shape %s is not a multiple of the %s block "
               "size %lld",
               name.c_str(), static_cast<long long>(shape.back()), shape_string(shape).c_str(),
               info.name, static_cast<long long>(info.block_elems));
  }
  uint64_t nbytes = static_cast<uint64_t>(shape.back() / info.block_elems);
  bool ok = checked_mul(nbytes, static_cast<uint64_t>(info.block_bytes), &nbytes);
  for (size_t d = 0; ok && d + 1 < shape.size(); ++d) {
    ok = checked_mul(nbytes, static_cast<uint64_t>(shape[d]), &nbytes);
  }
  if (!ok || nbytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return err(ErrorCode::kInvalidArgument, "tensor '%s': byte size of %s %s overflows int64",
               name.c_str(), info.name, shape_string(shape).c_str());
  }
  if (!fill) {
    return err(ErrorCode::kInvalidArgument, "tensor '%s': no fill function", name.c_str());
  }
  tensors_.push_back(PendingTensor{std::move(name), dtype, std::move(shape), nbytes, 0,
                                   std::move(fill)});
  return Ok{};
}

Result<std::string> GgufWriter::layout() {
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
    return err(ErrorCode::kInvalidArgument, "GGUF alignment %u is not a nonzero power of two",
               alignment_);
  }
  bool has_alignment_key = false;
  for (const auto& [key, value] : metadata_) {
    if (key.empty() || key.size() > kGgufMaxKeyLength) {
      return err(ErrorCode::kInvalidArgument, "metadata key of %zu bytes, expected 1..%zu",
                 key.size(), kGgufMaxKeyLength);
    }
    if (array_depth(value) > kGgufMaxArrayDepth) {
      return err(ErrorCode::kInvalidArgument, "metadata key '%s': arrays nest %d deep, limit %d",
                 key.c_str(), array_depth(value), kGgufMaxArrayDepth);
    }
    if (key == "general.alignment") {
      if (value.type() != GgufType::kUint32 || *value.as_uint() != alignment_) {
        return err(ErrorCode::kInvalidArgument,
                   "metadata general.alignment is %s %s, but the writer aligns to %u (u32)",
                   value.type_string().c_str(), value.to_display_string().c_str(), alignment_);
      }
      has_alignment_key = true;
    }
  }
  bool add_alignment_key = !has_alignment_key && alignment_ != kGgufDefaultAlignment;

  std::string h;
  put_u32(&h, kGgufMagic);
  put_u32(&h, 3);
  put_u64(&h, tensors_.size());
  put_u64(&h, metadata_.size() + (add_alignment_key ? 1 : 0));
  auto put_kv = [&h](const std::string& key, const GgufValue& v) {
    put_u64(&h, key.size());
    h += key;
    put_u32(&h, static_cast<uint32_t>(v.type()));
    v.encode(&h);
  };
  for (const auto& [key, value] : metadata_) put_kv(key, value);
  if (add_alignment_key) put_kv("general.alignment", GgufValue::u32(alignment_));

  uint64_t offset = 0;
  for (auto& t : tensors_) {
    t.offset = offset;
    put_u64(&h, t.name.size());
    h += t.name;
    put_u32(&h, static_cast<uint32_t>(t.shape.size()));
    for (size_t d = t.shape.size(); d-- > 0;) put_u64(&h, static_cast<uint64_t>(t.shape[d]));
    put_u32(&h, *ggml_type_id(t.dtype));
    put_u64(&h, t.offset);
    if (!checked_add(offset, t.nbytes, &offset) || !checked_align_up(offset, alignment_, &offset)) {
      return err(ErrorCode::kOutOfRange, "tensor data size overflows at tensor '%s'",
                 t.name.c_str());
    }
  }
  h.resize(h.size() + (alignment_ - h.size() % alignment_) % alignment_, '\0');
  return h;
}

Status GgufWriter::emit(const std::function<bool(const void*, size_t)>& sink) {
  try {
    HERD_ASSIGN_OR_RETURN(std::string header, layout());
    if (!sink(header.data(), header.size())) return err(ErrorCode::kIo, "writing the GGUF header");
    uint64_t max_nbytes = 0;
    for (const auto& t : tensors_) max_nbytes = std::max(max_nbytes, t.nbytes);
    std::unique_ptr<uint8_t[]> buf;
    if (max_nbytes) {
      buf.reset(new (std::nothrow) uint8_t[max_nbytes]);
      if (!buf) {
        return err(ErrorCode::kOutOfRange, "cannot allocate a %llu-byte tensor buffer",
                   static_cast<unsigned long long>(max_nbytes));
      }
    }
    static const char kZeros[4096] = {};
    for (auto& t : tensors_) {
      Status filled = t.fill(buf.get(), t.nbytes);
      if (!filled) {
        return std::move(filled).error().with_context("producing tensor '" + t.name + "'");
      }
      if (!sink(buf.get(), t.nbytes)) {
        return err(ErrorCode::kIo, "writing tensor '%s'", t.name.c_str());
      }
      for (uint64_t pad = (alignment_ - t.nbytes % alignment_) % alignment_; pad > 0;) {
        size_t n = pad < sizeof kZeros ? pad : sizeof kZeros;
        if (!sink(kZeros, n)) return err(ErrorCode::kIo, "writing padding after '%s'", t.name.c_str());
        pad -= n;
      }
    }
    return Ok{};
  } catch (const std::exception& e) {  // bad_alloc from a huge header, or a throwing FillFn
    return err(ErrorCode::kInternal, "writing GGUF: %s", e.what());
  }
}

Status GgufWriter::write(const std::string& path) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return err(ErrorCode::kIo, "cannot create %s: %s", tmp.c_str(), std::strerror(errno));
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  Status st = emit([f](const void* p, size_t n) { return n == 0 || std::fwrite(p, 1, n, f) == n; });
  int write_errno = errno;
  bool flushed = std::fflush(f) == 0;
  bool closed = std::fclose(f) == 0;
  if (st && (!flushed || !closed)) {
    st = err(ErrorCode::kIo, "cannot write %s: %s", tmp.c_str(), std::strerror(errno));
  } else if (!st && st.error().code() == ErrorCode::kIo) {
    st = err(ErrorCode::kIo, "cannot write %s: %s (%s)", tmp.c_str(), std::strerror(write_errno),
             st.error().message().c_str());
  }
  if (st && std::rename(tmp.c_str(), path.c_str()) != 0) {
    st = err(ErrorCode::kIo, "cannot rename %s to %s: %s", tmp.c_str(), path.c_str(),
             std::strerror(errno));
  }
  if (!st) std::remove(tmp.c_str());
  return st;
}

Result<std::string> GgufWriter::write_to_string() {
  std::string out;
  HERD_TRY(emit([&out](const void* p, size_t n) {
    out.append(static_cast<const char*>(p), n);
    return true;
  }));
  return out;
}

}  // namespace herd::formats
