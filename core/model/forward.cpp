#include "model/forward.h"

#include "tensor/gemm.h"
#include "util/error.h"

namespace qlab {

Matrix embed(const Model& m, std::span<const int32_t> tokens) {
  Matrix x(static_cast<int64_t>(tokens.size()), m.config.dim);
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || tokens[t] >= m.embed_tokens.rows())
      fail("token id {} at position {} is outside the model's vocabulary of {}", tokens[t], t, m.embed_tokens.rows());
    x.row(static_cast<int64_t>(t)) = m.embed_tokens.row(tokens[t]);
  }
  return x;
}

namespace {
Matrix head(const Model& m, const Matrix& x) {
  Matrix h, logits;
  apply_norm(m.config, m.final_norm, x, h);
  linear_forward(h, m.lm_head.weight, m.lm_head.bias, logits);
  return logits;
}
}  // namespace

Matrix forward_logits(const Model& m, std::span<const int32_t> tokens) {
  if (static_cast<int64_t>(tokens.size()) > m.config.max_seq_len)
    fail("segment of {} tokens exceeds the model's context of {}", tokens.size(), m.config.max_seq_len);
  Matrix x = embed(m, tokens);
  for (const Block& b : m.blocks) block_forward(b, m.config, x);
  return head(m, x);
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
  if (pos0 + static_cast<int64_t>(tokens.size()) > m.config.max_seq_len)
    fail("{} tokens exceed the model's context of {}", pos0 + tokens.size(), m.config.max_seq_len);
  Matrix x = embed(m, tokens);
  for (size_t i = 0; i < m.blocks.size(); ++i) block_forward(m.blocks[i], m.config, x, pos0, &cache.layers[i]);
  return head(m, x);
}

}  // namespace qlab
