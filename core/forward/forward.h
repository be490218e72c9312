// Whole-model forward: embed → blocks → final norm → lm_head logits.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "forward/block_forward.h"
#include "model/model.h"

namespace qlab {

// The vocabulary tables of a model held in memory.
VocabRows vocab_rows_of(const Model& model);

// Hidden states (T×dim) entering block 0 for `tokens` at positions pos0..: token embeddings
// (projected in, for OPT-350M) plus learned positions where the model has them. The
// embedding rows come from `rows` (the model's own table in the overload without it).
// Throws on an id outside the vocabulary.
Matrix embed(const Model& outer, const VocabRows& rows, std::span<const int32_t> tokens, int64_t pos0 = 0);
Matrix embed(const Model& model, std::span<const int32_t> tokens, int64_t pos0 = 0);
// The same with token r at position pos[r] (packed prefix trees).
Matrix embed(const Model& outer, const VocabRows& rows, std::span<const int32_t> tokens, const std::vector<int32_t>& pos);

// Logits (T×vocab) of hidden states x leaving the last block: final norm, projection out,
// lm_head, whose weight is read from `rows` a chunk of the vocabulary at a time.
Matrix head_logits(const Model& outer, const VocabRows& rows, const Matrix& x);
Matrix head_logits(const Model& model, const Matrix& x);

// Fails when positions 0..end−1 exceed the model's context or its sliding attention window.
void check_positions(const ModelConfig& config, int64_t end);

// Logits (T×vocab) for one segment starting at position 0; `act` fake-quantizes linear inputs.
Matrix forward_logits(const Model& model, std::span<const int32_t> tokens, const ActivationPlan* act = nullptr);

// Incremental decoding state: one LayerKv per block.
struct KvCache {
  std::vector<LayerKv> layers;
  int64_t n_past() const { return layers.empty() ? 0 : layers[0].n_past; }
};
KvCache make_kv_cache(const Model& model, int64_t capacity);

// Logits for `tokens` appended after the cache's positions; the cache grows by T rows.
Matrix forward_logits(const Model& model, std::span<const int32_t> tokens, KvCache& cache);

}  // namespace qlab
