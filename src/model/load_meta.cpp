// Loading a Llama model from Meta's native checkpoint directory: params.json
// (read into the config HF's converter would write, formats/meta_params.h),
// consolidated.NN.pth (formats/torch_checkpoint.h: nothing in them is
// executed), tokenizer.model beside them (model_tokenizer.cpp).
//
// Meta stores q/k rows in their own order, the one GGUF uses, so the model
// runs with the interleaved RoPE pairing, as for GGUF. One shard (8B, 3.2
// 1B/3B) is used as mapped. Model-parallel shards (70B and 405B: MP8; 405B
// also MP16) are merged per tensor into owned memory, as Meta's and HF's
// converters merge them (llama31.md 9.5): column-parallel tensors (wq, wk, wv,
// w1, w3, output, tok_embeddings) are stacked along rows in rank order,
// row-parallel ones (wo, w2) side by side along columns, and norms, which each
// rank holds whole, must be byte-identical. Merging needs memory for the
// merged weights (a converter's cost too); convert such a checkpoint once.
//
// Meta's FP8 checkpoints (405B "fp8_mixed", llama31.md 7.1) hold the FFN
// weights of layers 1 .. L-2 as float8_e4m3fn tensors and, per rank, an
// fp8_scales_N.pt of their row scales keyed "{layer}_feed_forward.{w1|w3|w2}_{N}".
// w1 and w3 are split by rows, so their scales stack with them; each rank
// quantized its own columns of w2, so a merged w2 keeps one scale per rank and
// row (TensorView::scale_groups = ranks): each rank's columns are a product of
// their own, as the ranks' partial sums are, and exact as shipped.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "base/checked_math.h"
#include "base/mapped_file.h"
#include "formats/meta_params.h"
#include "formats/torch_checkpoint.h"
#include "model/fp8_scales.h"
#include "model/model_builder.h"

namespace herd::model {

namespace {

// The consolidated.NN.pth files of `dir`, by rank; an error unless they are 00 .. n-1.
Result<std::vector<std::string>> shard_files(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return err(ErrorCode::kIo, "cannot list %s: %s", dir.c_str(), std::strerror(errno));
  std::map<long, std::string> by_rank;
  while (const dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    const size_t a = std::strlen("consolidated."), b = std::strlen(".pth");
    if (n.size() <= a + b || n.compare(0, a, "consolidated.") != 0 || n.compare(n.size() - b, b, ".pth") != 0) continue;
    const std::string num = n.substr(a, n.size() - a - b);
    if (num.size() > 4 || !std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    by_rank[std::stol(num)] = n;
  }
  closedir(d);
  if (by_rank.empty())
    return err(ErrorCode::kNotFound, "%s has params.json but no consolidated.NN.pth (Meta's checkpoint files)",
               dir.c_str());
  std::vector<std::string> files;
  for (const auto& [rank, name] : by_rank) {
    if (rank != static_cast<long>(files.size()))
      return err(ErrorCode::kNotFound, "%s: model-parallel shard %zu is missing (found %s)", dir.c_str(), files.size(),
                 name.c_str());
    files.push_back(dir + "/" + name);
  }
  return files;
}

// Meta's key in fp8_scales_N.pt for "layers.L.feed_forward.wX.weight" of rank N:
// "L_feed_forward.wX_N"; nullopt for any other tensor.
std::optional<std::string> fp8_scale_key(const std::string& name, size_t rank) {
  long layer = -1;
  char w = 0;
  int end = 0;
  if (std::sscanf(name.c_str(), "layers.%ld.feed_forward.w%c.weight%n", &layer, &w, &end) != 2 ||
      static_cast<size_t>(end) != name.size() || layer < 0 || (w != '1' && w != '2' && w != '3'))
    return std::nullopt;
  return std::to_string(layer) + "_feed_forward.w" + w + "_" + std::to_string(rank);
}

}  // namespace

Result<LlamaModel> load_meta_model(const std::string& dir, LayerRange range) {
  HERD_ASSIGN_OR_RETURN(std::string params_text, read_text_file(dir + "/params.json", 16u << 20));
  Result<formats::HfLlamaConfig> hc = formats::hf_config_from_meta_params(params_text);
  if (!hc.has_value()) return std::move(hc.error().with_context(dir + "/params.json"));
  HERD_ASSIGN_OR_RETURN(std::vector<std::string> files, shard_files(dir));

  LlamaModel m;
  std::vector<const formats::TorchCheckpoint*> shards;
  for (const std::string& f : files) {
    HERD_ASSIGN_OR_RETURN(formats::TorchCheckpoint c, formats::TorchCheckpoint::open(f));
    ModelBuilder::pth(m).push_back(std::make_unique<formats::TorchCheckpoint>(std::move(c)));
    shards.push_back(ModelBuilder::pth(m).back().get());
  }
  // FP8 row scales: fp8_scales_N.pt beside each shard, or none at all.
  std::vector<std::unique_ptr<formats::TorchCheckpoint>> scale_files;
  for (size_t r = 0; r < files.size(); ++r) {
    const std::string f = dir + "/fp8_scales_" + std::to_string(r) + ".pt";
    if (access(f.c_str(), F_OK) != 0) {
      if (!scale_files.empty())
        return err(ErrorCode::kNotFound, "%s is missing (fp8_scales_0.pt is there: one per model-parallel shard)",
                   f.c_str());
      continue;
    }
    if (scale_files.size() != r)
      return err(ErrorCode::kNotFound, "%s/fp8_scales_0.pt is missing (%s is there)", dir.c_str(), f.c_str());
    HERD_ASSIGN_OR_RETURN(formats::TorchCheckpoint sc, formats::TorchCheckpoint::open(f));
    scale_files.push_back(std::make_unique<formats::TorchCheckpoint>(std::move(sc)));
  }
  ModelBuilder::set_format(m, ModelFormat::kMeta, dir);
  LlamaConfig& c = ModelBuilder::config(m);
  apply_hf_config(*hc, c);
  c.name = dir;
  c.rope_style = kernels::RopeStyle::kInterleaved;
  if (c.vocab_size == 0) {  // params.json without vocab_size: the embedding's rows
    const std::string embd = meta_tensor_name(LlamaTensor::kTokEmbd, -1);
    for (const formats::TorchCheckpoint* s : shards)
      if (const formats::TorchTensor* t = s->find(embd); t && t->shape.size() == 2) c.vocab_size += t->shape[0];
  }

  // How each expected tensor is split across ranks.
  std::map<std::string, int, std::less<>> split;
  for_each_file_tensor(c.n_layers, [&](LlamaTensor t, int64_t layer) {
    split[meta_tensor_name(t, layer)] = llama_tensor_info(t).meta_split;
  });
  std::vector<std::unique_ptr<uint8_t[]>> merged;
  std::vector<std::vector<float>> scales;  // FP8 row scales as f32, merged
  bool any_fp8 = false;
  ModelBuilder::Lookup lookup = [&shards, &split, &merged, &scale_files, &scales, &any_fp8](
                                    const std::string& name) -> Result<std::optional<TensorView>> {
    std::vector<TensorView> parts;
    std::vector<std::vector<float>> part_scales;  // an FP8 tensor's, per rank
    const bool in_first = shards.front()->find(name) != nullptr;  // every rank has it, or none does
    for (const formats::TorchCheckpoint* s : shards) {
      const formats::TorchTensor* t = s->find(name);
      if ((t != nullptr) != in_first)
        return err(ErrorCode::kCorrupt, "'%s' is in %s but not in %s", name.c_str(),
                   (in_first ? shards.front() : s)->path().c_str(), (in_first ? s : shards.front())->path().c_str());
      if (!t) continue;
      std::optional<TensorView> v = t->view();
      if (!v)
        return err(ErrorCode::kUnsupported,
                   "%s: tensor '%s' is %s; herd reads float32, float16, bfloat16 and float8_e4m3fn weights",
                   s->path().c_str(), name.c_str(), formats::torch_storage_info(t->type).dtype);
      if (dtype_info(v->dtype).row_scaled) {
        const size_t rank = parts.size();
        const std::optional<std::string> key = fp8_scale_key(name, rank);
        if (!key)
          return err(ErrorCode::kUnsupported, "%s: '%s' is float8_e4m3fn; Meta's FP8 checkpoints hold only the "
                     "feed-forward weights in FP8", s->path().c_str(), name.c_str());
        if (scale_files.empty())
          return err(ErrorCode::kNotFound, "%s: '%s' is float8_e4m3fn but fp8_scales_%zu.pt (its row scales) is missing",
                     s->path().c_str(), name.c_str(), rank);
        const formats::TorchTensor* st = scale_files[rank]->find(*key);
        std::optional<TensorView> sv = st ? st->view() : std::nullopt;
        if (!sv)
          return err(ErrorCode::kNotFound, "%s has no float row scales '%s' for '%s'",
                     scale_files[rank]->path().c_str(), key->c_str(), name.c_str());
        HERD_ASSIGN_OR_RETURN(std::vector<float> f, read_row_scales(*sv, v->rows(), scale_files[rank]->path() + ":" + *key));
        part_scales.push_back(std::move(f));
        any_fp8 = true;
      }
      if (!parts.empty() && (v->dtype != parts[0].dtype || v->shape.size() != parts[0].shape.size()))
        return err(ErrorCode::kCorrupt, "'%s' has another dtype or rank in %s than in shard 0", name.c_str(),
                   s->path().c_str());
      parts.push_back(*v);
    }
    if (parts.empty()) return std::optional<TensorView>();
    if (parts.size() == 1) {
      if (!part_scales.empty()) {
        scales.push_back(std::move(part_scales[0]));
        parts[0].row_scale = scales.back().data();
      }
      return std::optional<TensorView>(parts[0]);
    }
    auto it = split.find(name);
    const int how = it == split.end() ? -1 : it->second;
    const TensorView& p0 = parts[0];
    if (how < 0 && !part_scales.empty())
      return err(ErrorCode::kCorrupt, "'%s' is FP8 and not split across ranks", name.c_str());
    if (how < 0) {  // replicated: every rank holds the same bytes
      for (const TensorView& p : parts)
        if (p.shape != p0.shape || std::memcmp(p.data, p0.data, static_cast<size_t>(p0.nbytes())) != 0)
          return err(ErrorCode::kCorrupt, "'%s' should be the same in every model-parallel shard, and it is not",
                     name.c_str());
      return std::optional<TensorView>(p0);
    }
    if (p0.shape.size() != 2)
      return err(ErrorCode::kCorrupt, "'%s' is %s, not a matrix", name.c_str(), shape_string(p0.shape).c_str());
    TensorView out = p0;
    const int64_t keep = how == 0 ? p0.shape[1] : p0.shape[0];  // the dimension every part shares
    int64_t total = 0;
    for (const TensorView& p : parts) {
      if ((how == 0 ? p.shape[1] : p.shape[0]) != keep)
        return err(ErrorCode::kCorrupt, "the model-parallel parts of '%s' do not line up (%s and %s)", name.c_str(),
                   shape_string(p0.shape).c_str(), shape_string(p.shape).c_str());
      total += how == 0 ? p.shape[0] : p.shape[1];
    }
    out.shape = how == 0 ? std::vector<int64_t>{total, keep} : std::vector<int64_t>{keep, total};
    uint64_t bytes;
    if (!checked_mul(static_cast<uint64_t>(out.numel()), static_cast<uint64_t>(dtype_info(out.dtype).block_bytes), &bytes))
      return err(ErrorCode::kCorrupt, "'%s' is too large", name.c_str());
    auto buf = std::make_unique<uint8_t[]>(bytes);
    uint8_t* dst = buf.get();
    if (how == 0) {
      for (const TensorView& p : parts) {
        std::memcpy(dst, p.data, static_cast<size_t>(p.nbytes()));
        dst += p.nbytes();
      }
    } else {
      for (int64_t r = 0; r < keep; ++r)
        for (const TensorView& p : parts) {
          std::memcpy(dst, p.row(r), static_cast<size_t>(p.row_stride()));
          dst += p.row_stride();
        }
    }
    out.data = buf.get();
    merged.push_back(std::move(buf));
    if (!part_scales.empty()) {  // FP8: rows stack their scales; w2's columns keep one per rank (see the top)
      std::vector<float> f;
      if (how == 0) {
        for (const std::vector<float>& p : part_scales) f.insert(f.end(), p.begin(), p.end());
      } else {
        for (const TensorView& p : parts)
          if (p.shape[1] != p0.shape[1])
            return err(ErrorCode::kCorrupt, "the FP8 model-parallel parts of '%s' have unequal widths (%s and %s)",
                       name.c_str(), shape_string(p0.shape).c_str(), shape_string(p.shape).c_str());
        const size_t G = part_scales.size();
        f.resize(static_cast<size_t>(keep) * G);
        for (int64_t r = 0; r < keep; ++r)
          for (size_t g = 0; g < G; ++g) f[static_cast<size_t>(r) * G + g] = part_scales[g][static_cast<size_t>(r)];
        out.scale_groups = static_cast<int64_t>(G);
      }
      scales.push_back(std::move(f));
      out.row_scale = scales.back().data();
    }
    return std::optional<TensorView>(out);
  };
  Result<LlamaModel> r = ModelBuilder::build(std::move(m), lookup, meta_tensor_name, range);
  if (r.has_value()) {
    for (auto& b : merged) ModelBuilder::owned_bytes(*r).push_back(std::move(b));
    for (std::vector<float>& f : scales) ModelBuilder::owned_f32(*r).push_back(std::move(f));
    // Meta's loader bounds the activations' max at 1200 (fp8_activation_scale_ub).
    if (any_fp8) ModelBuilder::config(*r).fp8_activation_scale_ub = 1200.0;
  }
  return r;
}

}  // namespace herd::model
