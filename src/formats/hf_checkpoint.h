// HfCheckpoint: the safetensors weights of a Hugging Face model directory.
//
// A directory holds either one model.safetensors or shards named by
// model.safetensors.index.json ({"metadata": {"total_size": N},
// "weight_map": {"<tensor>": "<shard file>", ...}}). Like transformers, a
// present model.safetensors wins over an index. config.json and
// generation_config.json are read separately (hf_config.h).
//
// open() maps every shard and validates (beyond each file's own checks in
// safetensors.h): the index is a JSON object with a string -> string
// weight_map; every shard name is a plain file name in the directory (no '/',
// no "..": the path-traversal class of post-training-safety.md C2.5); every
// named file exists and parses; every tensor is in the file the index names;
// no tensor appears in two shards; and no shard holds a tensor the index does
// not list. metadata.total_size is informational and not checked (writers
// disagree on how to count it).
//
// Ownership and thread safety: the checkpoint owns the maps; StTensor
// pointers stay valid as long as it lives (moving it keeps them valid).
// Accessors are const and safe from any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "formats/safetensors.h"

namespace herd::formats {

class HfCheckpoint {
 public:
  static Result<HfCheckpoint> open(const std::string& dir);

  HfCheckpoint() = default;
  HfCheckpoint(HfCheckpoint&&) noexcept = default;
  HfCheckpoint& operator=(HfCheckpoint&&) noexcept = default;
  HfCheckpoint(const HfCheckpoint&) = delete;
  HfCheckpoint& operator=(const HfCheckpoint&) = delete;

  // nullptr when absent. O(log n).
  const StTensor* find(std::string_view name) const;
  // Every tensor: shards in file-name order, each in data-offset order.
  std::vector<const StTensor*> tensors() const;
  const std::string& dir() const { return dir_; }
  // The shard file names (relative to dir()), sorted; one entry when unsharded.
  std::vector<std::string> files() const;
  // Which file holds `name` (relative to dir()); empty when absent.
  std::string file_of(std::string_view name) const;
  // Every shard's mapped pages given back (MappedFile::release_pages).
  void release_pages() const {
    for (const auto& [name, f] : files_) f.release_pages();
  }

 private:
  std::string dir_;
  std::map<std::string, SafetensorsFile> files_;                   // file name -> parsed shard
  std::map<std::string, const StTensor*, std::less<>> by_name_;     // into files_' tensors
  std::map<std::string, std::string, std::less<>> file_of_;         // tensor name -> file name
};

}  // namespace herd::formats
