// LlamaModel::repack_weights: every matmul weight of the model through
// repack_matrix (model/repack_matrix.h: the r8/r16 layouts the kernels
// stream, huge-page copies, the file's pages dropped as it goes). A tied
// output table is repacked once and serves the embedding lookup too
// (kernels::embedding_row unpacks one row), so its F16 rows keep their bits.
#include "model/llama_model.h"
#include "model/repack_matrix.h"

namespace herd::model {

int LlamaModel::repack_weights(const kernels::KernelTable& table, ThreadPool& pool, Progress* progress) {
  if (repack_disabled()) return 0;
  int n = 0;
  if (progress) {
    uint64_t total = 0;
    for (LayerWeights& l : layers_)
      for_each_layer_matrix(l, [&](LlamaTensor, TensorView& w) { total += row_bytes(w.dtype, w.cols()) * w.rows(); });
    if (holds_head()) total += row_bytes(output_.dtype, output_.cols()) * output_.rows();
    progress->set_total(total);
  }
  // keep_bits: the tensor is also read as the embedding table (a tied
  // output), whose rows must stay exact.
  auto repack = [&](TensorView* t, bool keep_bits) {
    if (progress) progress->add(row_bytes(t->dtype, t->cols()) * t->rows());
    if (repack_matrix(t, table, pool, keep_bits, &owned_packed_)) ++n;
  };
  for (LayerWeights& l : layers_) for_each_layer_matrix(l, [&](LlamaTensor, TensorView& w) { repack(&w, false); });
  if (holds_head()) {
    const bool tied = output_.data == tok_embd_.data;
    repack(&output_, tied);
    if (tied) tok_embd_ = output_;
  }
  return n;
}

int LlamaModel::move_weights_to_huge_pages(ThreadPool& pool) {
  if (repack_disabled()) return 0;
  int n = 0;
  for (LayerWeights& l : layers_)
    for_each_layer_matrix(l, [&](LlamaTensor, TensorView& w) {
      if (w.interleave != 1) return;
      copy_to_huge_pages(&w, pool, &owned_packed_);
      ++n;
    });
  if (holds_head() && output_.interleave == 1) {
    const bool tied = output_.data == tok_embd_.data;
    copy_to_huge_pages(&output_, pool, &owned_packed_);
    if (tied) tok_embd_ = output_;
    ++n;
  }
  return n;
}

}  // namespace herd::model
