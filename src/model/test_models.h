// Random-weight models for unit tests, made once per test process with
// make_model into a per-process folder under the system temp directory that
// is removed at exit. Test code only.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "base/check.h"
#include "base/thread_pool.h"
#include "model/make_model.h"

namespace herd::model {

// The folder (created on first use, removed at exit).
inline const std::string& test_model_dir() {
  // Never destroyed, so the exit handler can still read it.
  static const std::string* dir = [] {
    auto* d = new std::string(std::filesystem::temp_directory_path().string() + "/herd_test_models_" +
                              std::to_string(static_cast<long>(getpid())));
    std::filesystem::create_directories(*d);
    std::atexit([] { std::filesystem::remove_all(test_model_dir()); });
    return d;
  }();
  return *dir;
}

// Writes `name` (a file name in test_model_dir()) with make_model and returns
// its path; aborts the test binary when make_model fails (a broken writer).
inline std::string make_test_model(const std::string& name, const std::string& shape, const std::string& dtype,
                                   uint64_t seed = 0) {
  MakeModelOptions o;
  Result<ModelShape> s = parse_model_shape(shape);
  HERD_CHECK(s.has_value(), "test model shape %s: %s", shape.c_str(), s.error().to_string().c_str());
  o.shape = *s;
  o.dtype = dtype;
  o.seed = seed;
  o.out = test_model_dir() + "/" + name;
  ThreadPool pool(1);
  Status st = make_model(o, pool, nullptr);
  HERD_CHECK(st.has_value(), "make_model %s: %s", name.c_str(), st.error().to_string().c_str());
  return o.out;
}

}  // namespace herd::model
