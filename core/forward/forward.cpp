#include "forward/forward.h"

#include "tensor/gemm.h"
#include "util/error.h"

namespace qlab {

Matrix embed(const Model& m, std::span<const int32_t> tokens, int64_t pos0) {
  Matrix x(static_cast<int64_t>(tokens.size()), m.embed_tokens.cols());
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || tokens[t] >= m.embed_tokens.rows())
      fail("token id {} at position {} is outside the model's vocabulary of {}", tokens[t], t, m.embed_tokens.rows());
    x.row(static_cast<int64_t>(t)) = m.embed_tokens.row(tokens[t]);
  }
  if (m.project_in.weight.size() > 0) {
    Matrix projected;
    linear_forward(x, m.project_in.weight, m.project_in.bias, projected);
    x = std::move(projected);
  }
  if (m.embed_positions.size() > 0)
    x += m.embed_positions.middleRows(pos0 + m.config.position_offset, x.rows());
  return x;
}

Matrix head_logits(const Model& m, const Matrix& x) {
  Matrix h = x, tmp, logits;
  if (m.final_norm.weight.size() > 0) apply_norm(m.config, m.final_norm, x, h);
  if (m.project_out.weight.size() > 0) {
    linear_forward(h, m.project_out.weight, m.project_out.bias, tmp);
    h = std::move(tmp);
  }
  linear_forward(h, m.lm_head.weight, m.lm_head.bias, logits);
  return logits;
}

void check_positions(const ModelConfig& c, int64_t end) {
  if (end > c.max_seq_len) fail("{} positions exceed the model's context of {}", end, c.max_seq_len);
  if (c.sliding_window > 0 && end > c.sliding_window)
    fail("{} positions exceed the model's sliding attention window of {}, which this runtime does not implement",
         end, c.sliding_window);
}

Matrix forward_logits(const Model& m, std::span<const int32_t> tokens, const ActivationPlan* act) {
  check_positions(m.config, static_cast<int64_t>(tokens.size()));
  Matrix x = embed(m, tokens, 0);
  for (const Block& b : m.blocks) block_forward(b, m.config, x, 0, nullptr, nullptr, act);
  return head_logits(m, x);
}

KvCache make_kv_cache(const Model& m, int64_t capacity) {
  KvCache cache;
  cache.layers.resize(m.blocks.size());
  for (LayerKv& l : cache.layers) {
    l.k = Matrix::Zero(capacity, m.config.kv_dim());
    l.v = Matrix::Zero(capacity, m.config.kv_dim());
  }
  return cache;
}

Matrix forward_logits(const Model& m, std::span<const int32_t> tokens, KvCache& cache) {
  const int64_t pos0 = cache.n_past();
  check_positions(m.config, pos0 + static_cast<int64_t>(tokens.size()));
  Matrix x = embed(m, tokens, pos0);
  for (size_t i = 0; i < m.blocks.size(); ++i) block_forward(m.blocks[i], m.config, x, pos0, &cache.layers[i]);
  return head_logits(m, x);
}

}  // namespace qlab
