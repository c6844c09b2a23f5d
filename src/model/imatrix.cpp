// ImatrixCollector and the imatrix readers and writers, .dat and GGUF (model/imatrix.h).
#include "model/imatrix.h"

#include <cmath>
#include <cstring>
#include <algorithm>
#include <set>
#include <utility>

#include "base/mapped_file.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"

namespace herd::model {

void ImatrixCollector::begin_eval(int64_t n_tokens) {
  active_ = n_tokens >= 16;
  if (active_) ++evals_;
}

void ImatrixCollector::tap(const std::string& name, const float* data, int64_t rows, int64_t cols) {
  if (!active_) return;
  const bool layer = name.compare(0, 4, "blk.") == 0 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
  if (!layer && !(process_output_ && name == "output.weight")) return;
  auto [it, fresh] = stats_.try_emplace(name);
  Stat& s = it->second;
  if (fresh) {
    order_.push_back(name);
    s.sum.assign(static_cast<size_t>(cols), 0.0);
  }
  if (static_cast<int64_t>(s.sum.size()) != cols) return;  // a matrix has one width
  if (s.last_eval != evals_) {
    s.last_eval = evals_;
    ++s.ncall;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = data + r * cols;
    for (int64_t j = 0; j < cols; ++j) s.sum[static_cast<size_t>(j)] += static_cast<double>(x[j]) * x[j];
  }
  s.rows += rows;
}

ImatrixFile ImatrixCollector::result(int32_t chunks, const std::string& dataset, bool gguf, int32_t chunk_size) const {
  ImatrixFile f;
  f.gguf = gguf;
  f.chunks = chunks;
  f.chunk_size = chunk_size;
  f.dataset = dataset;
  for (const std::string& name : order_) {
    const Stat& s = stats_.at(name);
    if (s.rows == 0) continue;
    ImatrixEntry e;
    e.name = name;
    e.ncall = s.ncall;
    e.count = static_cast<float>(s.rows);
    for (double v : s.sum)
      e.values.push_back(static_cast<float>(gguf ? v : v / static_cast<double>(s.rows) * s.ncall));
    f.entries.push_back(std::move(e));
  }
  return f;
}

std::vector<float> imatrix_importance(const ImatrixFile& f, const ImatrixEntry& e) {
  std::vector<float> w = e.values;
  if (f.gguf) {
    for (float& v : w) v = e.count > 0.0f ? v / e.count : 1.0f;
  } else {
    for (float& v : w) v /= static_cast<float>(e.ncall);
  }
  return w;
}

namespace {

void put_i32(std::string& out, int32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

Status write_imatrix_gguf(const std::string& path, const ImatrixFile& f) {
  formats::GgufWriter w;
  w.set("general.type", formats::GgufValue::string("imatrix"));
  w.set("imatrix.datasets", formats::GgufValue::string_array({f.dataset}));
  w.set("imatrix.chunk_count", formats::GgufValue::u32(static_cast<uint32_t>(f.chunks)));
  w.set("imatrix.chunk_size", formats::GgufValue::u32(static_cast<uint32_t>(f.chunk_size)));
  std::vector<const ImatrixEntry*> sorted;
  for (const ImatrixEntry& e : f.entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const ImatrixEntry* a, const ImatrixEntry* b) { return a->name < b->name; });
  for (const ImatrixEntry* e : sorted) {
    HERD_TRY(w.add_tensor(e->name + ".in_sum2", DType::kF32, {1, static_cast<int64_t>(e->values.size())},
                          [e](uint8_t* dst, uint64_t n) -> Status {
                            std::memcpy(dst, e->values.data(), static_cast<size_t>(n));
                            return Ok{};
                          }));
    HERD_TRY(w.add_tensor(e->name + ".counts", DType::kF32, {1, 1}, [e](uint8_t* dst, uint64_t) -> Status {
      std::memcpy(dst, &e->count, 4);
      return Ok{};
    }));
  }
  return w.write(path);
}

Result<ImatrixFile> parse_imatrix_gguf(const uint8_t* d, size_t n, const std::string& path) {
  Result<formats::GgufFile> g = formats::GgufFile::parse(d, n);
  if (!g.has_value()) return std::move(g.error().with_context(path));
  ImatrixFile f;
  f.gguf = true;
  Result<std::string> type = g->get_string("general.type");
  if (!type.has_value() || *type != "imatrix")
    return err(ErrorCode::kInvalidArgument, "%s is a GGUF file but not an imatrix (general.type is not \"imatrix\")",
               path.c_str());
  for (auto [key, dst] : {std::pair{"imatrix.chunk_count", &f.chunks}, std::pair{"imatrix.chunk_size", &f.chunk_size}}) {
    Result<uint64_t> v = g->get_uint(key);
    if (!v.has_value() || *v > 0x7fffffffu)
      return err(ErrorCode::kCorrupt, "%s: %s is missing or out of range", path.c_str(), key);
    *dst = static_cast<int32_t>(*v);
  }
  if (const formats::GgufValue* ds = g->find("imatrix.datasets"))
    if (Result<std::vector<std::string>> names = ds->as_string_array(); names.has_value() && !names->empty())
      f.dataset = names->back();
  for (const formats::GgufTensor& t : g->tensors()) {
    const std::string suffix = ".in_sum2";
    if (t.name.size() <= suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    ImatrixEntry e;
    e.name = t.name.substr(0, t.name.size() - suffix.size());
    const formats::GgufTensor* c = g->find_tensor(e.name + ".counts");
    if (t.dtype != DType::kF32 || t.shape.size() != 2 || t.shape[0] != 1 || !c || c->dtype != DType::kF32 || c->shape.size() != 2 ||
        c->shape[0] != 1 || c->shape[1] != 1)
      return err(ErrorCode::kUnsupported, "%s: '%s' needs an F32 in_sum2 of one matrix [1, n] and an F32 counts [1, 1] "
                 "(herd reads dense models' imatrix files)", path.c_str(), e.name.c_str());
    const int64_t cols = t.shape[1];
    e.values.resize(static_cast<size_t>(cols));
    std::memcpy(e.values.data(), t.data, static_cast<size_t>(cols) * 4);
    std::memcpy(&e.count, c->data, 4);
    if (!(std::isfinite(e.count) && e.count >= 0))
      return err(ErrorCode::kCorrupt, "%s: '%s' counts %g rows", path.c_str(), e.name.c_str(), static_cast<double>(e.count));
    for (float v : e.values)
      if (!(std::isfinite(v) && v >= 0))
        return err(ErrorCode::kCorrupt, "%s: entry '%s' holds %g, not a finite non-negative sum of squares",
                   path.c_str(), e.name.c_str(), static_cast<double>(v));
    f.entries.push_back(std::move(e));
  }
  if (f.entries.empty()) return err(ErrorCode::kCorrupt, "%s: an imatrix GGUF with no <name>.in_sum2 tensors", path.c_str());
  return f;
}

Status write_imatrix_dat(const std::string& path, const ImatrixFile& f) {
  std::string out;
  put_i32(out, static_cast<int32_t>(f.entries.size()));
  for (const ImatrixEntry& e : f.entries) {
    put_i32(out, static_cast<int32_t>(e.name.size()));
    out += e.name;
    put_i32(out, e.ncall);
    put_i32(out, static_cast<int32_t>(e.values.size()));
    out.append(reinterpret_cast<const char*>(e.values.data()), e.values.size() * sizeof(float));
  }
  put_i32(out, f.chunks);
  put_i32(out, static_cast<int32_t>(f.dataset.size()));
  out += f.dataset;
  // Written whole to a temporary name, then renamed: an interrupted run leaves no half file.
  const std::string tmp = path + ".tmp";
  HERD_TRY(write_file(tmp, out.data(), out.size()));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return err(ErrorCode::kIo, "cannot rename %s to %s: %s", tmp.c_str(), path.c_str(), std::strerror(errno));
  return Ok{};
}

Result<ImatrixFile> parse_imatrix_dat(const uint8_t* d, size_t n, const std::string& path) {
  size_t at = 0;
  auto i32 = [&](const char* what) -> Result<int32_t> {
    if (n - at < 4) return err(ErrorCode::kCorrupt, "%s: ends before %s (byte %zu)", path.c_str(), what, at);
    int32_t v;
    std::memcpy(&v, d + at, 4);
    at += 4;
    return v;
  };
  auto bytes = [&](int32_t len, const char* what) -> Result<std::string> {
    if (len < 0 || static_cast<size_t>(len) > n - at)
      return err(ErrorCode::kCorrupt, "%s: %s of %d bytes runs past the end of the file", path.c_str(), what, len);
    std::string s(reinterpret_cast<const char*>(d + at), static_cast<size_t>(len));
    at += static_cast<size_t>(len);
    return s;
  };
  ImatrixFile f;
  HERD_ASSIGN_OR_RETURN(int32_t n_entries, i32("the entry count"));
  if (n_entries < 1 || static_cast<size_t>(n_entries) > n / 12)
    return err(ErrorCode::kCorrupt, "%s: %d entries cannot be in a %zu-byte imatrix file", path.c_str(), n_entries, n);
  std::set<std::string> seen;
  for (int32_t i = 0; i < n_entries; ++i) {
    ImatrixEntry e;
    HERD_ASSIGN_OR_RETURN(int32_t len, i32("a name length"));
    HERD_ASSIGN_OR_RETURN(e.name, bytes(len, "a name"));
    if (!seen.insert(e.name).second) return err(ErrorCode::kCorrupt, "%s: entry '%s' appears twice", path.c_str(), e.name.c_str());
    HERD_ASSIGN_OR_RETURN(e.ncall, i32("ncall"));
    HERD_ASSIGN_OR_RETURN(int32_t nval, i32("the value count"));
    if (e.ncall < 1 || nval < 1 || static_cast<size_t>(nval) > (n - at) / 4)
      return err(ErrorCode::kCorrupt, "%s: entry '%s' has ncall %d and %d values, which do not fit the file",
                 path.c_str(), e.name.c_str(), e.ncall, nval);
    e.values.resize(static_cast<size_t>(nval));
    std::memcpy(e.values.data(), d + at, static_cast<size_t>(nval) * 4);
    at += static_cast<size_t>(nval) * 4;
    for (float v : e.values)
      if (!(std::isfinite(v) && v >= 0))
        return err(ErrorCode::kCorrupt, "%s: entry '%s' holds %g, not a finite non-negative mean square", path.c_str(),
                   e.name.c_str(), static_cast<double>(v));
    f.entries.push_back(std::move(e));
  }
  // The trailer (chunk count, dataset name) is optional, as in llama.cpp's reader.
  if (n - at >= 4) {
    HERD_ASSIGN_OR_RETURN(f.chunks, i32("the chunk count"));
    if (n - at >= 4) {
      HERD_ASSIGN_OR_RETURN(int32_t len, i32("the dataset name length"));
      HERD_ASSIGN_OR_RETURN(f.dataset, bytes(len, "the dataset name"));
    }
  }
  return f;
}

}  // namespace

Status write_imatrix(const std::string& path, const ImatrixFile& f) {
  return f.gguf ? write_imatrix_gguf(path, f) : write_imatrix_dat(path, f);
}

Result<ImatrixFile> read_imatrix(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(MappedFile map, MappedFile::open(path));
  return parse_imatrix(map.data(), map.size(), path);
}

Result<ImatrixFile> parse_imatrix(const uint8_t* d, size_t n, const std::string& path) {
  if (n >= 4 && std::memcmp(d, "GGUF", 4) == 0) return parse_imatrix_gguf(d, n, path);
  return parse_imatrix_dat(d, n, path);
}

}  // namespace herd::model
