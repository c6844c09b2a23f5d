// HfCheckpoint: index parsing and cross-shard validation.
#include "formats/hf_checkpoint.h"

#include <sys/stat.h>

#include <exception>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/json_depth.h"
#include "base/mapped_file.h"

namespace herd::formats {

namespace {

constexpr const char* kSingleName = "model.safetensors";
constexpr const char* kIndexName = "model.safetensors.index.json";
// An index lists each tensor once in a line of ~80 bytes; 64 MB covers
// hundreds of thousands of tensors.
constexpr size_t kMaxIndexBytes = size_t{64} << 20;

bool is_regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A shard name must stay inside the directory.
bool is_plain_shard_name(const std::string& s) {
  static const std::string kSuffix = ".safetensors";
  if (s.size() <= kSuffix.size() || s.compare(s.size() - kSuffix.size(), kSuffix.size(), kSuffix))
    return false;
  for (char c : s)
    if (c == '/' || c == '\\' || c == '\0') return false;
  return s != "." && s != "..";
}

// Parses the index text into a weight_map, refusing duplicate tensor names
// (nlohmann would keep the last one silently).
Result<std::map<std::string, std::string>> parse_index(const std::string& path,
                                                       const std::string& text) {
  using Json = nlohmann::json;
  std::map<std::string, std::string> weight_map;
  if (!json_depth_within(text))
    return err(ErrorCode::kCorrupt, "%s: JSON nests deeper than %d levels", path.c_str(), kMaxJsonDepth);
  try {
    std::string duplicate;
    // Keys at depth 2 inside "weight_map" are tensor names; track them all
    // (depth-2 keys of "metadata" are few and distinct in valid files).
    std::vector<std::set<std::string>> seen;
    Json root = Json::parse(
        text, [&](int depth, Json::parse_event_t ev, Json& parsed) {
          if (ev == Json::parse_event_t::object_start) seen.emplace_back();
          if (ev == Json::parse_event_t::object_end && !seen.empty()) seen.pop_back();
          if (ev == Json::parse_event_t::key && !seen.empty() && parsed.is_string() &&
              !seen.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
            duplicate = parsed.get<std::string>();
          }
          (void)depth;
          return true;
        });
    if (!duplicate.empty()) {
      return err(ErrorCode::kCorrupt, "%s: key '%s' appears twice in one object", path.c_str(),
                 duplicate.c_str());
    }
    if (!root.is_object()) {
      return err(ErrorCode::kCorrupt, "%s: expected a JSON object", path.c_str());
    }
    auto wm = root.find("weight_map");
    if (wm == root.end() || !wm->is_object()) {
      return err(ErrorCode::kCorrupt, "%s: missing object 'weight_map' (tensor -> shard file)",
                 path.c_str());
    }
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) {
        return err(ErrorCode::kCorrupt, "%s: weight_map['%s'] is not a string file name",
                   path.c_str(), it.key().c_str());
      }
      std::string file = it.value().get<std::string>();
      if (!is_plain_shard_name(file)) {
        return err(ErrorCode::kCorrupt,
                   "%s: weight_map['%s'] = \"%s\" is not a plain *.safetensors file name in the "
                   "model directory",
                   path.c_str(), it.key().c_str(), file.c_str());
      }
      weight_map.emplace(it.key(), std::move(file));
    }
  } catch (const nlohmann::json::exception& e) {
    return err(ErrorCode::kCorrupt, "%s: not valid JSON: %s", path.c_str(), e.what());
  } catch (const std::exception& e) {
    return err(ErrorCode::kInternal, "%s: %s", path.c_str(), e.what());
  }
  if (weight_map.empty()) {
    return err(ErrorCode::kCorrupt, "%s: weight_map is empty", path.c_str());
  }
  return weight_map;
}

}  // namespace

Result<HfCheckpoint> HfCheckpoint::open(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return err(ErrorCode::kNotFound, "%s is not a directory (expected a Hugging Face model "
               "directory with model.safetensors or %s)", dir.c_str(), kIndexName);
  }
  HfCheckpoint ck;
  ck.dir_ = dir;
  const std::string single = dir + "/" + kSingleName;
  const std::string index_path = dir + "/" + kIndexName;

  if (is_regular_file(single)) {
    HERD_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::open(single));
    auto [slot, inserted] = ck.files_.emplace(kSingleName, std::move(f));
    (void)inserted;
    for (const StTensor& t : slot->second.tensors()) {
      ck.by_name_.emplace(t.name, &t);
      ck.file_of_.emplace(t.name, kSingleName);
    }
    return ck;
  }
  if (!is_regular_file(index_path)) {
    return err(ErrorCode::kNotFound, "%s holds neither %s nor %s", dir.c_str(), kSingleName,
               kIndexName);
  }

  HERD_ASSIGN_OR_RETURN(std::string text, read_text_file(index_path, kMaxIndexBytes));
  HERD_ASSIGN_OR_RETURN(auto weight_map, parse_index(index_path, text));
  std::set<std::string> names;
  for (const auto& [tensor, file] : weight_map) names.insert(file);
  for (const std::string& file : names) {
    const std::string path = dir + "/" + file;
    if (!is_regular_file(path)) {
      return err(ErrorCode::kNotFound, "%s names shard %s, which is missing from %s",
                 index_path.c_str(), file.c_str(), dir.c_str());
    }
    Result<SafetensorsFile> f = SafetensorsFile::open(path);
    if (!f.has_value()) return std::move(f).error();
    ck.files_.emplace(file, std::move(f).value());
  }
  // Every tensor of every shard must be listed, once, with its own file.
  for (const auto& [file, shard] : ck.files_) {
    for (const StTensor& t : shard.tensors()) {
      auto listed = weight_map.find(t.name);
      if (listed == weight_map.end()) {
        return err(ErrorCode::kCorrupt, "%s/%s: tensor '%s' is not listed in %s", dir.c_str(),
                   file.c_str(), t.name.c_str(), kIndexName);
      }
      if (listed->second != file) {
        return err(ErrorCode::kCorrupt,
                   "%s/%s: tensor '%s' also appears in %s, the shard %s names for it "
                   "(duplicate tensor across shards)",
                   dir.c_str(), file.c_str(), t.name.c_str(), listed->second.c_str(), kIndexName);
      }
      ck.by_name_.emplace(t.name, &t);
      ck.file_of_.emplace(t.name, file);
    }
  }
  for (const auto& [tensor, file] : weight_map) {
    if (!ck.by_name_.count(tensor)) {
      return err(ErrorCode::kCorrupt, "%s: weight_map puts tensor '%s' in %s, which does not "
                 "contain it", index_path.c_str(), tensor.c_str(), file.c_str());
    }
  }
  return ck;
}

const StTensor* HfCheckpoint::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<const StTensor*> HfCheckpoint::tensors() const {
  std::vector<const StTensor*> out;
  out.reserve(by_name_.size());
  for (const auto& [file, shard] : files_)
    for (const StTensor& t : shard.tensors()) out.push_back(&t);
  return out;
}

std::vector<std::string> HfCheckpoint::files() const {
  std::vector<std::string> out;
  for (const auto& [file, shard] : files_) out.push_back(file);
  return out;
}

std::string HfCheckpoint::file_of(std::string_view name) const {
  auto it = file_of_.find(name);
  return it == file_of_.end() ? std::string() : it->second;
}

}  // namespace herd::formats
