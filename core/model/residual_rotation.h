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
#include "model/stream_rotation.h"

namespace qlab {

// Fails naming the family unless its blocks are pre-norm with RMSNorm (the LLaMA family);
// LayerNorm's mean subtraction does not commute with a rotation.
void check_rotatable(const ModelConfig& config);

// attn_norm into q, k, v; mlp_norm into gate, up; the norms' weights become 1.
void fold_block_norms(Block& block);
// The final norm into lm_head.
void fold_final_norm(Model& outer);

// q: dim × dim orthogonal (a dense Matrix converts). The block's norms must already be folded.
void rotate_block(Block& block, const StreamRotation& q);
// Embeddings and lm_head (the final norm folded).
void rotate_outer(Model& outer, const StreamRotation& q);

// QuaRot's online Hadamard before down_proj: W_down ← W_down·H and the forward pass applies H
// to down's input (Block::down_hadamard). `seed` only matters for widths needing the random
// orthogonal factor (tensor/hadamard.h).
void add_online_down_hadamard(Block& block, uint64_t seed = 0);

// QuaRot's value/output path: each value head v_h ← v_h·H_hdᵀ, fused into v_proj's rows (and
// bias), so the V cache is quantized after a Hadamard; the forward pass turns the attention
// output a·(I ⊗ H_hdᵀ) back with H_hd per head (Block::value_head_hadamard) and applies the
// full Hadamard H of o_proj's input width (Block::o_hadamard), W_o ← W_o·H. o_proj so reads
// a·H, QuaRot's H_heads ⊗ H_hd when both are Sylvester (QuaRot applies the same as one online
// H_heads ⊗ I after folding H_hd into v and o). The function is unchanged.
void add_online_value_output_hadamard(Block& block, const ModelConfig& config, uint64_t seed = 0);

// QuaRot's key/query Hadamard: every head of q and k ← head·H_hd after RoPE, before the K
// cache is quantized (Block::qk_hadamard). q·kᵀ is unchanged (H orthogonal); no weight changes.
void add_online_query_key_hadamard(Block& block, const ModelConfig& config, uint64_t seed = 0);

// Which online transforms a rotated model's blocks carry (qlab_online in the plugin ABI).
struct OnlineHadamards {
  bool down = false, value_output = false, query_key = false;
  uint64_t seed = 0;
  bool any() const { return down || value_output || query_key; }
};
void add_online_hadamards(Block& block, const ModelConfig& config, const OnlineHadamards& online);

// All of it on a model in memory.
void rotate_model(Model& model, const StreamRotation& q);

}  // namespace qlab
