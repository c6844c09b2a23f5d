// .npy writing and reading (float32 only).
#include "formats/npy.h"

#include <cstring>

#include "base/mapped_file.h"

namespace herd::formats {

NpyWriter::~NpyWriter() {
  if (f_) std::fclose(f_);
}

Status NpyWriter::open(const std::string& path, const std::vector<int64_t>& shape) {
  path_ = path;
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) return err(ErrorCode::kIo, "cannot create %s: %s", path.c_str(), std::strerror(errno));
  std::string dims;
  expected_ = 1;
  for (int64_t d : shape) {
    dims += std::to_string(d) + ", ";
    expected_ *= d;
  }
  if (shape.size() > 1) dims.resize(dims.size() - 1);  // "(2, 3)" not "(2, 3, )"
  if (shape.size() > 1) dims.pop_back();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // magic(6) + version(2) + len(2) + header + '\n' padded to a multiple of 64.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  const uint16_t len = static_cast<uint16_t>(header.size());
  const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  bool ok = std::fwrite(magic, 1, 8, f_) == 8;
  const uint8_t le[2] = {static_cast<uint8_t>(len & 0xff), static_cast<uint8_t>(len >> 8)};
  ok = ok && std::fwrite(le, 1, 2, f_) == 2 && std::fwrite(header.data(), 1, header.size(), f_) == header.size();
  if (!ok) return err(ErrorCode::kIo, "cannot write %s", path.c_str());
  return Ok{};
}

Status NpyWriter::append(const float* data, int64_t n) {
  if (written_ + n > expected_)
    return err(ErrorCode::kInternal, "%s: %lld floats written past the declared %lld", path_.c_str(),
               static_cast<long long>(written_ + n), static_cast<long long>(expected_));
  if (std::fwrite(data, sizeof(float), static_cast<size_t>(n), f_) != static_cast<size_t>(n))
    return err(ErrorCode::kIo, "cannot write %s: %s", path_.c_str(), std::strerror(errno));
  written_ += n;
  return Ok{};
}

Status NpyWriter::close() {
  if (!f_) return Ok{};
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) return err(ErrorCode::kIo, "cannot close %s", path_.c_str());
  if (written_ != expected_)
    return err(ErrorCode::kInternal, "%s: wrote %lld floats, shape needs %lld", path_.c_str(),
               static_cast<long long>(written_), static_cast<long long>(expected_));
  return Ok{};
}

Status write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  NpyWriter w;
  HERD_TRY(w.open(path, shape));
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  HERD_TRY(w.append(data, n));
  return w.close();
}

Result<NpyArray> read_npy_f32(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(MappedFile f, MappedFile::open(path));
  const uint8_t* p = f.data();
  if (f.size() < 12 || std::memcmp(p, "\x93NUMPY", 6) != 0)
    return err(ErrorCode::kCorrupt, "%s is not a .npy file", path.c_str());
  size_t hlen = p[8] | (p[9] << 8), start = 10;
  if (p[6] >= 2) {
    hlen = p[8] | (p[9] << 8) | (static_cast<size_t>(p[10]) << 16) | (static_cast<size_t>(p[11]) << 24);
    start = 12;
  }
  if (start + hlen > f.size()) return err(ErrorCode::kCorrupt, "%s: header past the end", path.c_str());
  std::string h(reinterpret_cast<const char*>(p + start), hlen);
  if (h.find("'<f4'") == std::string::npos || h.find("'fortran_order': False") == std::string::npos)
    return err(ErrorCode::kUnsupported, "%s: only little-endian float32 C-order arrays are read", path.c_str());
  NpyArray a;
  size_t open = h.find('(', h.find("'shape'")), close = h.find(')', open);
  if (open == std::string::npos || close == std::string::npos) return err(ErrorCode::kCorrupt, "%s: no shape", path.c_str());
  std::string dims = h.substr(open + 1, close - open - 1);
  int64_t n = 1;
  for (size_t i = 0; i < dims.size();) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
    if (i >= dims.size()) break;
    size_t j = i;
    while (j < dims.size() && std::isdigit(static_cast<unsigned char>(dims[j]))) ++j;
    if (j == i) return err(ErrorCode::kCorrupt, "%s: bad shape '%s'", path.c_str(), dims.c_str());
    a.shape.push_back(std::stoll(dims.substr(i, j - i)));
    n *= a.shape.back();
    i = j;
  }
  size_t data_at = start + hlen;
  if (data_at + static_cast<size_t>(n) * 4 != f.size())
    return err(ErrorCode::kCorrupt, "%s: %zu data bytes, shape needs %lld", path.c_str(), f.size() - data_at,
               static_cast<long long>(n * 4));
  a.data.resize(static_cast<size_t>(n));
  std::memcpy(a.data.data(), p + data_at, static_cast<size_t>(n) * 4);
  return a;
}

}  // namespace herd::formats
