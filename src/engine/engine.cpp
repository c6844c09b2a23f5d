// The engine's step loop: continuous batching over a shared block pool.
// See engine.h for the contract, scheduler.h for the policy, sequence.h for
// the lifecycle, seq_blocks.h for the block tables and prefix cache, and
// model/runner.h for the forward pass (the model's BatchRunner).
//
// One step: take new submissions and cancellations; plan (pure); apply the
// plan to the pool (preempt, admit with prefix-cache hits, blocks for
// decodes); one BatchRunner::eval over every chunk; publish full blocks to the
// prefix cache; sample the sequences whose chunk ended their pending tokens
// (the draws in parallel on the pool, then applied and reported in batch
// order on this thread); finish the ones that are done (blocks released
// before on_done).
#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "base/check.h"
#include "base/thread_pool.h"
#include "engine/scheduler.h"
#include "engine/seq_blocks.h"
#include "engine/sequence.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "kv/block_pool.h"
#include "model/runner.h"

namespace herd::engine {
namespace {

constexpr int64_t kBlockSize = 16;

using SeqPtr = std::shared_ptr<Sequence>;

class BatchEngine final : public Engine {
 public:
  BatchEngine(const model::CausalLm& m, const EngineOptions& o, const kernels::KernelTable& table, ThreadPool* pool)
      : shape_(m.lm_shape()), opt_(o), table_(table),
        own_pool_(pool ? nullptr : std::make_unique<ThreadPool>(o.threads)), pool_(pool ? *pool : *own_pool_),
        kv_(shape_.kv_layers, (o.n_ctx + kBlockSize - 1) / kBlockSize, kBlockSize, shape_.kv_dim,
            *parse_dtype(o.cache_type_k), *parse_dtype(o.cache_type_v)),
        blocks_(kv_, kBlockSize) {
    cfg_.max_running = o.max_running;
    cfg_.prefill_chunk = o.prefill_chunk;
    cfg_.block_size = kBlockSize;
    logits_.reserve(static_cast<size_t>(o.max_running * shape_.vocab_size));
    scratch_.resize(static_cast<size_t>(pool_.size()));
    stats_.kv_tokens_total = blocks_.total_tokens();
  }

  // The model's batched forward pass over this engine's pool; then the thread starts.
  Status start(const model::CausalLm& m) {
    kernels::ExecContext exec;
    exec.pool = &pool_;
    exec.table = &table_;
    HERD_ASSIGN_OR_RETURN(batch_, m.batch_runner(kv_, opt_.max_running + opt_.prefill_chunk, seq_limit(opt_), exec));
    thread_ = std::thread([this] { loop(); });
    return Ok{};
  }

  ~BatchEngine() override {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  Result<uint64_t> submit(GenerationRequest request, RequestCallbacks callbacks) override {
    std::vector<GenerationRequest> r;
    std::vector<RequestCallbacks> c;
    r.push_back(std::move(request));
    c.push_back(std::move(callbacks));
    Result<std::vector<uint64_t>> ids = submit_all(std::move(r), std::move(c));
    if (!ids) return ids.error();
    return ids->front();
  }

  Result<std::vector<uint64_t>> submit_all(std::vector<GenerationRequest> requests,
                                           std::vector<RequestCallbacks> callbacks) override {
    HERD_CHECK(requests.size() == callbacks.size(), "submit_all: %zu requests, %zu callbacks", requests.size(),
               callbacks.size());
    const auto n = static_cast<int64_t>(requests.size());
    if (n == 0) return std::vector<uint64_t>{};
    if (n > opt_.max_queued)
      return err(ErrorCode::kInvalidArgument, "n: %lld choices exceed the request queue (%d slots; each choice takes one)",
                 static_cast<long long>(n), opt_.max_queued);
    for (const GenerationRequest& r : requests) {
      Status st = validate_request(r, shape_.vocab_size, shape_.n_lora_weights, opt_);
      if (!st) return st.error();
    }
    std::vector<uint64_t> ids;
    ids.reserve(requests.size());
    std::lock_guard<std::mutex> lk(mu_);
    // max_queued bounds the requests left waiting for a running slot: those
    // that free slots will take at the next step do not wait (with
    // --parallel 2 --max-queue 4, six requests arriving at an idle server
    // are all taken, whatever the engine thread was doing when they came).
    const int64_t free_slots = std::max<int64_t>(0, opt_.max_running - stats_.running);
    if (stats_.queued + n > opt_.max_queued + free_slots)
      return err(ErrorCode::kOutOfRange, "queue full: %lld requests waiting, %lld more asked (max_queued %d)",
                 static_cast<long long>(stats_.queued), static_cast<long long>(n), opt_.max_queued);
    for (size_t i = 0; i < requests.size(); ++i) {
      const uint64_t id = next_id_++;
      auto s = std::make_shared<Sequence>(id, std::move(requests[i]), std::move(callbacks[i]));
      s->t_submit = std::chrono::steady_clock::now();
      s->tokens = s->req.prompt;
      s->n_prompt = static_cast<int64_t>(s->tokens.size());
      s->max_len = seq_limit(opt_);
      incoming_.push_back(s);
      live_[id] = s;
      ids.push_back(id);
    }
    stats_.queued += n;
    cv_.notify_all();
    return ids;
  }

  void cancel(uint64_t request_id) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = live_.find(request_id);
    if (it != live_.end()) it->second->cancel_requested = true;
    ++wake_;
    cv_.notify_all();
  }

  EngineStats stats() const override {
    std::lock_guard<std::mutex> lk(mu_);
    return stats_;
  }


 private:
  void publish_stats() {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.queued = static_cast<int64_t>(waiting_.size() + incoming_.size());
    stats_.running = static_cast<int64_t>(running_.size());
    stats_.kv_tokens_used = blocks_.used_tokens();
    stats_.kv_tokens_cached = blocks_.cached_tokens();
  }

  // Releases the blocks, then reports. `s` must already be out of running_/waiting_.
  void finish(Sequence& s, FinishReason r, int32_t stop_id, const Error* e) {
    blocks_.release(s);
    s.state = r == FinishReason::kCancelled ? SeqState::kCancelled : SeqState::kFinished;
    Usage u;
    u.prompt_tokens = s.n_prompt;
    u.cached_prompt_tokens = s.n_cached;
    u.completion_tokens = s.n_generated;
    u.time_to_first_token_s = s.ttft_s < 0 ? 0 : s.ttft_s;
    {
      std::lock_guard<std::mutex> lk(mu_);
      live_.erase(s.id);
      stats_.requests_done++;
    }
    publish_stats();
    if (s.cb.on_done) s.cb.on_done(r, stop_id, u, e);
  }

  // Takes s's blocks (SequenceBlocks::admit) and counts its prompt once.
  bool admit(Sequence& s) {
    if (!blocks_.admit(s)) return false;
    if (!s.admitted_once) {
      s.admitted_once = true;
      s.n_cached = std::min(s.n_computed, s.n_prompt);
      std::lock_guard<std::mutex> lk(mu_);
      stats_.prompt_tokens += s.n_prompt;
      stats_.cached_prompt_tokens += s.n_cached;
    }
    s.state = SeqState::kPrefilling;
    return true;
  }

  SchedSeq view(Sequence& s, bool queued) {
    SchedSeq v;
    v.id = s.id;
    v.decoding = s.state == SeqState::kDecoding;
    v.n_tokens = static_cast<int64_t>(s.tokens.size());
    v.n_computed = s.n_computed;
    v.blocks_held = static_cast<int64_t>(s.blocks.size());
    v.blocks_freed = blocks_.blocks_freed_by_release(s);
    if (queued) blocks_.admission_cost(s, &v.admit_blocks, &v.admit_computed);
    return v;
  }

  // Pulls submissions in, handles cancellations. False when stopping. After a
  // step that could do nothing (`stalled`: nothing runs and the queue head
  // cannot be admitted) it sleeps until a submission or cancellation changes
  // that, rather than spinning.
  bool intake(bool stalled) {
    std::vector<SeqPtr> cancelled;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] {
        return stop_ || !incoming_.empty() || wake_ != seen_wake_ ||
               (!stalled && (!running_.empty() || !waiting_.empty()));
      });
      seen_wake_ = wake_;
      if (stop_) return false;
      for (auto& s : incoming_) waiting_.push_back(std::move(s));
      incoming_.clear();
    }
    auto take_cancelled = [&](auto& list) {
      for (auto it = list.begin(); it != list.end();) {
        if ((*it)->cancel_requested) {
          cancelled.push_back(*it);
          it = list.erase(it);
        } else {
          ++it;
        }
      }
    };
    take_cancelled(running_);
    take_cancelled(waiting_);
    for (auto& s : cancelled) finish(*s, FinishReason::kCancelled, -1, nullptr);
    return true;
  }

  SeqPtr find_running(uint64_t id) {
    for (auto& s : running_)
      if (s->id == id) return s;
    return nullptr;
  }

  // One step; false when it could do nothing at all (see intake()).
  bool step() {
    // Plan.
    std::vector<SchedSeq> rv, qv;
    for (auto& s : running_) rv.push_back(view(*s, false));
    for (size_t i = 0; i < waiting_.size() && static_cast<int>(i) < opt_.max_running; ++i)
      qv.push_back(view(*waiting_[i], true));
    StepPlan plan = plan_step(rv, qv, blocks_.free_blocks(), cfg_);

    // Preempt (latest first, so pushing to the front keeps admission order).
    for (uint64_t id : plan.preempt) {
      auto it = std::find_if(running_.begin(), running_.end(), [&](const SeqPtr& s) { return s->id == id; });
      if (it == running_.end()) continue;
      SeqPtr s = *it;
      running_.erase(it);
      blocks_.release(*s);
      s->state = SeqState::kQueued;
      waiting_.push_front(s);
      std::lock_guard<std::mutex> lk(mu_);
      stats_.preemptions++;
    }
    // Blocks for decodes.
    std::vector<uint64_t> dropped;
    for (const StepPlan::Run& r : plan.run) {
      SeqPtr s = find_running(r.id);
      if (!s || s->state != SeqState::kDecoding) continue;
      if (!blocks_.grow_for_decode(*s)) dropped.push_back(s->id);
    }
    // Admit, in order; the first failure stops admission (FIFO).
    bool admitting = true;
    for (uint64_t id : plan.admit) {
      if (!admitting) {
        dropped.push_back(id);
        continue;
      }
      auto it = std::find_if(waiting_.begin(), waiting_.end(), [&](const SeqPtr& s) { return s->id == id; });
      if (it == waiting_.end() || !admit(**it)) {
        admitting = false;
        dropped.push_back(id);
        continue;
      }
      running_.push_back(*it);
      waiting_.erase(it);
    }

    // Chunks.
    chunks_.clear();
    chunk_seqs_.clear();
    for (const StepPlan::Run& r : plan.run) {
      if (std::find(dropped.begin(), dropped.end(), r.id) != dropped.end()) continue;
      SeqPtr s = find_running(r.id);
      if (!s) continue;
      const int64_t n = std::min(r.n, static_cast<int64_t>(s->tokens.size()) - s->n_computed);
      if (n <= 0) continue;
      model::BatchChunk c;
      c.tokens = s->tokens.data() + s->n_computed;
      c.n = n;
      c.n_past = s->n_computed;
      c.block_table = s->blocks.data();
      c.want_logits = s->n_computed + n == static_cast<int64_t>(s->tokens.size());
      c.adapter = s->req.adapter;
      if (!s->req.lora_weights.empty()) {
        c.lora_weights = s->req.lora_weights.data();
        c.n_lora_weights = static_cast<int32_t>(s->req.lora_weights.size());
      }
      chunks_.push_back(c);
      chunk_seqs_.push_back(s);
    }
    publish_stats();
    if (chunks_.empty()) return !plan.preempt.empty() || !plan.admit.empty();

    Status st = batch_->eval(chunks_, &logits_);
    {
      std::lock_guard<std::mutex> lk(mu_);
      stats_.steps++;
    }
    if (!st) {
      for (auto& s : chunk_seqs_) {
        running_.erase(std::find(running_.begin(), running_.end(), s));
        finish(*s, FinishReason::kError, -1, &st.error());
      }
      return true;
    }

    // Advance and publish full blocks.
    const auto V = static_cast<size_t>(shape_.vocab_size);
    to_sample_.clear();
    for (size_t i = 0; i < chunks_.size(); ++i) {
      Sequence& s = *chunk_seqs_[i];
      s.n_computed += chunks_[i].n;
      blocks_.publish_full(s);
      if (chunks_[i].want_logits) to_sample_.push_back(i);
    }
    // Sample: the draws (a full-vocabulary softmax and sort per sequence at
    // temperature > 0, milliseconds each) run on the pool, one sequence per
    // task; each touches only its own sequence and a per-worker scratch.
    // Results do not depend on the split: every draw is a function of its own
    // sequence (counter-based RNG).
    sampled_.resize(to_sample_.size());
    pool_.parallel_for(static_cast<int64_t>(to_sample_.size()), [&](int64_t b, int64_t e, int worker) {
      for (int64_t k = b; k < e; ++k) {
        const size_t i = to_sample_[static_cast<size_t>(k)];
        std::span<float> lg(logits_.data() + static_cast<size_t>(k) * V, V);
        sample_logits(*chunk_seqs_[i], lg, &scratch_[static_cast<size_t>(worker)], &sampled_[static_cast<size_t>(k)]);
      }
    });
    // Apply in batch order on this thread (callbacks run here, one at a time).
    for (size_t k = 0; k < to_sample_.size(); ++k) {
      const SeqPtr& sp = chunk_seqs_[to_sample_[k]];
      Sequence& s = *sp;
      s.state = SeqState::kDecoding;
      TokenOutcome o = apply_token(s, sampled_[k]);
      {
        std::lock_guard<std::mutex> lk(mu_);
        stats_.generated_tokens++;
      }
      if (o.finished) {
        running_.erase(std::find(running_.begin(), running_.end(), sp));
        finish(s, o.reason, o.stop_id, o.error ? &*o.error : nullptr);
      }
    }
    publish_stats();
    return true;
  }

  void loop() {
    bool stalled = false;
    while (intake(stalled)) stalled = !step();
    // Shutdown: everything left is cancelled.
    std::vector<SeqPtr> left(running_.begin(), running_.end());
    left.insert(left.end(), waiting_.begin(), waiting_.end());
    {
      std::lock_guard<std::mutex> lk(mu_);
      left.insert(left.end(), incoming_.begin(), incoming_.end());
      incoming_.clear();
    }
    running_.clear();
    waiting_.clear();
    for (auto& s : left) finish(*s, FinishReason::kCancelled, -1, nullptr);
  }

  const model::CausalLmShape shape_;
  EngineOptions opt_;
  const kernels::KernelTable& table_;
  std::unique_ptr<ThreadPool> own_pool_;  // when no pool was lent
  ThreadPool& pool_;
  kv::BlockPool kv_;
  SequenceBlocks blocks_;  // block tables and the prefix cache over kv_
  SchedConfig cfg_;
  std::unique_ptr<model::BatchRunner> batch_;
  std::vector<float> logits_;
  std::vector<std::vector<float>> scratch_;  // [pool workers][V] top_logprobs selection
  std::vector<model::BatchChunk> chunks_;
  std::vector<SeqPtr> chunk_seqs_;
  std::vector<size_t> to_sample_;            // indices into chunks_ whose logits are sampled
  std::vector<SampledToken> sampled_;        // [to_sample_.size()]
  // Engine thread only:
  std::vector<SeqPtr> running_;  // admission order
  std::deque<SeqPtr> waiting_;   // FIFO (preempted ones at the front)

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  bool stop_ = false;
  uint64_t next_id_ = 1;
  uint64_t wake_ = 0, seen_wake_ = 0;  // cancel() bumps wake_; intake() wakes on a change
  std::vector<SeqPtr> incoming_;
  std::unordered_map<uint64_t, SeqPtr> live_;
  EngineStats stats_;

  std::thread thread_;
};

}  // namespace

Result<std::vector<uint64_t>> Engine::submit_all(std::vector<GenerationRequest> requests,
                                                 std::vector<RequestCallbacks> callbacks) {
  HERD_CHECK(requests.size() == callbacks.size(), "submit_all: %zu requests, %zu callbacks", requests.size(),
             callbacks.size());
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < requests.size(); ++i) {
    Result<uint64_t> id = submit(std::move(requests[i]), std::move(callbacks[i]));
    if (!id) {
      for (uint64_t done : ids) cancel(done);
      return id.error();
    }
    ids.push_back(*id);
  }
  return ids;
}

Result<std::unique_ptr<Engine>> make_engine(const model::CausalLm& model, const kernels::KernelTable& table,
                                            const EngineOptions& options, ThreadPool* pool) {
  if (pool == nullptr && options.threads < 1)
    return err(ErrorCode::kInvalidArgument, "threads: %d must be >= 1", options.threads);
  if (options.n_ctx < 2 || options.max_seq_len < 2)
    return err(ErrorCode::kInvalidArgument, "n_ctx %lld and max_seq_len %lld must be >= 2",
               static_cast<long long>(options.n_ctx), static_cast<long long>(options.max_seq_len));
  if (options.max_running < 1 || options.max_queued < 0 || options.prefill_chunk < 1)
    return err(ErrorCode::kInvalidArgument, "max_running and prefill_chunk must be >= 1, max_queued >= 0");
  const model::CausalLmShape shape = model.lm_shape();
  for (const std::string* t : {&options.cache_type_k, &options.cache_type_v}) {
    const std::optional<DType> d = parse_dtype(*t);
    if (!d.has_value() || !kernels::is_kv_type(*d))
      return err(ErrorCode::kInvalidArgument, "KV cache type '%s': f16, q8_0 or f32", t->c_str());
    if (!kernels::kv_type_fits(*d, shape.head_dim))
      return err(ErrorCode::kInvalidArgument, "KV cache type %s needs a head size that is a multiple of 32, not %lld",
                 t->c_str(), static_cast<long long>(shape.head_dim));
  }
  auto engine = std::make_unique<BatchEngine>(model, options, table, pool);
  HERD_TRY(engine->start(model));
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace herd::engine
