// Knowledge distillation: the teacher cache and the objective (distill.h).
#include "train/distill.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"
#include "kernels/distill_head.h"

namespace herd::train {
namespace {

// FNV-1a, 64 bits.
struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void add(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  std::string hex() const {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

// The examples `items` packed, and for each token its cache row (-1: not trained).
model::TrainBatch pack(const SftData& d, const TeacherCache* c, std::span<const size_t> items,
                       std::vector<int64_t>* rows) {
  model::TrainBatch tb;
  for (size_t i : items) {
    const size_t start = tb.tokens.size();
    tb.add_sequence(d.examples[i].ids, d.examples[i].trained);
    if (rows == nullptr) continue;
    int64_t r = c->offsets[i];
    for (size_t t = start; t < tb.tokens.size(); ++t) rows->push_back(tb.labels[t] >= 0 ? r++ : -1);
    HERD_CHECK(r == c->offsets[i + 1], "distill: example %zu has %lld trained positions, the cache %lld", i,
               static_cast<long long>(r - c->offsets[i]), static_cast<long long>(c->offsets[i + 1] - c->offsets[i]));
  }
  return tb;
}

}  // namespace

std::string data_fingerprint(const SftData& data) {
  Fnv f;
  for (const Example& e : data.examples) {
    const uint64_t n = e.ids.size();
    f.add(&n, sizeof n);
    f.add(e.ids.data(), e.ids.size() * sizeof(int32_t));
    for (bool b : e.trained) f.add(&b, 1);
  }
  return f.hex();
}

Result<TeacherCache> compute_teacher_cache(kernels::ExecContext exec, model::TrainStep& step, const SftData& data,
                                           const DistillOptions& o, int64_t batch, const std::string& teacher) {
  TeacherCache c;
  c.k = o.top_k;
  c.temperature = o.temperature;
  c.data_fingerprint = data_fingerprint(data);
  c.teacher = teacher;
  c.offsets.push_back(0);
  for (size_t b = 0; b < data.examples.size(); b += static_cast<size_t>(batch)) {
    std::vector<size_t> items;
    for (size_t i = b; i < std::min(data.examples.size(), b + static_cast<size_t>(batch)); ++i) items.push_back(i);
    const model::TrainBatch tb = pack(data, nullptr, items, nullptr);
    HERD_TRY(step.run_head(
        exec, tb,
        [&](const kernels::ExecContext& ex, const float* xn, int64_t T, const TensorView& out, float*, float*,
            float* scratch) -> Result<kernels::CeResult> {
          if (o.top_k > out.rows())
            return err(ErrorCode::kInvalidArgument, "--top-k %lld: the teacher's vocabulary has %lld entries",
                       static_cast<long long>(o.top_k), static_cast<long long>(out.rows()));
          // Only the trained positions: their hidden states gathered, in order.
          const int64_t D = out.cols();
          std::vector<float> h;
          for (int64_t t = 0; t < T; ++t)
            if (tb.labels[static_cast<size_t>(t)] >= 0) h.insert(h.end(), xn + t * D, xn + (t + 1) * D);
          const auto n = static_cast<int64_t>(h.size()) / D;
          const size_t r0 = c.lse.size();
          c.ids.resize((r0 + static_cast<size_t>(n)) * static_cast<size_t>(c.k));
          c.logits.resize(c.ids.size());
          c.lse.resize(r0 + static_cast<size_t>(n));
          if (n > 0)
            kernels::logits_topk(ex, h.data(), n, out, c.k, static_cast<float>(c.temperature),
                                 c.ids.data() + r0 * static_cast<size_t>(c.k), c.logits.data() + r0 * static_cast<size_t>(c.k),
                                 c.lse.data() + r0, scratch);
          return kernels::CeResult{};
        },
        nullptr));
    for (size_t i : items) c.offsets.push_back(c.offsets.back() + data.examples[i].n_trained());
    if (c.offsets.back() != static_cast<int64_t>(c.lse.size()))
      return err(ErrorCode::kInternal, "distill: the teacher pass found %zu trained positions, the data %lld",
                 c.lse.size(), static_cast<long long>(c.offsets.back()));
  }
  return c;
}

Status write_teacher_cache(const std::string& path, const TeacherCache& c) {
  formats::SafetensorsWriter w;
  w.set_metadata("herd_teacher_cache", "1");
  w.set_metadata("k", std::to_string(c.k));
  char t[32];
  std::snprintf(t, sizeof t, "%.17g", c.temperature);
  w.set_metadata("temperature", t);
  w.set_metadata("data", c.data_fingerprint);
  w.set_metadata("tokenizer", c.tokenizer_fingerprint);
  w.set_metadata("teacher", c.teacher);
  auto add = [&](const char* name, formats::StDType dt, std::vector<int64_t> shape, const void* p, size_t bytes) {
    return w.add_tensor(name, dt, std::move(shape), [p, bytes](uint8_t* dst, uint64_t n) -> Status {
      if (n != bytes) return err(ErrorCode::kInternal, "teacher cache: %llu bytes for %zu", static_cast<unsigned long long>(n), bytes);
      std::memcpy(dst, p, n);
      return Ok{};
    });
  };
  const auto rows = static_cast<int64_t>(c.lse.size());
  HERD_TRY(add("offsets", formats::StDType::kI64, {static_cast<int64_t>(c.offsets.size())}, c.offsets.data(),
               c.offsets.size() * 8));
  HERD_TRY(add("ids", formats::StDType::kI32, {rows, c.k}, c.ids.data(), c.ids.size() * 4));
  HERD_TRY(add("logits", formats::StDType::kF32, {rows, c.k}, c.logits.data(), c.logits.size() * 4));
  HERD_TRY(add("lse", formats::StDType::kF64, {rows}, c.lse.data(), c.lse.size() * 8));
  return w.write(path);
}

Result<TeacherCache> read_teacher_cache(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(formats::SafetensorsFile f, formats::SafetensorsFile::open(path));
  const auto& md = f.metadata();
  for (const char* key : {"herd_teacher_cache", "k", "temperature", "data", "tokenizer", "teacher"})
    if (md.count(key) == 0) return err(ErrorCode::kInvalidArgument, "%s: not a herd teacher cache (no %s)", path.c_str(), key);
  TeacherCache c;
  c.k = std::strtoll(md.at("k").c_str(), nullptr, 10);
  c.temperature = std::strtod(md.at("temperature").c_str(), nullptr);
  c.data_fingerprint = md.at("data");
  c.tokenizer_fingerprint = md.at("tokenizer");
  c.teacher = md.at("teacher");
  auto get = [&](const char* name, formats::StDType dt, size_t elem, auto* out) -> Status {
    const formats::StTensor* t = f.find(name);
    if (t == nullptr || t->dtype != dt || t->nbytes % elem != 0)
      return err(ErrorCode::kInvalidArgument, "%s: tensor %s is missing or of another type", path.c_str(), name);
    out->resize(t->nbytes / elem);
    std::memcpy(out->data(), t->data, t->nbytes);
    return Ok{};
  };
  HERD_TRY(get("offsets", formats::StDType::kI64, 8, &c.offsets));
  HERD_TRY(get("ids", formats::StDType::kI32, 4, &c.ids));
  HERD_TRY(get("logits", formats::StDType::kF32, 4, &c.logits));
  HERD_TRY(get("lse", formats::StDType::kF64, 8, &c.lse));
  const auto rows = static_cast<int64_t>(c.lse.size());
  bool ok = c.k >= 1 && !c.offsets.empty() && c.offsets.front() == 0 && c.offsets.back() == rows &&
            static_cast<int64_t>(c.ids.size()) == rows * c.k && c.logits.size() == c.ids.size() && c.temperature > 0;
  for (size_t i = 1; ok && i < c.offsets.size(); ++i) ok = c.offsets[i] >= c.offsets[i - 1];
  if (!ok) return err(ErrorCode::kInvalidArgument, "%s: inconsistent teacher cache (sizes or offsets)", path.c_str());
  return c;
}

Status check_teacher_cache(const TeacherCache& c, const SftData& data, const DistillOptions& o,
                           const std::string& tokenizer_fp) {
  if (c.tokenizer_fingerprint != tokenizer_fp)
    return err(ErrorCode::kInvalidArgument,
               "the teacher's tokenizer differs from the student's: distillation needs the same vocabulary");
  if (c.k != o.top_k || c.temperature != o.temperature)
    return err(ErrorCode::kInvalidArgument, "the teacher cache holds top-%lld at temperature %g, not top-%lld at %g",
               static_cast<long long>(c.k), c.temperature, static_cast<long long>(o.top_k), o.temperature);
  if (c.data_fingerprint != data_fingerprint(data) || c.offsets.size() != data.examples.size() + 1)
    return err(ErrorCode::kInvalidArgument, "the teacher cache was made for other data (or another --seq-len)");
  for (size_t i = 0; i < data.examples.size(); ++i)
    if (c.offsets[i + 1] - c.offsets[i] != data.examples[i].n_trained())
      return err(ErrorCode::kInvalidArgument, "the teacher cache's rows do not match example %zu", i);
  for (int32_t id : c.ids)
    if (id < 0) return err(ErrorCode::kInvalidArgument, "the teacher cache holds a negative id");
  return Ok{};
}

int64_t DistillObjective::denominator(std::span<const size_t> items) const {
  int64_t n = 0;
  for (size_t i : items) n += data_.examples[i].n_trained();
  return n;
}

std::string DistillObjective::fingerprint() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "distill examples=%zu k=%lld temperature=%.17g kd_ratio=%.17g data=%s",
                data_.examples.size(), static_cast<long long>(o_.top_k), o_.temperature, o_.kd_ratio,
                cache_.data_fingerprint.c_str());
  return std::string(buf) + (o_.reverse_kl ? " reverse_kl" : "");
}

Result<MicroResult> DistillObjective::run(kernels::ExecContext exec, model::TrainStep& step,
                                          std::span<const size_t> items, float grad_scale,
                                          model::TrainGrads* grads) {
  std::vector<int64_t> rows;
  const model::TrainBatch tb = pack(data_, &cache_, items, &rows);
  const auto T = static_cast<int64_t>(tb.tokens.size());
  const int64_t K = cache_.k;
  // The teacher's binned distribution at each trained token, and its entropy.
  std::vector<int32_t> ids(static_cast<size_t>(T * K), -1);
  std::vector<float> w(static_cast<size_t>(T * K), 0.0f), tail(static_cast<size_t>(T), 0.0f);
  double teacher_entropy = 0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t r = rows[static_cast<size_t>(t)];
    if (r < 0) continue;
    double sum = 0;
    for (int64_t j = 0; j < K; ++j) {
      const double p = std::exp(cache_.logits[static_cast<size_t>(r * K + j)] / cache_.temperature - cache_.lse[static_cast<size_t>(r)]);
      ids[static_cast<size_t>(t * K + j)] = cache_.ids[static_cast<size_t>(r * K + j)];
      w[static_cast<size_t>(t * K + j)] = static_cast<float>(p);
      sum += p;
      if (p > 0) teacher_entropy -= p * std::log(p);
    }
    const double pt = std::max(0.0, 1.0 - sum);
    tail[static_cast<size_t>(t)] = static_cast<float>(pt);
    if (pt > 0) teacher_entropy -= pt * std::log(pt);
  }
  kernels::SoftTargets tg{K, ids.data(), w.data(), tail.data()};
  tg.reverse = o_.reverse_kl;
  const double a = o_.kd_ratio, tau = o_.temperature, kd_w = a * tau * tau;
  // One head call for both terms: the bins (weight kd_w, at tau) and the labels'
  // cross-entropy (weight 1 - a, at temperature 1), over the same logits.
  tg.labels = tb.labels.data();
  tg.label_scale = static_cast<float>(grad_scale * (1 - a));
  MicroResult m;
  m.metric_sums.assign(2, 0.0);
  m.tokens = T;
  HERD_TRY(step.run_head(
      exec, tb,
      [&](const kernels::ExecContext& ex, const float* xn, int64_t n, const TensorView& out, float* dxn, float* dw,
          float* scratch) -> Result<kernels::CeResult> {
        const kernels::SoftCeResult kd = kernels::soft_cross_entropy(
            ex, xn, n, out, tg, static_cast<float>(tau), static_cast<float>(grad_scale * kd_w), dxn, scratch, dw);
        const kernels::CeResult ce{kd.label_loss_sum, kd.label_counted};
        m.loss_sum = kd_w * kd.loss_sum + (1 - a) * ce.loss_sum;
        m.metric_sums[0] = a > 0 ? (o_.reverse_kl ? kd.loss_sum : kd.loss_sum - teacher_entropy) : 0.0;
        m.metric_sums[1] = ce.loss_sum;
        return ce;
      },
      grads));
  return m;
}

}  // namespace herd::train
