// What the kernel tests share: a fixture parameterised by ISA name that holds
// that ISA's kernel table (skipping, and recording, an ISA the host lacks:
// isa_coverage.h), normally distributed test inputs from a seeded stream, and
// the dtypes that have kernels. Test code only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/rng.h"
#include "kernels/isa_coverage.h"
#include "kernels/kernel_table.h"
#include "tensor/dtype.h"

namespace herd::kernels {

// TEST_P(IsaTableTest-derived, ...) bodies use table_; instantiate with
// INSTANTIATE_TEST_SUITE_P(AllIsas, Fixture, ::testing::ValuesIn(all_isas()), isa_test_name).
class IsaTableTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    HERD_ISA_OR_SKIP(GetParam());
    Result<KernelTable> t = select_kernels(GetParam());
    ASSERT_TRUE(t) << t.error().to_string();
    table_ = *t;
    ASSERT_EQ(std::string(table_.isa), GetParam());
  }
  KernelTable table_;
};

inline std::string isa_test_name(const ::testing::TestParamInfo<std::string>& p) { return p.param; }

// n draws of N(0, scale^2) from stream `stream` of `seed`.
inline std::vector<float> normals(uint64_t seed, uint64_t stream, int64_t n, float scale = 1.0f) {
  Rng r(seed, stream);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = r.next_normal() * scale;
  return v;
}

// Every dtype the kernels handle: all of them (the row-scaled F8_E4M3 with
// no row scale, i.e. scale 1; its scales have tests of their own).
inline std::vector<DType> dtypes_with_kernels() {
  int n = 0;
  const DTypeInfo* all = all_dtypes(&n);
  std::vector<DType> out;
  for (int i = 0; i < n; ++i) out.push_back(all[i].dtype);
  return out;
}

}  // namespace herd::kernels
