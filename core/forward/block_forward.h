// Shared transformer kernels and the forward pass of one block over a whole segment
// (all positions at once). Each kernel is a plain function so tests can check it alone.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "forward/activation_quant.h"
#include "forward/packed_attention.h"
#include "forward/rope.h"
#include "model/model.h"

namespace qlab {

// out = x / rms(x) * weight, row by row.
void rms_norm(const Matrix& x, const Vector& weight, float eps, Matrix& out);
// out = (x - mean) / sqrt(var + eps) * weight + bias, row by row.
void layer_norm(const Matrix& x, const Vector& weight, const Vector& bias, float eps, Matrix& out);
// The family's norm kind (architecture table) with the config's epsilon.
void apply_norm(const ModelConfig& config, const Norm& norm, const Matrix& x, Matrix& out);

// up *= silu(gate) = gate / (1 + exp(-gate)), the SwiGLU product.
void silu_mul(Matrix& up, const Matrix& gate);

// Causal grouped-query attention. q: T×(n_heads·hd) at positions pos0.., k and v:
// (pos0+T)×(n_kv_heads·hd) holding every earlier position too. out: T×(n_heads·hd).
void causal_attention(const Matrix& q, const Matrix& k, const Matrix& v, int64_t n_heads,
                      int64_t n_kv_heads, int64_t head_dim, int64_t pos0, Matrix& out);

// Keys and values of one block for incremental decoding.
struct LayerKv {
  Matrix k, v;         // capacity × kv_dim
  int64_t n_past = 0;  // rows filled
};

// Called with each linear's input just before the linear runs (statistics capture).
using LinearInputHook = std::function<void(const Linear& linear, const Matrix& input)>;

// The attention sub-block's output (o_proj's output, before the residual) for a normed input
// h at positions 0.., and the MLP's output for a normed input: the modules AWQ inspects.
Matrix attention_output(const Block& block, const ModelConfig& config, const Matrix& h, const LinearInputHook* hook = nullptr);
Matrix mlp_output(const Block& block, const ModelConfig& config, const Matrix& h, const LinearInputHook* hook = nullptr);

// x (T×dim) ← block(x), for every family from its table row: norm kind, pre/post-norm,
// per-head q/k norms when the block has them, RoPE or none, SwiGLU or ReLU MLP. Positions are pos0.. ; with kv, keys/values are appended to it
// and attention covers its earlier rows. With `act`, every linear's input is fake-quantized
// as it says (W8A8 evaluation).
void block_forward(const Block& block, const ModelConfig& config, Matrix& x, int64_t pos0 = 0,
                   LayerKv* kv = nullptr, const LinearInputHook* hook = nullptr, const ActivationPlan* act = nullptr);
// The same for rows packed as `layout` says (their positions and attention from it).
void block_forward(const Block& block, const ModelConfig& config, Matrix& x, const PackedLayout& layout,
                   const ActivationPlan* act = nullptr);

}  // namespace qlab
