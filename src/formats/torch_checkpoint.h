// TorchCheckpoint: the tensors of one PyTorch checkpoint file (torch.save's
// zip format, docs/formats/pytorch.md), as views into the mapped file: Meta's
// consolidated.NN.pth and any torch.save(state_dict) since PyTorch 1.6.
//
// A checkpoint is a zip (zip_archive.h) of <archive>/data.pkl (the pickled
// state dict, read by the restricted unpickler of torch_pickle.h: nothing in
// it is executed), one record <archive>/data/<key> per storage, and small
// records (version, byteorder). open() checks that every storage's record
// exists and holds numel * element-size bytes, and that every tensor is
// row-major contiguous (strides of size-1 dimensions aside) and lies inside
// its storage; a tensor may share its storage with others (a view). Files in
// torch's pre-1.6 format (a bare pickle stream) and big-endian records are
// refused with the reason.
//
// Ownership: open() maps the file read-only and the checkpoint owns the map
// (move-only; moving keeps TorchTensor::data valid); parse() does not copy.
// Accessors are const and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "formats/torch_pickle.h"
#include "tensor/tensor_view.h"

namespace herd::formats {

struct TorchTensor {
  std::string name;
  TorchStorageType type = TorchStorageType::kFloat;
  std::vector<int64_t> shape;  // outermost first
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;  // numel * element size

  uint64_t numel() const;
  // A view for the dtypes herd computes with (float32, float16, bfloat16); nullopt otherwise.
  std::optional<TensorView> view() const;
};

class TorchCheckpoint {
 public:
  static Result<TorchCheckpoint> open(const std::string& path);
  static Result<TorchCheckpoint> parse(const uint8_t* data, size_t size, std::string_view source = "<buffer>");

  TorchCheckpoint() = default;
  TorchCheckpoint(TorchCheckpoint&&) noexcept = default;
  TorchCheckpoint& operator=(TorchCheckpoint&&) noexcept = default;
  TorchCheckpoint(const TorchCheckpoint&) = delete;
  TorchCheckpoint& operator=(const TorchCheckpoint&) = delete;

  // In the state dict's order.
  const std::vector<TorchTensor>& tensors() const { return tensors_; }
  const TorchTensor* find(std::string_view name) const;
  const std::string& path() const { return path_; }
  // The mapping's pages given back (MappedFile::release_pages); none for parse().
  void release_pages() const { map_.release_pages(); }

 private:
  MappedFile map_;
  std::string path_;
  std::vector<TorchTensor> tensors_;
  std::map<std::string, size_t, std::less<>> by_name_;
};

}  // namespace herd::formats
