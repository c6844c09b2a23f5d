// ImatrixCollector and the imatrix.dat reader and writer (model/imatrix.h).
#include "model/imatrix.h"

#include <cmath>
#include <cstring>
#include <set>

#include "base/mapped_file.h"

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

ImatrixFile ImatrixCollector::result(int32_t chunks, const std::string& dataset) const {
  ImatrixFile f;
  f.chunks = chunks;
  f.dataset = dataset;
  for (const std::string& name : order_) {
    const Stat& s = stats_.at(name);
    if (s.rows == 0) continue;
    ImatrixEntry e;
    e.name = name;
    e.ncall = s.ncall;
    for (double v : s.sum) e.values.push_back(static_cast<float>(v / static_cast<double>(s.rows) * s.ncall));
    f.entries.push_back(std::move(e));
  }
  return f;
}

namespace {

void put_i32(std::string& out, int32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

}  // namespace

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

Result<ImatrixFile> read_imatrix_dat(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(MappedFile map, MappedFile::open(path));
  return parse_imatrix_dat(map.data(), map.size(), path);
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

}  // namespace herd::model
