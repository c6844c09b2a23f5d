// herd_adamw_dump DIR: herd's AdamW (train/optimizer.h) with 8-bit moments run
// on inputs tests/reference/adamw8bit_check.py writes, for that script's numpy
// implementation of the same specification to check byte for byte.
//   in:  DIR/spec.txt   "STEPS LR WD N1 N2 ..." (steps, peak lr, weight decay,
//                       each tensor's element count)
//        DIR/p_I.f32    tensor I's initial values (raw little-endian f32)
//        DIR/g_I_K.f32  tensor I's gradient at step K (0-based)
//   out: DIR/out_p_I.f32  the values after the steps
//        DIR/out_s_J.bin  optimizer state tensor J (AdamW::state() order: f32
//                         m, v, or u8 m codes, f32 m absmax, u8 v codes, f32 v absmax)
//        DIR/map_signed.f32, DIR/map_unsigned.f32  the two dynamic maps
// The steps run three times: with the host's kernel table on a 2-thread pool,
// on none, and with the scalar reference (kernels/adamw.h); the tool fails
// unless all give the same bytes. Step k uses lr * (k + 1) / STEPS (a schedule).
// Test code only (a tests/ tool, not part of the herd binary).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "train/optimizer.h"

namespace {

using herd::train::AdamW;

std::vector<char> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "herd_adamw_dump: cannot read %s\n", path.c_str());
    std::exit(1);
  }
  return std::vector<char>(std::istreambuf_iterator<char>(f), {});
}

void write_all(const std::string& path, const void* p, size_t n) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
}

std::vector<float> floats(const std::string& path, int64_t n) {
  std::vector<char> b = read_all(path);
  if (b.size() != static_cast<size_t>(n) * sizeof(float)) {
    std::fprintf(stderr, "herd_adamw_dump: %s has %zu bytes, expected %lld\n", path.c_str(), b.size(),
                 static_cast<long long>(n) * 4);
    std::exit(1);
  }
  std::vector<float> v(static_cast<size_t>(n));
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

// Runs the steps; returns every output's bytes (values, then state).
std::vector<std::vector<char>> run(const std::string& dir, int steps, double lr, double wd,
                                   const std::vector<int64_t>& sizes, herd::ThreadPool* pool,
                                   const herd::kernels::KernelTable* table) {
  herd::train::AdamWOptions o;
  o.lr = lr;
  o.weight_decay = wd;
  o.moments_8bit = true;
  AdamW opt(o);
  std::vector<std::vector<float>> p, g;
  for (size_t i = 0; i < sizes.size(); ++i) {
    p.push_back(floats(dir + "/p_" + std::to_string(i) + ".f32", sizes[i]));
    g.emplace_back(static_cast<size_t>(sizes[i]));
  }
  for (size_t i = 0; i < sizes.size(); ++i) opt.add({p[i].data(), g[i].data(), sizes[i]});
  for (int k = 0; k < steps; ++k) {
    for (size_t i = 0; i < sizes.size(); ++i) {  // into the buffers the optimizer holds
      const std::vector<float> gk = floats(dir + "/g_" + std::to_string(i) + "_" + std::to_string(k) + ".f32", sizes[i]);
      std::copy(gk.begin(), gk.end(), g[i].begin());
    }
    opt.step(lr * (k + 1) / steps, pool, table);
  }
  std::vector<std::vector<char>> out;
  for (const std::vector<float>& v : p) {
    const auto* c = reinterpret_cast<const char*>(v.data());
    out.emplace_back(c, c + v.size() * sizeof(float));
  }
  for (const herd::train::StateBuffer& s : opt.state()) {
    const auto* c = s.u8.empty() ? reinterpret_cast<const char*>(s.f32.data()) : reinterpret_cast<const char*>(s.u8.data());
    const size_t n = s.u8.empty() ? s.f32.size() * sizeof(float) : s.u8.size();
    out.emplace_back(c, c + n);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: herd_adamw_dump DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::vector<char> spec_bytes = read_all(dir + "/spec.txt");
  std::istringstream spec(std::string(spec_bytes.begin(), spec_bytes.end()));
  int steps = 0;
  double lr = 0, wd = 0;
  spec >> steps >> lr >> wd;
  std::vector<int64_t> sizes;
  for (int64_t n; spec >> n;) sizes.push_back(n);
  herd::ThreadPool pool(2);
  herd::Result<herd::kernels::KernelTable> table = herd::kernels::select_kernels("auto");
  if (!table.has_value()) {
    std::fprintf(stderr, "herd_adamw_dump: %s\n", table.error().to_string().c_str());
    return 1;
  }
  const std::vector<std::vector<char>> a = run(dir, steps, lr, wd, sizes, &pool, &*table);
  const std::vector<std::vector<char>> b = run(dir, steps, lr, wd, sizes, nullptr, &*table);
  const std::vector<std::vector<char>> r = run(dir, steps, lr, wd, sizes, nullptr, nullptr);
  if (a != b || a != r) {
    if (a != b)
      std::fprintf(stderr, "herd_adamw_dump: the 2-thread pool and one thread gave different bytes\n");
    else
      std::fprintf(stderr, "herd_adamw_dump: ISA %s and the reference gave different bytes\n", table->isa);
    return 1;
  }
  std::printf("herd_adamw_dump: ISA %s, 2 threads, 1 thread and the reference agree\n", table->isa);
  for (size_t i = 0; i < sizes.size(); ++i)
    write_all(dir + "/out_p_" + std::to_string(i) + ".f32", a[i].data(), a[i].size());
  for (size_t j = sizes.size(); j < a.size(); ++j)
    write_all(dir + "/out_s_" + std::to_string(j - sizes.size()) + ".bin", a[j].data(), a[j].size());
  write_all(dir + "/map_signed.f32", herd::kernels::dynamic_map(true).data(), 256 * sizeof(float));
  write_all(dir + "/map_unsigned.f32", herd::kernels::dynamic_map(false).data(), 256 * sizeof(float));
  return 0;
}
