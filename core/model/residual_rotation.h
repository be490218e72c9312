// QuaRot's rotation of the residual stream, fused into the weights (Ashkboos et al. 2024,
// rotation_utils.fuse_layer_norms / rotate_model). First every RMSNorm's weight is folded into
// the linears that read its output and set to 1, so the norm commutes with any orthogonal Q
// (rms(x·Q) = rms(x)). Then the stream is rotated: embeddings E ← E·Q; linears reading the
// stream (q, k, v, gate, up, lm_head) W ← W·Q; linears writing it (o, down) W ← Qᵀ·W, their
// biases b ← b·Q. The model computes the same function up to float rounding, with the
// stream's outlier channels spread over every channel.
//
// Per part, so a streamed model can be rotated one block at a time as it is loaded.
#pragma once
#include "model/model.h"

namespace qlab {

// Fails naming the family unless its blocks are pre-norm with RMSNorm (the LLaMA family);
// LayerNorm's mean subtraction does not commute with a rotation.
void check_rotatable(const ModelConfig& config);

// attn_norm into q, k, v; mlp_norm into gate, up; the norms' weights become 1.
void fold_block_norms(Block& block);
// The final norm into lm_head.
void fold_final_norm(Model& outer);

// q: dim × dim orthogonal. The block's norms must already be folded.
void rotate_block(Block& block, const Matrix& q);
// Embeddings and lm_head (the final norm folded).
void rotate_outer(Model& outer, const Matrix& q);

// QuaRot's online Hadamard before down_proj: W_down ← W_down·H and the forward pass applies H
// to down's input (Block::down_hadamard). `seed` only matters for widths needing the random
// orthogonal factor (tensor/hadamard.h).
void add_online_down_hadamard(Block& block, uint64_t seed = 0);

// All of it on a model in memory.
void rotate_model(Model& model, const Matrix& q);

}  // namespace qlab
