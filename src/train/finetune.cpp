// The fine-tuning loop (finetune.h).
#include "train/finetune.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "base/rng.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"
#include "model/llama_train.h"

namespace herd::train {
namespace {

// A seeded Fisher-Yates shuffle.
void shuffle(std::vector<size_t>& v, uint64_t seed, uint64_t stream) {
  Rng r(seed, stream);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[r.next_u64() % i]);
}

model::TrainBatch pack(const SftData& d, const std::vector<size_t>& order, size_t b, size_t e) {
  model::TrainBatch tb;
  for (size_t i = b; i < e; ++i) tb.add_sequence(d.examples[order[i]].ids, d.examples[order[i]].trained);
  return tb;
}

int64_t counted(const model::TrainBatch& b) {
  int64_t n = 0;
  for (int32_t l : b.labels) n += l >= 0 ? 1 : 0;
  return n;
}

// What shapes a run: a checkpoint resumes only under the same.
std::string fingerprint(const FinetuneOptions& o, const LoraSpec& l, size_t n_examples) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "examples=%zu epochs=%lld batch=%lld accum=%lld max_steps=%lld warmup=%lld clip=%.17g val=%.17g "
                "seed=%llu lr=%.17g b1=%.17g b2=%.17g eps=%.17g wd=%.17g rank=%lld alpha=%.17g targets=%u rslora=%d",
                n_examples, static_cast<long long>(o.epochs), static_cast<long long>(o.batch),
                static_cast<long long>(o.grad_accum), static_cast<long long>(o.max_steps),
                static_cast<long long>(o.warmup), o.clip, o.val_split, static_cast<unsigned long long>(o.seed),
                o.adamw.lr, o.adamw.beta1, o.adamw.beta2, o.adamw.eps, o.adamw.weight_decay,
                static_cast<long long>(l.rank), l.alpha, static_cast<unsigned>(l.targets), l.rslora ? 1 : 0);
  return buf;
}

Status save_checkpoint(const std::string& path, const std::string& fp, int64_t step, LoraSet& lora, AdamW& opt) {
  formats::SafetensorsWriter w;
  w.set_metadata("herd_checkpoint", "1");
  w.set_metadata("run", fp);
  w.set_metadata("step", std::to_string(step));
  std::vector<std::span<float>> all;
  for (std::vector<float>* t : lora.tensors()) all.emplace_back(*t);
  for (std::span<float> t : opt.state()) all.push_back(t);
  for (size_t i = 0; i < all.size(); ++i) {
    const std::span<float> t = all[i];
    HERD_TRY(w.add_tensor("t." + std::to_string(i), formats::StDType::kF32, {static_cast<int64_t>(t.size())},
                          [t](uint8_t* dst, uint64_t n) -> Status {
                            std::memcpy(dst, t.data(), n);
                            return Ok{};
                          }));
  }
  return w.write(path);
}

Result<int64_t> load_checkpoint(const std::string& path, const std::string& fp, LoraSet& lora, AdamW& opt) {
  HERD_ASSIGN_OR_RETURN(formats::SafetensorsFile f, formats::SafetensorsFile::open(path));
  const auto& md = f.metadata();
  if (md.count("herd_checkpoint") == 0 || md.count("run") == 0 || md.count("step") == 0)
    return err(ErrorCode::kInvalidArgument, "%s: not a herd finetune checkpoint", path.c_str());
  if (md.at("run") != fp)
    return err(ErrorCode::kInvalidArgument,
               "%s: written by a run with other options or data (%s); resume with the same ones (now: %s)", path.c_str(),
               md.at("run").c_str(), fp.c_str());
  std::vector<std::span<float>> all;
  for (std::vector<float>* t : lora.tensors()) all.emplace_back(*t);
  for (std::span<float> t : opt.state()) all.push_back(t);
  for (size_t i = 0; i < all.size(); ++i) {
    const formats::StTensor* t = f.find("t." + std::to_string(i));
    if (t == nullptr || t->dtype != formats::StDType::kF32 || t->nbytes != all[i].size() * sizeof(float))
      return err(ErrorCode::kInvalidArgument, "%s: tensor t.%zu is missing or has another size", path.c_str(), i);
    std::memcpy(all[i].data(), t->data, t->nbytes);
  }
  const int64_t step = std::strtoll(md.at("step").c_str(), nullptr, 10);
  opt.set_steps(step);
  return step;
}

}  // namespace

Result<FinetuneResult> finetune(kernels::ExecContext exec, model::LlamaModel& model, LoraSet& lora,
                                const SftData& data, const FinetuneOptions& o,
                                const std::function<bool(const StepReport&)>& on_step) {
  if (o.batch < 1 || o.grad_accum < 1 || o.epochs < 1)
    return err(ErrorCode::kInvalidArgument, "--batch, --grad-accum and --epochs must be >= 1");
  if (!(o.val_split >= 0 && o.val_split < 1)) return err(ErrorCode::kInvalidArgument, "--val-split must be in [0, 1)");
  // Split: a seeded permutation, the first eval_n examples held out.
  std::vector<size_t> all(data.examples.size());
  std::iota(all.begin(), all.end(), size_t{0});
  shuffle(all, o.seed, 0);
  const auto eval_n = static_cast<size_t>(static_cast<double>(all.size()) * o.val_split);
  if (eval_n == all.size()) return err(ErrorCode::kInvalidArgument, "--val-split leaves no training example");
  const std::vector<size_t> eval_set(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(eval_n));
  std::vector<size_t> train_set(all.begin() + static_cast<std::ptrdiff_t>(eval_n), all.end());
  std::sort(train_set.begin(), train_set.end());

  size_t max_len = 0;
  for (const Example& ex : data.examples) max_len = std::max(max_len, ex.ids.size());
  model::TrainStep step(model, static_cast<int64_t>(max_len) * o.batch);
  HERD_TRY(lora.attach(model));
  AdamW opt(o.adamw);
  std::vector<Param> params = lora.params();
  for (const Param& p : params) opt.add(p);

  const auto micro_per_epoch = static_cast<int64_t>((train_set.size() + static_cast<size_t>(o.batch) - 1) / static_cast<size_t>(o.batch));
  const int64_t steps_per_epoch = std::max<int64_t>(1, micro_per_epoch / o.grad_accum);
  int64_t total = steps_per_epoch * o.epochs;
  if (o.max_steps > 0) total = std::min(total, o.max_steps);
  const int64_t warmup = std::min(o.warmup, total / 10);
  FinetuneResult res;
  res.train_examples = static_cast<int64_t>(train_set.size());
  res.eval_examples = static_cast<int64_t>(eval_n);

  auto eval_loss = [&]() -> Result<double> {
    double sum = 0;
    int64_t n = 0;
    for (size_t b = 0; b < eval_set.size(); b += static_cast<size_t>(o.batch)) {
      const model::TrainBatch tb = pack(data, eval_set, b, std::min(eval_set.size(), b + static_cast<size_t>(o.batch)));
      HERD_ASSIGN_OR_RETURN(const kernels::CeResult r, step.run(exec, tb, 1.0f, nullptr));
      sum += r.loss_sum;
      n += r.counted;
    }
    return n > 0 ? sum / static_cast<double>(n) : -1.0;
  };

  const std::string fp = fingerprint(o, lora.spec(), data.examples.size());
  int64_t done = 0;
  if (o.resume) {
    if (o.checkpoint.empty()) return err(ErrorCode::kInvalidArgument, "resume: no checkpoint path");
    HERD_ASSIGN_OR_RETURN(done, load_checkpoint(o.checkpoint, fp, lora, opt));
    res.resumed_from = done;
  }
  int64_t global = 0;  // optimizer steps visited, done or skipped
  for (int64_t epoch = 0; epoch < o.epochs && done < total; ++epoch) {
    std::vector<size_t> order = train_set;
    shuffle(order, o.seed, static_cast<uint64_t>(epoch) + 1);
    for (int64_t s = 0; s < steps_per_epoch && done < total; ++s) {
      if (global++ < res.resumed_from) continue;  // covered by the checkpoint
      const auto t0 = std::chrono::steady_clock::now();
      // The micro-batches of this optimizer step, and their trained tokens.
      std::vector<model::TrainBatch> micro;
      int64_t n_counted = 0, n_tokens = 0;
      for (int64_t k = 0; k < o.grad_accum; ++k) {
        const size_t b = static_cast<size_t>((s * o.grad_accum + k) * o.batch);
        if (b >= order.size()) break;
        micro.push_back(pack(data, order, b, std::min(order.size(), b + static_cast<size_t>(o.batch))));
        n_counted += counted(micro.back());
        n_tokens += static_cast<int64_t>(micro.back().tokens.size());
      }
      lora.zero_grads();
      double loss_sum = 0;
      for (const model::TrainBatch& tb : micro) {
        HERD_ASSIGN_OR_RETURN(const kernels::CeResult r,
                              step.run(exec, tb, 1.0f / static_cast<float>(n_counted), &lora.grads()));
        loss_sum += r.loss_sum;
      }
      StepReport rep;
      rep.step = done + 1;
      rep.total_steps = total;
      rep.epoch = epoch + 1;
      rep.loss = loss_sum / static_cast<double>(n_counted);
      rep.grad_norm = clip_grad_norm(params, o.clip);
      rep.lr = cosine_lr(o.adamw.lr, done, warmup, total);
      opt.step(rep.lr);
      rep.tokens = n_tokens;
      ++done;
      if (done == res.resumed_from + 1) res.first_loss = rep.loss;
      res.last_loss = rep.loss;
      const bool epoch_end = s + 1 == steps_per_epoch || done == total;
      if (epoch_end && eval_n > 0) {
        HERD_ASSIGN_OR_RETURN(rep.eval_loss, eval_loss());
        res.eval_loss = rep.eval_loss;
      }
      rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      res.steps = done;
      const bool go_on = !on_step || on_step(rep);
      if (!o.checkpoint.empty() && (!go_on || (o.save_every > 0 && done % o.save_every == 0) || done == total))
        HERD_TRY(save_checkpoint(o.checkpoint, fp, done, lora, opt));
      if (!go_on) return res;
    }
  }
  return res;
}

}  // namespace herd::train
