// safetensors writer: header building, mapped output, HF sharding.
#include "formats/safetensors_writer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/checked_math.h"
#include "base/mapped_file.h"

namespace herd::formats {

namespace {

Result<uint64_t> tensor_nbytes(const std::string& name, StDType dtype,
                               const std::vector<int64_t>& shape) {
  uint64_t n = st_dtype_size(dtype);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return err(ErrorCode::kInvalidArgument, "tensor '%s': shape %s has negative dim %zu",
                 name.c_str(), shape_string(shape).c_str(), i);
    }
    if (!checked_mul(n, static_cast<uint64_t>(shape[i]), &n)) {
      return err(ErrorCode::kInvalidArgument, "tensor '%s': shape %s of %s overflows 64 bits",
                 name.c_str(), shape_string(shape).c_str(), st_dtype_name(dtype));
    }
  }
  return n;
}

// Unmaps, closes and (unless kept) unlinks a half-written output file.
struct OutputFile {
  int fd = -1;
  uint8_t* map = nullptr;
  size_t size = 0;
  std::string tmp;
  bool keep = false;

  ~OutputFile() {
    if (map) munmap(map, size);
    if (fd >= 0) ::close(fd);
    if (!keep && !tmp.empty()) ::unlink(tmp.c_str());
  }
};

void put_u64_le(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

void SafetensorsWriter::set_metadata(std::string key, std::string value) {
  metadata_[std::move(key)] = std::move(value);
}

Status SafetensorsWriter::add_tensor(std::string name, StDType dtype, std::vector<int64_t> shape,
                                     FillFn fill) {
  if (name.empty()) return err(ErrorCode::kInvalidArgument, "tensor name is empty");
  if (name == "__metadata__") {
    return err(ErrorCode::kInvalidArgument, "tensor name '__metadata__' is reserved");
  }
  if (names_.count(name)) {
    return err(ErrorCode::kInvalidArgument, "tensor '%s' added twice", name.c_str());
  }
  if (!fill) return err(ErrorCode::kInvalidArgument, "tensor '%s' has no fill function", name.c_str());
  HERD_ASSIGN_OR_RETURN(uint64_t nbytes, tensor_nbytes(name, dtype, shape));
  uint64_t total;
  if (!checked_add(data_bytes_, nbytes, &total)) {
    return err(ErrorCode::kInvalidArgument, "tensor '%s': file size overflows 64 bits",
               name.c_str());
  }
  data_bytes_ = total;
  names_.emplace(name, tensors_.size());
  tensors_.push_back(Pending{std::move(name), dtype, std::move(shape), nbytes, std::move(fill)});
  return Ok{};
}

Status SafetensorsWriter::add_tensor_bytes(std::string name, StDType dtype, std::vector<int64_t> shape,
                                           const void* src) {
  HERD_ASSIGN_OR_RETURN(const uint64_t nbytes, tensor_nbytes(name, dtype, shape));
  if (src == nullptr && nbytes > 0) return err(ErrorCode::kInvalidArgument, "tensor '%s' has no bytes", name.c_str());
  HERD_TRY(add_tensor(std::move(name), dtype, std::move(shape), [](uint8_t*, uint64_t) -> Status { return Ok{}; }));
  tensors_.back().src = static_cast<const uint8_t*>(src);
  return Ok{};
}

Status SafetensorsWriter::write(const std::string& path) {
  // Header: __metadata__ first, then tensors in layout order (ordered_json
  // keeps insertion order, so the header reads like the file).
  std::string header;
  try {
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    if (!metadata_.empty()) {
      nlohmann::ordered_json m = nlohmann::ordered_json::object();
      for (const auto& [k, v] : metadata_) m[k] = v;
      h["__metadata__"] = std::move(m);
    }
    uint64_t offset = 0;
    for (const Pending& t : tensors_) {
      nlohmann::ordered_json e = nlohmann::ordered_json::object();
      e["dtype"] = st_dtype_name(t.dtype);
      e["shape"] = t.shape;
      e["data_offsets"] = {offset, offset + t.nbytes};
      h[t.name] = std::move(e);
      offset += t.nbytes;
    }
    header = h.dump();
  } catch (const nlohmann::json::exception& e) {
    return err(ErrorCode::kInvalidArgument, "%s: cannot encode the header (tensor or metadata "
               "names must be valid UTF-8): %s", path.c_str(), e.what());
  } catch (const std::exception& e) {
    return err(ErrorCode::kInternal, "%s: building the header: %s", path.c_str(), e.what());
  }
  // Pad with spaces so the data buffer (at 8 + N) starts 8-byte aligned.
  while (header.size() % 8 != 0) header.push_back(' ');

  uint64_t total = 0;
  if (!checked_add(8 + header.size(), data_bytes_, &total)) {
    return err(ErrorCode::kInvalidArgument, "%s: file size overflows 64 bits", path.c_str());
  }
  OutputFile out;
  out.tmp = path + ".tmp";
  out.fd = ::open(out.tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out.fd < 0) {
    int e = errno;
    out.tmp.clear();  // nothing of ours to unlink
    return err(ErrorCode::kIo, "cannot create %s.tmp: %s", path.c_str(), std::strerror(e));
  }
  // Reserve the blocks first: writing through a mapping into a sparse file
  // on a full disk raises SIGBUS, whereas fallocate reports ENOSPC.
  int rc = posix_fallocate(out.fd, 0, static_cast<off_t>(total));
  if (rc != 0) {
    return err(ErrorCode::kIo, "cannot reserve %llu bytes for %s: %s",
               static_cast<unsigned long long>(total), path.c_str(), std::strerror(rc));
  }
  out.size = static_cast<size_t>(total);
  void* p = mmap(nullptr, out.size, PROT_READ | PROT_WRITE, MAP_SHARED, out.fd, 0);
  if (p == MAP_FAILED) {
    return err(ErrorCode::kIo, "cannot map %s for writing (%llu bytes): %s", path.c_str(),
               static_cast<unsigned long long>(total), std::strerror(errno));
  }
  out.map = static_cast<uint8_t*>(p);
  madvise(out.map, out.size, MADV_SEQUENTIAL);

  put_u64_le(out.map, header.size());
  std::memcpy(out.map + 8, header.data(), header.size());
  uint8_t* data = out.map + 8 + header.size();
  uint64_t offset = 0;
  // The pages before the next tensor are complete: dropped from this process's
  // mapping after each tensor (their data stays in the page cache, dirty, and
  // reaches the file as munmap would write it), so a multi-GB file (a full
  // fine-tuning checkpoint) does not add its size to the process's resident memory.
  const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t released = 0;  // bytes from the map's start
  auto release_to = [&](uint64_t data_end) {
    const uint64_t done = (8 + header.size() + data_end) / page * page;
    if (done > released) {
      madvise(out.map + released, done - released, MADV_DONTNEED);
      released = done;
    }
  };
  constexpr uint64_t kSlice = uint64_t{16} << 20;
  for (const Pending& t : tensors_) {
    if (t.src != nullptr) {
      for (uint64_t b = 0; b < t.nbytes; b += kSlice) {
        const uint64_t n = std::min(kSlice, t.nbytes - b);
        std::memcpy(data + offset + b, t.src + b, n);
        release_to(offset + b + n);
      }
    } else {
      Status s = t.fill(data + offset, t.nbytes);
      if (!s.has_value()) {
        return std::move(s).error().with_context(
            str_printf("writing tensor '%s' to %s", t.name.c_str(), path.c_str()));
      }
    }
    offset += t.nbytes;
    release_to(offset);
  }
  if (msync(out.map, out.size, MS_SYNC) != 0 || munmap(out.map, out.size) != 0) {
    out.map = nullptr;
    return err(ErrorCode::kIo, "cannot write %s: %s", path.c_str(), std::strerror(errno));
  }
  out.map = nullptr;
  int fd = out.fd;
  out.fd = -1;
  if (::close(fd) != 0) {
    return err(ErrorCode::kIo, "cannot write %s: %s", path.c_str(), std::strerror(errno));
  }
  if (std::rename(out.tmp.c_str(), path.c_str()) != 0) {
    return err(ErrorCode::kIo, "cannot rename %s to %s: %s", out.tmp.c_str(), path.c_str(),
               std::strerror(errno));
  }
  out.keep = true;
  return Ok{};
}

Status write_hf_safetensors(const std::string& dir, std::vector<HfTensorSpec> specs,
                            uint64_t max_shard_bytes) {
  if (max_shard_bytes == 0) {
    return err(ErrorCode::kInvalidArgument, "write_hf_safetensors: max_shard_bytes must be > 0");
  }
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return err(ErrorCode::kIo, "cannot create directory %s: %s", dir.c_str(), std::strerror(errno));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return err(ErrorCode::kInvalidArgument, "%s is not a directory", dir.c_str());
  }

  // Group tensors into shards greedily, never splitting one.
  std::vector<std::vector<size_t>> shards;
  std::vector<uint64_t> sizes(specs.size());
  std::set<std::string> seen;
  uint64_t total_size = 0, current = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!seen.insert(specs[i].name).second) {
      return err(ErrorCode::kInvalidArgument, "tensor '%s' appears twice in the checkpoint",
                 specs[i].name.c_str());
    }
    HERD_ASSIGN_OR_RETURN(sizes[i], tensor_nbytes(specs[i].name, specs[i].dtype, specs[i].shape));
    if (!checked_add(total_size, sizes[i], &total_size)) {
      return err(ErrorCode::kInvalidArgument, "checkpoint size overflows 64 bits");
    }
    if (shards.empty() || (current > 0 && (current + sizes[i] > max_shard_bytes ||
                                           current + sizes[i] < current))) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(i);
    current += sizes[i];
  }
  if (shards.empty()) shards.emplace_back();  // an empty checkpoint is one empty file

  const size_t n = shards.size();
  std::map<std::string, std::string> weight_map;
  for (size_t k = 0; k < n; ++k) {
    std::string file = n == 1 ? std::string("model.safetensors")
                              : str_printf("model-%05zu-of-%05zu.safetensors", k + 1, n);
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    for (size_t i : shards[k]) {
      HfTensorSpec& s = specs[i];
      weight_map[s.name] = file;
      HERD_TRY(w.add_tensor(s.name, s.dtype, s.shape, std::move(s.fill)));
    }
    HERD_TRY(w.write(dir + "/" + file));
  }
  if (n == 1) return Ok{};

  std::string text;
  try {
    nlohmann::json index = {{"metadata", {{"total_size", total_size}}},
                            {"weight_map", weight_map}};
    text = index.dump(2) + "\n";
  } catch (const std::exception& e) {
    return err(ErrorCode::kInvalidArgument, "%s: cannot encode model.safetensors.index.json: %s",
               dir.c_str(), e.what());
  }
  HERD_TRY(write_file(dir + "/model.safetensors.index.json", text.data(), text.size()));
  std::string stale = dir + "/model.safetensors";
  if (::unlink(stale.c_str()) != 0 && errno != ENOENT) {
    return err(ErrorCode::kIo, "cannot remove stale %s: %s", stale.c_str(), std::strerror(errno));
  }
  return Ok{};
}

}  // namespace herd::formats
