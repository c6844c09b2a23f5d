// MappedFile with POSIX mmap; small-file helpers.
#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace herd {

Result<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return err(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo, "cannot open %s: %s",
               path.c_str(), std::strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return err(ErrorCode::kIo, "cannot stat %s: %s", path.c_str(), std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return err(ErrorCode::kInvalidArgument, "%s is not a regular file", path.c_str());
  }
  MappedFile f;
  f.path_ = path;
  f.size_ = static_cast<size_t>(st.st_size);
  if (f.size_ > 0) {
    void* p = mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      return err(ErrorCode::kIo, "cannot mmap %s (%zu bytes): %s", path.c_str(), f.size_,
                 std::strerror(e));
    }
    f.data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(other.data_), size_(other.size_), path_(std::move(other.path_)) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_) munmap(const_cast<uint8_t*>(data_), size_);
    data_ = other.data_;
    size_ = other.size_;
    path_ = std::move(other.path_);
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void MappedFile::release_pages() const {
  if (data_) madvise(const_cast<uint8_t*>(data_), size_, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}

Result<std::string> read_text_file(const std::string& path, size_t max_bytes) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    return err(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo, "cannot open %s: %s",
               path.c_str(), std::strerror(errno));
  }
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (out.size() + n > max_bytes) {
      std::fclose(f);
      return err(ErrorCode::kOutOfRange, "%s is larger than the %zu-byte limit for this file",
                 path.c_str(), max_bytes);
    }
    out.append(buf, n);
  }
  bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) return err(ErrorCode::kIo, "error reading %s", path.c_str());
  return out;
}

Status write_file(const std::string& path, const void* data, size_t size) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return err(ErrorCode::kIo, "cannot create %s: %s", tmp.c_str(), std::strerror(errno));
  size_t w = size ? std::fwrite(data, 1, size, f) : 0;
  bool ok = w == size && std::fflush(f) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return err(ErrorCode::kIo, "cannot write %s: %s", path.c_str(), std::strerror(errno));
  }
  return Ok{};
}

}  // namespace herd
