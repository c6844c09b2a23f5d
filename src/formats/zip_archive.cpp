// ZipArchive: the end-of-central-directory record (and its zip64 form), the
// central directory and the local headers, every field bounds-checked.
// Field layouts: PKWARE's APPNOTE.TXT sections 4.3.7 (local header), 4.3.12
// (central header), 4.3.14-16 (zip64 and classic end records), 4.5.3 (zip64
// extra field).
#include "formats/zip_archive.h"

#include <cstring>

#include "base/checked_math.h"

namespace herd::formats {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kLocalHeader = 30, kCentralHeader = 46, kEndRecord = 22, kZip64Locator = 20, kZip64End = 56;

uint64_t le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// [off, off + n) inside a buffer of `size` bytes.
bool inside(uint64_t off, uint64_t n, uint64_t size) {
  uint64_t end;
  return checked_add(off, n, &end) && end <= size;
}

}  // namespace

bool looks_like_zip(const uint8_t* data, size_t size) { return size >= 4 && le(data, 4) == kLocalSig; }

const ZipEntry* ZipArchive::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

Result<ZipArchive> ZipArchive::parse(const uint8_t* data, size_t size, std::string_view source) {
  const std::string src(source);
  // The end record: the last signature whose comment length reaches the end of the file.
  if (size < kEndRecord) return err(ErrorCode::kCorrupt, "%s: %zu bytes is too short for a zip file", src.c_str(), size);
  uint64_t end_at = UINT64_MAX;
  const uint64_t lowest = size > kEndRecord + 0xffff ? size - kEndRecord - 0xffff : 0;
  for (uint64_t at = size - kEndRecord + 1; at-- > lowest;)
    if (le(data + at, 4) == kEndSig && at + kEndRecord + le(data + at + 20, 2) == size) {
      end_at = at;
      break;
    }
  if (end_at == UINT64_MAX)
    return err(ErrorCode::kCorrupt, "%s: no zip end-of-central-directory record (a truncated file?)", src.c_str());
  const uint8_t* e = data + end_at;
  uint64_t disk = le(e + 4, 2), cd_disk = le(e + 6, 2), n_disk = le(e + 8, 2), n = le(e + 10, 2);
  uint64_t cd_size = le(e + 12, 4), cd_off = le(e + 16, 4);
  if (n == 0xffff || cd_size == 0xffffffff || cd_off == 0xffffffff || n_disk == 0xffff) {
    if (end_at < kZip64Locator || le(data + end_at - kZip64Locator, 4) != kZip64LocatorSig)
      return err(ErrorCode::kCorrupt, "%s: the end record asks for zip64 but has no zip64 locator before it", src.c_str());
    const uint64_t z_at = le(data + end_at - kZip64Locator + 8, 8);
    if (!inside(z_at, kZip64End, end_at - kZip64Locator) || le(data + z_at, 4) != kZip64EndSig)
      return err(ErrorCode::kCorrupt, "%s: the zip64 end record offset %llu is not a zip64 end record", src.c_str(),
                 static_cast<unsigned long long>(z_at));
    const uint8_t* z = data + z_at;
    disk = le(z + 16, 4);
    cd_disk = le(z + 20, 4);
    n_disk = le(z + 24, 8);
    n = le(z + 32, 8);
    cd_size = le(z + 40, 8);
    cd_off = le(z + 48, 8);
  }
  if (disk != 0 || cd_disk != 0 || n_disk != n)
    return err(ErrorCode::kUnsupported, "%s: a zip split over several disks", src.c_str());
  if (n > kMaxEntries)
    return err(ErrorCode::kOutOfRange, "%s: %llu zip entries (herd reads at most %llu)", src.c_str(),
               static_cast<unsigned long long>(n), static_cast<unsigned long long>(kMaxEntries));
  if (!inside(cd_off, cd_size, end_at))
    return err(ErrorCode::kCorrupt, "%s: the central directory [%llu, +%llu) is outside the file", src.c_str(),
               static_cast<unsigned long long>(cd_off), static_cast<unsigned long long>(cd_size));

  uint64_t min_cd;
  if (!checked_mul(n, kCentralHeader, &min_cd) || min_cd > cd_size)
    return err(ErrorCode::kCorrupt, "%s: %llu entries cannot fit a %llu-byte central directory", src.c_str(),
               static_cast<unsigned long long>(n), static_cast<unsigned long long>(cd_size));
  ZipArchive z;
  z.entries_.reserve(static_cast<size_t>(n));
  uint64_t at = cd_off;
  const uint64_t cd_end = cd_off + cd_size;
  for (uint64_t i = 0; i < n; ++i) {
    if (!inside(at, kCentralHeader, cd_end) || le(data + at, 4) != kCentralSig)
      return err(ErrorCode::kCorrupt, "%s: central directory entry %llu is not where the directory says", src.c_str(),
                 static_cast<unsigned long long>(i));
    const uint8_t* c = data + at;
    const uint64_t flags = le(c + 8, 2), method = le(c + 10, 2);
    uint64_t csize = le(c + 20, 4), usize = le(c + 24, 4), off = le(c + 42, 4);
    const uint64_t name_len = le(c + 28, 2), extra_len = le(c + 30, 2), comment_len = le(c + 32, 2);
    const uint64_t entry_disk = le(c + 34, 2);
    if (!inside(at + kCentralHeader, name_len + extra_len + comment_len, cd_end))
      return err(ErrorCode::kCorrupt, "%s: central directory entry %llu runs past the directory", src.c_str(),
                 static_cast<unsigned long long>(i));
    ZipEntry ent;
    ent.name.assign(reinterpret_cast<const char*>(c + kCentralHeader), name_len);
    const char* nm = ent.name.c_str();
    // The zip64 extra field holds, in this order, whichever of the three are 0xffffffff.
    const uint8_t* x = c + kCentralHeader + name_len;
    for (uint64_t xo = 0; xo + 4 <= extra_len;) {
      const uint64_t id = le(x + xo, 2), len = le(x + xo + 2, 2);
      if (xo + 4 + len > extra_len)
        return err(ErrorCode::kCorrupt, "%s: entry '%s': an extra field runs past its header", src.c_str(), nm);
      if (id == 1) {
        uint64_t p = xo + 4;
        for (uint64_t* f : {&usize, &csize, &off}) {
          if (*f != 0xffffffff) continue;
          if (p + 8 > xo + 4 + len)
            return err(ErrorCode::kCorrupt, "%s: entry '%s': the zip64 extra field is too short", src.c_str(), nm);
          *f = le(x + p, 8);
          p += 8;
        }
      }
      xo += 4 + len;
    }
    if (flags & 1) return err(ErrorCode::kUnsupported, "%s: entry '%s' is encrypted", src.c_str(), nm);
    if (method != 0)
      return err(ErrorCode::kUnsupported,
                 "%s: entry '%s' is compressed (method %llu); PyTorch checkpoints store entries uncompressed", src.c_str(),
                 nm, static_cast<unsigned long long>(method));
    if (entry_disk != 0 && entry_disk != 0xffff)
      return err(ErrorCode::kUnsupported, "%s: entry '%s' is on another disk", src.c_str(), nm);
    if (csize != usize)
      return err(ErrorCode::kCorrupt, "%s: stored entry '%s' has compressed size %llu but size %llu", src.c_str(), nm,
                 static_cast<unsigned long long>(csize), static_cast<unsigned long long>(usize));
    if (!inside(off, kLocalHeader, size) || le(data + off, 4) != kLocalSig)
      return err(ErrorCode::kCorrupt, "%s: entry '%s': no local header at offset %llu", src.c_str(), nm,
                 static_cast<unsigned long long>(off));
    const uint64_t lname = le(data + off + 26, 2), lextra = le(data + off + 28, 2);
    const uint64_t data_off = off + kLocalHeader + lname + lextra;
    if (!inside(data_off, usize, size))
      return err(ErrorCode::kCorrupt, "%s: entry '%s' [%llu, +%llu) runs past the end of the file (%zu bytes)",
                 src.c_str(), nm, static_cast<unsigned long long>(data_off), static_cast<unsigned long long>(usize), size);
    ent.data = data + data_off;
    ent.size = usize;
    if (!z.by_name_.emplace(ent.name, z.entries_.size()).second)
      return err(ErrorCode::kCorrupt, "%s: entry '%s' appears twice", src.c_str(), nm);
    z.entries_.push_back(std::move(ent));
    at += kCentralHeader + name_len + extra_len + comment_len;
  }
  return z;
}

}  // namespace herd::formats
