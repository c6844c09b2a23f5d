// Test code: a gradient checked along a random direction against the central
// difference of the function it is the gradient of (kernels' backward and
// distillation-head tests).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/isa_test.h"

namespace herd::kernels {

// <g, E> against the central difference of L along E, relative to the
// directional derivative's magnitude sum_i |g_i E_i|.
inline void expect_directional(const std::function<double(const std::vector<float>&)>& L, const std::vector<float>& x,
                        const std::vector<double>& grad, uint64_t seed, const char* what) {
  const std::vector<float> e = normals(seed, 99, static_cast<int64_t>(x.size()));
  // The steps are taken in float (the ops take float inputs): x +- eps E is
  // rounded, so <g, E> is taken along the steps actually made, (xp - xm) / 2eps,
  // whose asymmetry (a float spacing) leaves only a negligible second-order term.
  const double eps = 1.0 / 65536;
  std::vector<float> xp(x), xm(x);
  double want = 0, mag = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    xp[i] = static_cast<float>(x[i] + eps * e[i]);
    xm[i] = static_cast<float>(x[i] - eps * e[i]);
    // the steps actually taken (float rounding of x + eps E)
    want += grad[i] * (static_cast<double>(xp[i]) - xm[i]) / (2 * eps);
    mag += std::fabs(grad[i] * e[i]);
  }
  const double fd = (L(xp) - L(xm)) / (2 * eps);
  EXPECT_NEAR(fd, want, 1e-6 * mag + 1e-12) << what;
}

}  // namespace herd::kernels
