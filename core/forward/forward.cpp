#include "forward/forward.h"

#include <algorithm>

#include "model/weight_source.h"
#include "tensor/gemm.h"
#include "util/error.h"

namespace qlab {

VocabRows vocab_rows_of(const Model& m) {
  return [&m](VocabTable table, std::span<const int32_t> ids) {
    return gather_rows(table == VocabTable::embedding ? m.embed_tokens : m.lm_head.weight, ids, m.source);
  };
}

namespace {
// Token embeddings, projected in where the model has project_in; no positions yet.
Matrix token_embeddings(const Model& m, const VocabRows& rows, std::span<const int32_t> tokens) {
  Matrix x = rows(VocabTable::embedding, tokens);
  if (m.project_in.weight.size() > 0) {
    Matrix projected;
    linear_forward(x, m.project_in.weight, m.project_in.bias, projected);
    x = std::move(projected);
  }
  return x;
}
}  // namespace

Matrix embed(const Model& m, const VocabRows& rows, std::span<const int32_t> tokens, int64_t pos0) {
  Matrix x = token_embeddings(m, rows, tokens);
  if (m.embed_positions.size() > 0)
    x += m.embed_positions.middleRows(pos0 + m.config.position_offset, x.rows());
  return x;
}

Matrix embed(const Model& m, const VocabRows& rows, std::span<const int32_t> tokens, const std::vector<int32_t>& pos) {
  if (pos.size() != tokens.size()) fail("embed: {} positions for {} tokens", pos.size(), tokens.size());
  Matrix x = token_embeddings(m, rows, tokens);
  if (m.embed_positions.size() > 0)  // RoPE models take their positions in attention
    for (size_t r = 0; r < pos.size(); ++r) x.row(static_cast<int64_t>(r)) += m.embed_positions.row(pos[r] + m.config.position_offset);
  return x;
}

Matrix embed(const Model& m, std::span<const int32_t> tokens, int64_t pos0) { return embed(m, vocab_rows_of(m), tokens, pos0); }

Matrix head_logits(const Model& m, const VocabRows& rows, const Matrix& x) {
  Matrix h = x, tmp;
  if (m.final_norm.weight.size() > 0) apply_norm(m.config, m.final_norm, x, h);
  if (m.project_out.weight.size() > 0) {
    linear_forward(h, m.project_out.weight, m.project_out.bias, tmp);
    h = std::move(tmp);
  }
  // lm_head in chunks of 32 MiB of float32 weight: a vocabulary of 32000 × 4096 is 16
  // chunks, one of a few hundred tokens one chunk (the same digits as one product).
  const int64_t vocab = m.config.vocab_size, chunk = std::max<int64_t>(1, (int64_t{8} << 20) / std::max<int64_t>(1, h.cols()));
  if (chunk >= vocab) {
    Matrix logits;
    linear_forward(h, rows(VocabTable::head, id_range(0, vocab)), m.lm_head.bias, logits);
    return logits;
  }
  Matrix logits(h.rows(), vocab), part;
  for (int64_t v0 = 0; v0 < vocab; v0 += chunk) {
    const int64_t n = std::min(chunk, vocab - v0);
    const Vector bias = m.lm_head.bias.size() > 0 ? Vector(m.lm_head.bias.segment(v0, n)) : Vector();
    linear_forward(h, rows(VocabTable::head, id_range(v0, v0 + n)), bias, part);
    logits.middleCols(v0, n) = part;
  }
  return logits;
}

Matrix head_logits(const Model& m, const Matrix& x) { return head_logits(m, vocab_rows_of(m), x); }

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
