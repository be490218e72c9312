// Rotary position embedding and its frequencies, with Hugging Face's rope_scaling variants
// (linear, dynamic NTK, llama3) computed from the math transformers' modeling_rope_utils
// defines. None of the variants rescales cos/sin (attention factor 1).
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"

namespace qlab {

// inv_freq[j] = theta^(-2j/head_dim), j < head_dim/2, rescaled per config.rope_scaling.
// `seq_len` (the last position + 1) matters only to dynamic scaling, which raises the base
// once a sequence outgrows the original context.
std::vector<float> rope_inv_freq(const ModelConfig& config, int64_t seq_len);

// "Rotate half" layout: within each head, element j pairs with j + head_dim/2 and turns by
// pos · inv_freq[j]. Row r of x is at position pos0 + r; x holds n_heads heads side by side.
void apply_rope(Matrix& x, int64_t n_heads, int64_t head_dim, int64_t pos0, const std::vector<float>& inv_freq);
// The same with row r at position pos[r].
void apply_rope(Matrix& x, int64_t n_heads, int64_t head_dim, const std::vector<int32_t>& pos, const std::vector<float>& inv_freq);
// Unscaled RoPE with base theta.
void apply_rope(Matrix& x, int64_t n_heads, int64_t head_dim, int64_t pos0, float theta);

}  // namespace qlab
