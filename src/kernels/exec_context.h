// ExecContext: what a kernel call may use besides its operands.
//
// The thread pool and the kernel table are owned by whoever runs the model
// (one per engine) and passed down explicitly; kernels never reach for
// globals. Kernels that need scratch (attention) take per-worker buffers from
// the caller, sized once at start-up, so the decode loop does not allocate.
#pragma once

#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/kernel_table.h"

namespace herd::kernels {

// Wall time spent in each kernel family, for herd bench's time split. The
// ops add to it on the calling thread (the pool's owner) when
// ExecContext::times is set; everything else in a forward pass is "other".
struct KernelTimes {
  int64_t matmul_ns = 0;
  int64_t attention_ns = 0;
};

struct ExecContext {
  ThreadPool* pool = nullptr;      // never null while kernels run
  const KernelTable* table = nullptr;
  // Scratch for matmul's quantized activations (the q8 path): room for
  // q8_blocks BlockQ8, at least T * K / 32 for every matmul on the hot path.
  // Owned by the caller (LlamaContext sizes it for max_batch once). When it is
  // missing or too small, matmul allocates a temporary (tests, tools).
  BlockQ8* q8 = nullptr;
  int64_t q8_blocks = 0;
  // Scratch for the bf16 path's rounded activations: room for bf16_elems
  // uint16, at least T * K for every F16/BF16 matmul on the hot path; same
  // ownership and fallback as q8.
  uint16_t* bf16 = nullptr;
  int64_t bf16_elems = 0;
  KernelTimes* times = nullptr;  // null: not measured
  // Training: every matmul takes the f32 path (each weight row's exact f32
  // values times f32 activations; no q8 or bf16 rounding of the activations),
  // so the forward pass is exactly the function whose gradient the backward
  // passes compute. Weights must be in the file layout (not repacked).
  bool exact_f32 = false;
  // With exact_f32: the products through weights (matmul, matmul_t: the
  // frozen base's, the head's, full fine-tuning's) take both operands rounded
  // to bf16 with f32 sums instead (kernels/matmul_bf16_products.cpp; herd
  // finetune --bf16), and so do the weights' own gradients (weight_grad:
  // full fine-tuning). Needs the table's gemm_bf16_pairs. Adapters' products
  // and gradients stay f32 (model/linear.cpp clears it for them).
  bool bf16_products = false;
};

}  // namespace herd::kernels
