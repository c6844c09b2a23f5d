// A restricted unpickler for PyTorch checkpoints: reads the data.pkl of a
// torch.save zip (docs/formats/pytorch.md) into the storages and tensors it
// describes, and executes nothing.
//
// A pickle is a program: Python's unpickler imports any global it names and
// calls it (`os.system` included), which is why loading an untrusted .pth
// with torch.load(weights_only=False) runs the attacker's code. This reader is
// a stack machine over the opcodes a state dict needs (protocols 2-4: the
// containers, strings, ints, floats, bools, None, memo, BINPERSID, GLOBAL,
// STACK_GLOBAL and REDUCE), and GLOBAL/REDUCE accept only:
//   collections.OrderedDict()                          -> an empty dict
//   torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
//                                   requires_grad, hooks[, metadata])
//   torch._utils._rebuild_parameter(tensor, requires_grad, hooks)
//   torch.<Type>Storage                                (as a storage's type tag)
// and BINPERSID accepts only ('storage', <Type>Storage, key, location, numel).
// Anything else (another global, another opcode, a REDUCE of anything else)
// is refused with kUnsupported naming it and its byte offset.
//
// Work and memory are bounded before they are spent: the pickle's size
// (kMaxPickleBytes), the stack and memo (kMaxStack entries), and nesting
// (kMaxDepth levels, so no destructor recursion proportional to the input);
// a mutable container (list, dict) may not be put into another one, so no
// reference cycle can be built. The root must be a dict (or OrderedDict) of
// string -> tensor: a state dict as Meta's consolidated.NN.pth and
// torch.save(model.state_dict()) write it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tensor/dtype.h"

namespace herd::formats {

// torch's storage classes (torch.FloatStorage, ...).
enum class TorchStorageType : uint8_t {
  kFloat, kHalf, kBFloat16, kDouble, kByte, kChar, kShort, kInt, kLong, kBool, kFloat8E4M3fn, kFloat8E5M2,
};
struct TorchStorageInfo {
  TorchStorageType type;
  const char* name;     // "BFloat16Storage"
  const char* dtype;    // torch's: "bfloat16"
  uint64_t elem_size;   // bytes
  std::optional<DType> herd;  // the dtype herd computes with; nullopt for the others
};
const TorchStorageInfo& torch_storage_info(TorchStorageType t);

struct PickledStorage {
  std::string key;       // the record under <archive>/data/
  TorchStorageType type = TorchStorageType::kFloat;
  std::string location;  // "cpu", "cuda:0", ...
  uint64_t numel = 0;
};

struct PickledTensor {
  std::string name;
  size_t storage = 0;            // index into PickledStateDict::storages
  uint64_t offset = 0;           // in elements
  std::vector<int64_t> shape;    // outermost first
  std::vector<int64_t> stride;   // in elements
};

struct PickledStateDict {
  std::vector<PickledStorage> storages;  // in order of first reference
  std::vector<PickledTensor> tensors;    // in the dict's order
};

inline constexpr uint64_t kMaxPickleBytes = 64ull << 20;

// Errors name `source` and the byte offset of the opcode at fault.
Result<PickledStateDict> unpickle_state_dict(const uint8_t* data, size_t size, std::string_view source = "<pickle>");

}  // namespace herd::formats
