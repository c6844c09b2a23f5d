// ZipArchive: the index of a zip file whose entries are stored uncompressed,
// as PyTorch's torch.save writes its checkpoints (docs/formats/pytorch.md).
//
// Only what a reader of stored entries needs: the end-of-central-directory
// record (found within the last 64 KiB + 22 bytes), its zip64 form for files
// over 4 GiB or with over 65,535 entries, the central directory, and each
// entry's local header (whose name and extra field lengths place the data:
// torch pads the extra field so every record starts 64-byte aligned).
//
// The file is untrusted. parse() checks, with overflow-safe arithmetic, that
// the directory and every entry's [data, data + size) lie inside the buffer,
// that entries are stored (method 0), unencrypted, on one disk, and that no
// name appears twice; anything else is kCorrupt or kUnsupported with the entry
// named. CRC-32s are not verified: that would read every byte of a 100 GB
// checkpoint at open (a torn download is still caught by the sizes).
// Entries are not extracted, so names are only compared, never used as paths.
//
// Ownership: parse() does not copy; `data` must outlive the archive. Entry
// pointers stay valid as long as the archive. Accessors are const and
// thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace herd::formats {

struct ZipEntry {
  std::string name;
  const uint8_t* data = nullptr;  // the stored bytes
  uint64_t size = 0;
};

class ZipArchive {
 public:
  // The most entries herd accepts (a 405B shard holds a few thousand).
  static constexpr uint64_t kMaxEntries = 1u << 20;

  static Result<ZipArchive> parse(const uint8_t* data, size_t size, std::string_view source = "<buffer>");

  // In central-directory order.
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const ZipEntry* find(std::string_view name) const;

 private:
  std::vector<ZipEntry> entries_;
  std::map<std::string, size_t, std::less<>> by_name_;
};

// Whether the bytes start like a zip file (a local file header).
bool looks_like_zip(const uint8_t* data, size_t size);

}  // namespace herd::formats
