// DPO losses and the DPO objective (dpo.h).
#include "train/dpo.h"

#include <cmath>
#include <cstdio>

namespace herd::train {
namespace {

// log sigmoid(z), without overflow for either sign.
double log_sigmoid(double z) { return z < 0 ? z - std::log1p(std::exp(z)) : -std::log1p(std::exp(-z)); }
double sigmoid(double z) { return z < 0 ? std::exp(z) / (1 + std::exp(z)) : 1 / (1 + std::exp(-z)); }

enum Metric { kRewardChosen, kRewardRejected, kMargin, kAccuracy, kLogpChosen, kLogpRejected, kMetrics };

// The counted positions' log-prob sum of the sequence at [start, start + n) of a batch.
double logp_sum(std::span<const double> nll, size_t start, size_t n) {
  double s = 0;
  for (size_t t = start; t < start + n; ++t) s -= nll[t];
  return s;
}

}  // namespace

Result<DpoLoss> parse_dpo_loss(const std::string& name) {
  if (name == "sigmoid") return DpoLoss::kSigmoid;
  if (name == "ipo") return DpoLoss::kIpo;
  if (name == "hinge") return DpoLoss::kHinge;
  return err(ErrorCode::kInvalidArgument, "--loss %s: one of sigmoid (DPO), ipo, hinge", name.c_str());
}

const char* dpo_loss_name(DpoLoss l) {
  switch (l) {
    case DpoLoss::kSigmoid: return "sigmoid";
    case DpoLoss::kIpo: return "ipo";
    case DpoLoss::kHinge: return "hinge";
  }
  return "?";
}

PairLoss dpo_pair_loss(const DpoOptions& o, double pi_c, double pi_r, double ref_c, double ref_r, int64_t n_c,
                       int64_t n_r) {
  PairLoss r;
  // IPO compares per-token averages; the others sums. dc, dr: d(log-prob as
  // used)/d(sum).
  const bool avg = o.loss == DpoLoss::kIpo;
  const double dc = avg ? 1.0 / static_cast<double>(n_c) : 1.0, dr = avg ? 1.0 / static_cast<double>(n_r) : 1.0;
  r.logp_chosen = pi_c * dc;
  r.logp_rejected = pi_r * dr;
  const double hc = (pi_c - ref_c) * dc, hr = (pi_r - ref_r) * dr;
  r.reward_chosen = o.beta * hc;
  r.reward_rejected = o.beta * hr;
  const double h = hc - hr;
  double dh = 0;  // d loss / d h
  switch (o.loss) {
    case DpoLoss::kSigmoid: {
      const double z = o.beta * h, eps = o.label_smoothing;
      r.loss = -(1 - eps) * log_sigmoid(z) - eps * log_sigmoid(-z);
      dh = o.beta * (-(1 - eps) * sigmoid(-z) + eps * sigmoid(z));
      break;
    }
    case DpoLoss::kIpo: {
      const double d = h - 1 / (2 * o.beta);
      r.loss = d * d;
      dh = 2 * d;
      break;
    }
    case DpoLoss::kHinge: {
      const double m = 1 - o.beta * h;
      r.loss = m > 0 ? m : 0;
      dh = m > 0 ? -o.beta : 0;
      break;
    }
  }
  r.d_pi_c = dh * dc;
  r.d_pi_r = -dh * dr;
  if (o.rpo_alpha > 0) {
    r.loss += o.rpo_alpha * (-pi_c / static_cast<double>(n_c));
    r.d_pi_c += -o.rpo_alpha / static_cast<double>(n_c);
  }
  return r;
}

int64_t DpoObjective::item_tokens(size_t i) const {
  return static_cast<int64_t>(data_.pairs[i].chosen.ids.size() + data_.pairs[i].rejected.ids.size());
}

std::vector<std::string> DpoObjective::metric_names() const {
  return {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen",
          "logps/rejected"};
}

std::string DpoObjective::fingerprint() const {
  char buf[256];
  std::snprintf(buf, sizeof buf, "dpo pairs=%zu loss=%s beta=%.17g eps=%.17g rpo=%.17g", data_.pairs.size(),
                dpo_loss_name(o_.loss), o_.beta, o_.label_smoothing, o_.rpo_alpha);
  return buf;
}

namespace {

// A micro-batch of pairs packed as chosen, rejected, chosen, ...: the batch
// and each sequence's first position.
model::TrainBatch pack_pairs(const PrefData& d, std::span<const size_t> items, std::vector<size_t>* starts) {
  model::TrainBatch tb;
  for (size_t i : items) {
    for (const Example* e : {&d.pairs[i].chosen, &d.pairs[i].rejected}) {
      starts->push_back(tb.tokens.size());
      tb.add_sequence(e->ids, e->trained);
    }
  }
  return tb;
}

}  // namespace

Status DpoObjective::compute_reference(kernels::ExecContext exec, model::TrainStep& step, int64_t batch) {
  for (size_t b = 0; b < data_.pairs.size(); b += static_cast<size_t>(batch)) {
    std::vector<size_t> items;
    for (size_t i = b; i < std::min(data_.pairs.size(), b + static_cast<size_t>(batch)); ++i) items.push_back(i);
    std::vector<size_t> starts;
    const model::TrainBatch tb = pack_pairs(data_, items, &starts);
    HERD_TRY(step.run_weighted(
                     exec, tb,
                     [&](std::span<const double> nll, std::span<float>) {
                       for (size_t k = 0; k < items.size(); ++k) {
                         PrefPair& p = data_.pairs[items[k]];
                         p.ref_chosen = logp_sum(nll, starts[2 * k], p.chosen.ids.size());
                         p.ref_rejected = logp_sum(nll, starts[2 * k + 1], p.rejected.ids.size());
                       }
                     },
                     nullptr));
  }
  return Ok{};
}

Result<MicroResult> DpoObjective::run(kernels::ExecContext exec, model::TrainStep& step, std::span<const size_t> items,
                                      float grad_scale, model::TrainGrads* grads) {
  std::vector<size_t> starts;
  const model::TrainBatch tb = pack_pairs(data_, items, &starts);
  MicroResult m;
  m.metric_sums.assign(kMetrics, 0.0);
  m.tokens = static_cast<int64_t>(tb.tokens.size());
  auto weigh = [&](std::span<const double> nll, std::span<float> scale) {
    for (size_t k = 0; k < items.size(); ++k) {
      const PrefPair& p = data_.pairs[items[k]];
      const size_t sc = starts[2 * k], sr = starts[2 * k + 1];
      const size_t nc = p.chosen.ids.size(), nr = p.rejected.ids.size();
      const PairLoss l = dpo_pair_loss(o_, logp_sum(nll, sc, nc), logp_sum(nll, sr, nr), p.ref_chosen, p.ref_rejected,
                                       p.chosen.n_trained(), p.rejected.n_trained());
      m.loss_sum += l.loss;
      m.metric_sums[kRewardChosen] += l.reward_chosen;
      m.metric_sums[kRewardRejected] += l.reward_rejected;
      m.metric_sums[kMargin] += l.reward_chosen - l.reward_rejected;
      m.metric_sums[kAccuracy] += l.reward_chosen > l.reward_rejected ? 1.0 : 0.0;
      m.metric_sums[kLogpChosen] += l.logp_chosen;
      m.metric_sums[kLogpRejected] += l.logp_rejected;
      // pi = -sum of nll: d loss / d nll_t = -d loss / d pi, times the step's scale.
      std::fill(scale.begin() + static_cast<std::ptrdiff_t>(sc), scale.begin() + static_cast<std::ptrdiff_t>(sc + nc),
                static_cast<float>(-l.d_pi_c * grad_scale));
      std::fill(scale.begin() + static_cast<std::ptrdiff_t>(sr), scale.begin() + static_cast<std::ptrdiff_t>(sr + nr),
                static_cast<float>(-l.d_pi_r * grad_scale));
    }
  };
  HERD_TRY(step.run_weighted(exec, tb, weigh, grads));
  return m;
}

}  // namespace herd::train
