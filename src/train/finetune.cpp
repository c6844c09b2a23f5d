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

// What shapes a run: a checkpoint resumes only under the same.
std::string fingerprint(const FinetuneOptions& o, const Trainable& trained, const Objective& obj) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "epochs=%lld batch=%lld accum=%lld max_steps=%lld warmup=%lld clip=%.17g val=%.17g "
                "seed=%llu lr=%.17g b1=%.17g b2=%.17g eps=%.17g wd=%.17g %s%s",
                static_cast<long long>(o.epochs), static_cast<long long>(o.batch),
                static_cast<long long>(o.grad_accum), static_cast<long long>(o.max_steps),
                static_cast<long long>(o.warmup), o.clip, o.val_split, static_cast<unsigned long long>(o.seed),
                o.adamw.lr, o.adamw.beta1, o.adamw.beta2, o.adamw.eps, o.adamw.weight_decay,
                o.bf16_products ? "bf16 " : "", o.adamw.moments_8bit ? "adamw8bit " : "");
  return obj.fingerprint() + " " + buf + trained.fingerprint();
}

// Every tensor a checkpoint holds, in order: the trained values, then the
// optimizer's state (f32, or the 8-bit moments' codes).
std::vector<StateBuffer> checkpoint_tensors(Trainable& trained, AdamW& opt) {
  std::vector<StateBuffer> all;
  for (std::span<float> t : trained.values()) all.push_back({t, {}});
  for (const StateBuffer& t : opt.state()) all.push_back(t);
  return all;
}

Status save_checkpoint(const std::string& path, const std::string& fp, int64_t step, Trainable& trained, AdamW& opt) {
  formats::SafetensorsWriter w;
  w.set_metadata("herd_checkpoint", "1");
  w.set_metadata("run", fp);
  w.set_metadata("step", std::to_string(step));
  const std::vector<StateBuffer> all = checkpoint_tensors(trained, opt);
  for (size_t i = 0; i < all.size(); ++i) {
    const bool u8 = all[i].f32.empty() && !all[i].u8.empty();
    const void* src = u8 ? static_cast<const void*>(all[i].u8.data()) : all[i].f32.data();
    const size_t n = u8 ? all[i].u8.size() : all[i].f32.size();
    HERD_TRY(w.add_tensor_bytes("t." + std::to_string(i), u8 ? formats::StDType::kU8 : formats::StDType::kF32,
                                {static_cast<int64_t>(n)}, src));
  }
  return w.write(path);
}

Result<int64_t> load_checkpoint(const std::string& path, const std::string& fp, Trainable& trained, AdamW& opt) {
  HERD_ASSIGN_OR_RETURN(formats::SafetensorsFile f, formats::SafetensorsFile::open(path));
  const auto& md = f.metadata();
  if (md.count("herd_checkpoint") == 0 || md.count("run") == 0 || md.count("step") == 0)
    return err(ErrorCode::kInvalidArgument, "%s: not a herd finetune checkpoint", path.c_str());
  if (md.at("run") != fp)
    return err(ErrorCode::kInvalidArgument,
               "%s: written by a run with other options or data (%s); resume with the same ones (now: %s)", path.c_str(),
               md.at("run").c_str(), fp.c_str());
  const std::vector<StateBuffer> all = checkpoint_tensors(trained, opt);
  for (size_t i = 0; i < all.size(); ++i) {
    const bool u8 = all[i].f32.empty() && !all[i].u8.empty();
    void* dst = u8 ? static_cast<void*>(all[i].u8.data()) : all[i].f32.data();
    const size_t bytes = u8 ? all[i].u8.size() : all[i].f32.size() * sizeof(float);
    const formats::StTensor* t = f.find("t." + std::to_string(i));
    if (t == nullptr || t->dtype != (u8 ? formats::StDType::kU8 : formats::StDType::kF32) || t->nbytes != bytes)
      return err(ErrorCode::kInvalidArgument, "%s: tensor t.%zu is missing or has another size", path.c_str(), i);
    std::memcpy(dst, t->data, t->nbytes);
  }
  const int64_t step = std::strtoll(md.at("step").c_str(), nullptr, 10);
  opt.set_steps(step);
  return step;
}

// The items [b, e) of `order`.
std::span<const size_t> slice(const std::vector<size_t>& order, size_t b, size_t e) {
  return std::span<const size_t>(order).subspan(b, e - b);
}

}  // namespace

bool use_activation_checkpointing(Checkpointing mode, int64_t kept_bytes, std::optional<int64_t> available_bytes) {
  if (mode != Checkpointing::kAuto) return mode == Checkpointing::kOn;
  return !available_bytes.has_value() || kept_bytes > *available_bytes / 4;
}

Result<FinetuneResult> finetune(kernels::ExecContext exec, model::LlamaModel& model, Trainable& trained,
                                Objective& obj, const FinetuneOptions& o,
                                const std::function<bool(const StepReport&)>& on_step) {
  exec.bf16_products = o.bf16_products;
  if (o.batch < 1 || o.grad_accum < 1 || o.epochs < 1)
    return err(ErrorCode::kInvalidArgument, "--batch, --grad-accum and --epochs must be >= 1");
  if (!(o.val_split >= 0 && o.val_split < 1)) return err(ErrorCode::kInvalidArgument, "--val-split must be in [0, 1)");
  // Split: a seeded permutation, the first eval_n items held out.
  std::vector<size_t> all(obj.size());
  std::iota(all.begin(), all.end(), size_t{0});
  shuffle(all, o.seed, 0);
  const auto eval_n = static_cast<size_t>(static_cast<double>(all.size()) * o.val_split);
  if (eval_n == all.size()) return err(ErrorCode::kInvalidArgument, "--val-split leaves no training example");
  const std::vector<size_t> eval_set(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(eval_n));
  std::vector<size_t> train_set(all.begin() + static_cast<std::ptrdiff_t>(eval_n), all.end());
  std::sort(train_set.begin(), train_set.end());

  int64_t max_len = 0;
  for (size_t i = 0; i < obj.size(); ++i) max_len = std::max(max_len, obj.item_tokens(i));
  model::TrainStep step(model, max_len * o.batch);
  HERD_TRY(trained.prepare(model));
  step.set_lora_dropout(trained.lora_dropout(), o.seed);
  step.set_activation_checkpointing(o.activation_checkpointing);
  AdamW opt(o.adamw);
  std::vector<Param> params = trained.params();
  for (const Param& p : params) opt.add(p);
  const size_t n_metrics = obj.metric_names().size();

  const auto micro_per_epoch = static_cast<int64_t>((train_set.size() + static_cast<size_t>(o.batch) - 1) / static_cast<size_t>(o.batch));
  const int64_t steps_per_epoch = std::max<int64_t>(1, micro_per_epoch / o.grad_accum);
  int64_t total = steps_per_epoch * o.epochs;
  if (o.max_steps > 0) total = std::min(total, o.max_steps);
  const int64_t warmup = std::min(o.warmup, total / 10);
  FinetuneResult res;
  res.train_examples = static_cast<int64_t>(train_set.size());
  res.eval_examples = static_cast<int64_t>(eval_n);

  // The held-out items' loss and metrics (means over their denominator).
  auto evaluate = [&](StepReport* rep) -> Status {
    double sum = 0;
    std::vector<double> msum(n_metrics, 0.0);
    int64_t n = 0;
    for (size_t b = 0; b < eval_set.size(); b += static_cast<size_t>(o.batch)) {
      const std::span<const size_t> items = slice(eval_set, b, std::min(eval_set.size(), b + static_cast<size_t>(o.batch)));
      HERD_ASSIGN_OR_RETURN(const MicroResult r, obj.run(exec, step, items, 1.0f, nullptr));
      sum += r.loss_sum;
      for (size_t k = 0; k < n_metrics; ++k) msum[k] += r.metric_sums[k];
      n += obj.denominator(items);
    }
    if (n == 0) return Ok{};
    rep->eval_loss = sum / static_cast<double>(n);
    for (double& m : msum) m /= static_cast<double>(n);
    rep->eval_metrics = msum;
    return Ok{};
  };

  const std::string fp = fingerprint(o, trained, obj);
  int64_t done = 0;
  if (o.resume) {
    if (o.checkpoint.empty()) return err(ErrorCode::kInvalidArgument, "resume: no checkpoint path");
    HERD_ASSIGN_OR_RETURN(done, load_checkpoint(o.checkpoint, fp, trained, opt));
    res.resumed_from = done;
  }
  int64_t global = 0;  // optimizer steps visited, done or skipped
  for (int64_t epoch = 0; epoch < o.epochs && done < total; ++epoch) {
    std::vector<size_t> order = train_set;
    shuffle(order, o.seed, static_cast<uint64_t>(epoch) + 1);
    for (int64_t s = 0; s < steps_per_epoch && done < total; ++s) {
      if (global++ < res.resumed_from) continue;  // covered by the checkpoint
      const auto t0 = std::chrono::steady_clock::now();
      // The micro-batches of this optimizer step, and what its loss is a mean over.
      std::vector<std::span<const size_t>> micro;
      int64_t denom = 0;
      for (int64_t k = 0; k < o.grad_accum; ++k) {
        const size_t b = static_cast<size_t>((s * o.grad_accum + k) * o.batch);
        if (b >= order.size()) break;
        micro.push_back(slice(order, b, std::min(order.size(), b + static_cast<size_t>(o.batch))));
        denom += obj.denominator(micro.back());
      }
      trained.zero_grads();
      double loss_sum = 0;
      StepReport rep;
      rep.metrics.assign(n_metrics, 0.0);
      for (size_t mi = 0; mi < micro.size(); ++mi) {
        const std::span<const size_t> items = micro[mi];
        // LoRA dropout's masks: a function of the micro-step's place in the run (resume draws the same).
        step.set_dropout_salt(static_cast<uint64_t>(done * o.grad_accum) + mi);
        HERD_ASSIGN_OR_RETURN(const MicroResult r,
                              obj.run(exec, step, items, 1.0f / static_cast<float>(denom), &trained.grads()));
        loss_sum += r.loss_sum;
        rep.tokens += r.tokens;
        for (size_t k = 0; k < n_metrics; ++k) rep.metrics[k] += r.metric_sums[k];
      }
      rep.step = done + 1;
      rep.total_steps = total;
      rep.epoch = epoch + 1;
      rep.loss = loss_sum / static_cast<double>(denom);
      for (double& m : rep.metrics) m /= static_cast<double>(denom);
      rep.grad_norm = clip_grad_norm(params, o.clip, exec.pool);
      rep.lr = cosine_lr(o.adamw.lr, done, warmup, total);
      opt.step(rep.lr, exec.pool, exec.table);
      ++done;
      if (done == res.resumed_from + 1) res.first_loss = rep.loss;
      res.last_loss = rep.loss;
      const bool epoch_end = s + 1 == steps_per_epoch || done == total;
      if (epoch_end && eval_n > 0) {
        HERD_TRY(evaluate(&rep));
        res.eval_loss = rep.eval_loss;
      }
      rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      res.steps = done;
      const bool go_on = !on_step || on_step(rep);
      if (!o.checkpoint.empty() && (!go_on || (o.save_every > 0 && done % o.save_every == 0) || done == total))
        HERD_TRY(save_checkpoint(o.checkpoint, fp, done, trained, opt));
      if (!go_on) return res;
    }
  }
  return res;
}

}  // namespace herd::train
