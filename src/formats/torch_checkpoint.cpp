// TorchCheckpoint: the zip, the pickle, and every tensor checked against its
// storage record.
#include "formats/torch_checkpoint.h"

#include <cstring>

#include "base/checked_math.h"
#include "formats/zip_archive.h"

namespace herd::formats {

uint64_t TorchTensor::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

std::optional<TensorView> TorchTensor::view() const {
  const std::optional<DType> d = torch_storage_info(type).herd;
  if (!d) return std::nullopt;
  TensorView v;
  v.dtype = *d;
  v.shape = shape;
  v.data = data;
  return v;
}

const TorchTensor* TorchCheckpoint::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

Result<TorchCheckpoint> TorchCheckpoint::open(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(MappedFile map, MappedFile::open(path));
  HERD_ASSIGN_OR_RETURN(TorchCheckpoint c, parse(map.data(), map.size(), path));
  c.map_ = std::move(map);  // the mapping's address does not change on move
  return c;
}

Result<TorchCheckpoint> TorchCheckpoint::parse(const uint8_t* data, size_t size, std::string_view source) {
  const std::string src(source);
  // torch.save before 1.6 (and _use_new_zipfile_serialization=False) writes a
  // pickle stream starting with a pickled magic number.
  if (size >= 2 && data[0] == 0x80 && !looks_like_zip(data, size))
    return err(ErrorCode::kUnsupported,
               "%s is in PyTorch's legacy (pre-1.6) format; re-save it with torch.save from PyTorch 1.6 or later",
               src.c_str());
  if (!looks_like_zip(data, size))
    return err(ErrorCode::kCorrupt, "%s is not a PyTorch checkpoint (not a zip file)", src.c_str());
  HERD_ASSIGN_OR_RETURN(ZipArchive zip, ZipArchive::parse(data, size, src));
  // The archive's folder: the one entry named <folder>/data.pkl.
  const ZipEntry* pkl = nullptr;
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash == std::string::npos || slash == 0 || e.name.compare(slash, std::string::npos, "/data.pkl") != 0) continue;
    if (pkl)
      return err(ErrorCode::kCorrupt, "%s holds two pickles (%s, %s)", src.c_str(), pkl->name.c_str(), e.name.c_str());
    pkl = &e;
  }
  if (!pkl) return err(ErrorCode::kCorrupt, "%s is a zip without <archive>/data.pkl, not a PyTorch checkpoint", src.c_str());
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - std::strlen("data.pkl"));
  if (const ZipEntry* bo = zip.find(prefix + "byteorder"))
    if (std::string_view(reinterpret_cast<const char*>(bo->data), bo->size) != "little")
      return err(ErrorCode::kUnsupported, "%s was saved on a big-endian machine", src.c_str());
  Result<PickledStateDict> sd = unpickle_state_dict(pkl->data, pkl->size, src + ":" + pkl->name);
  if (!sd.has_value()) return std::move(sd).error();

  std::vector<const ZipEntry*> records;
  for (const PickledStorage& s : sd->storages) {
    const std::string rec = prefix + "data/" + s.key;
    const ZipEntry* e = zip.find(rec);
    if (!e) return err(ErrorCode::kCorrupt, "%s: storage '%s' has no record %s", src.c_str(), s.key.c_str(), rec.c_str());
    uint64_t need;
    if (!checked_mul(s.numel, torch_storage_info(s.type).elem_size, &need) || need > e->size)
      return err(ErrorCode::kCorrupt, "%s: storage '%s' declares %llu %s elements but its record holds %llu bytes",
                 src.c_str(), s.key.c_str(), static_cast<unsigned long long>(s.numel), torch_storage_info(s.type).dtype,
                 static_cast<unsigned long long>(e->size));
    records.push_back(e);
  }
  TorchCheckpoint c;
  c.path_ = src;
  for (const PickledTensor& t : sd->tensors) {
    const PickledStorage& s = sd->storages[t.storage];
    const uint64_t elem = torch_storage_info(s.type).elem_size;
    const char* nm = t.name.c_str();
    uint64_t numel = 1, expect = 1;
    for (size_t k = t.shape.size(); k-- > 0;) {
      const uint64_t dim = static_cast<uint64_t>(t.shape[k]);
      if (dim != 1 && static_cast<uint64_t>(t.stride[k]) != expect && numel != 0)
        return err(ErrorCode::kUnsupported, "%s: tensor '%s' is not contiguous (stride %lld in dimension %zu); "
                   "save it after .contiguous()", src.c_str(), nm, static_cast<long long>(t.stride[k]), k);
      if (!checked_mul(numel, dim, &numel) || !checked_mul(expect, dim, &expect))
        return err(ErrorCode::kCorrupt, "%s: tensor '%s' has an overflowing shape", src.c_str(), nm);
    }
    uint64_t end;
    if (!checked_add(t.offset, numel, &end) || end > s.numel)
      return err(ErrorCode::kCorrupt, "%s: tensor '%s' [%llu, +%llu) lies outside its storage '%s' of %llu elements",
                 src.c_str(), nm, static_cast<unsigned long long>(t.offset), static_cast<unsigned long long>(numel),
                 s.key.c_str(), static_cast<unsigned long long>(s.numel));
    TorchTensor tt;
    tt.name = t.name;
    tt.type = s.type;
    tt.shape = t.shape;
    tt.data = records[t.storage]->data + t.offset * elem;  // within the record: checked above
    tt.nbytes = numel * elem;
    if (!c.by_name_.emplace(tt.name, c.tensors_.size()).second)
      return err(ErrorCode::kCorrupt, "%s: tensor '%s' appears twice", src.c_str(), nm);
    c.tensors_.push_back(std::move(tt));
  }
  return c;
}

}  // namespace herd::formats
