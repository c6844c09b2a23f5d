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

struct ExecContext {
  ThreadPool* pool = nullptr;      // never null while kernels run
  const KernelTable* table = nullptr;
};

}  // namespace herd::kernels
