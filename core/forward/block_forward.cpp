#include "forward/block_forward.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "model/arch.h"
#include "tensor/gemm.h"
#include "util/error.h"

namespace qlab {

void rms_norm(const Matrix& x, const Vector& weight, float eps, Matrix& out) {
  out.resize(x.rows(), x.cols());
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x.rows(); ++r) {
    float mean_sq = x.row(r).squaredNorm() / static_cast<float>(x.cols());
    float inv = 1.0f / std::sqrt(mean_sq + eps);
    out.row(r) = (x.row(r) * inv).cwiseProduct(weight.transpose());
  }
}

void layer_norm(const Matrix& x, const Vector& weight, const Vector& bias, float eps, Matrix& out) {
  out.resize(x.rows(), x.cols());
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x.rows(); ++r) {
    float mean = x.row(r).mean();
    auto centered = x.row(r).array() - mean;
    float var = centered.square().mean();
    float inv = 1.0f / std::sqrt(var + eps);
    out.row(r) = (centered * inv).matrix().cwiseProduct(weight.transpose());
    if (bias.size() > 0) out.row(r) += bias.transpose();
  }
}

void apply_norm(const ModelConfig& config, const Norm& norm, const Matrix& x, Matrix& out) {
  if (arch_of(config.arch).norm == NormKind::rms)
    rms_norm(x, norm.weight, config.norm_eps, out);
  else
    layer_norm(x, norm.weight, norm.bias, config.norm_eps, out);
}

void silu_mul(Matrix& up, const Matrix& gate) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < up.rows(); ++r) {
    auto g = gate.row(r).array();
    up.row(r).array() *= g / (1.0f + (-g).exp());
  }
}

void causal_attention(const Matrix& q, const Matrix& k, const Matrix& v, int64_t n_heads,
                      int64_t n_kv_heads, int64_t head_dim, int64_t pos0, Matrix& out) {
  const int64_t n_q = q.rows();
  const int64_t q_stride = q.cols(), kv_stride = k.cols();
  const int64_t group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  constexpr int64_t tile = 128;  // query rows per task: a tile only reads keys up to its last row
  const int64_t n_tiles = (n_q + tile - 1) / tile;
  out.resize(n_q, n_heads * head_dim);
#pragma omp parallel
  {
    // Rows start 64-byte aligned: Eigen's vectorised reductions then sum in the same order
    // whatever the buffer's address, so results do not depend on the thread or the run.
    Matrix scores;
#pragma omp for schedule(dynamic, 1) collapse(2)
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t t = 0; t < n_tiles; ++t) {
        const int64_t r0 = t * tile, r1 = std::min(n_q, r0 + tile), rows = r1 - r0;
        const int64_t n_keys = pos0 + r1;  // the tile's last query sees keys [0, pos0 + r1)
        const int64_t kvh = h / group;
        const int64_t ld = (n_keys + 15) / 16 * 16;
        if (scores.rows() < rows || scores.cols() < ld) scores.resize(tile, std::max<int64_t>(ld, scores.cols()));
        const int64_t lds = scores.cols();
        gemm_nt(rows, n_keys, head_dim, scale, q.data() + r0 * q_stride + h * head_dim, q_stride,
                k.data() + kvh * head_dim, kv_stride, 0.0f, scores.data(), lds);
        for (int64_t i = 0; i < rows; ++i) {
          float* s = scores.data() + i * lds;
          const int64_t visible = pos0 + r0 + i + 1;  // causal mask: keys after the query are cut
          Eigen::Map<Eigen::ArrayXf> row(s, visible);  // vectorised exp: softmax is the hot non-GEMM part
          row = (row - row.maxCoeff()).exp();
          row *= 1.0f / row.sum();
          std::fill(s + visible, s + n_keys, 0.0f);
        }
        gemm_nn(rows, head_dim, n_keys, 1.0f, scores.data(), lds, v.data() + kvh * head_dim,
                kv_stride, 0.0f, out.data() + r0 * out.cols() + h * head_dim, out.cols());
      }
    }
  }
}

namespace {
// What a linear needs besides its weights: the capture hook and the activation plan.
struct LinearContext {
  const LinearInputHook* hook;
  const ActivationPlan* act;
};

void run_linear(const Linear& l, const Matrix& x, Matrix& y, const LinearContext& ctx) {
  if (ctx.hook) (*ctx.hook)(l, x);
  if (ctx.act && ctx.act->enabled()) {
    Matrix xq = x;
    fake_quantize_input(ctx.act->scheme, ctx.act->absmax_of(l.name), l.name, xq);
    linear_forward(xq, l.weight, l.bias, y);
    return;
  }
  linear_forward(x, l.weight, l.bias, y);
}
}  // namespace

namespace {
// Qwen3's q_norm / k_norm: RMSNorm over each head's head_dim slice of every row.
void per_head_rms_norm(Matrix& x, const Norm& norm, const ModelConfig& c) {
  const int64_t hd = c.head_dim, n_heads = x.cols() / hd;
  Matrix heads = Eigen::Map<Matrix>(x.data(), x.rows() * n_heads, hd), normed;
  rms_norm(heads, norm.weight, c.norm_eps, normed);
  x = Eigen::Map<Matrix>(normed.data(), x.rows(), x.cols());
}

// q, k, v of h (with RoPE) and attention over [cache rows, new rows]; returns o_proj's output.
Matrix attention(const Block& b, const ModelConfig& c, const Matrix& h, int64_t pos0, LayerKv* kv, const LinearContext& ctx,
                 const PackedLayout* packed = nullptr) {
  const int64_t n = h.rows();
  Matrix q, k_new, v_new, attn, out;
  run_linear(b.q, h, q, ctx);
  run_linear(b.k, h, k_new, ctx);
  run_linear(b.v, h, v_new, ctx);
  const Arch& arch = b.architecture();
  if (arch.has(Slot::q_norm)) {
    per_head_rms_norm(q, b.q_norm, c);
    per_head_rms_norm(k_new, b.k_norm, c);
  }
  if (arch.position == PositionKind::rope && packed) {
    const std::vector<float> inv_freq = rope_inv_freq(c, packed->max_pos() + 1);
    apply_rope(q, c.n_heads, c.head_dim, packed->pos, inv_freq);
    apply_rope(k_new, c.n_kv_heads, c.head_dim, packed->pos, inv_freq);
  } else if (arch.position == PositionKind::rope) {
    const std::vector<float> inv_freq = rope_inv_freq(c, pos0 + n);
    apply_rope(q, c.n_heads, c.head_dim, pos0, inv_freq);
    apply_rope(k_new, c.n_kv_heads, c.head_dim, pos0, inv_freq);
  }
  if (b.qk_hadamard) {  // per head, after RoPE, before the K cache is quantized
    hadamard_heads(*b.qk_hadamard, q);
    hadamard_heads(*b.qk_hadamard, k_new);
  }
  if (ctx.act && ctx.act->kv_enabled()) {  // the cache holds quantized keys and values
    fake_quantize_kv(k_new, c.head_dim, ctx.act->scheme.kv_bits, ctx.act->scheme.kv_clip_ratio);
    fake_quantize_kv(v_new, c.head_dim, ctx.act->scheme.kv_bits, ctx.act->scheme.kv_clip_ratio);
  }
  if (packed) {
    packed_attention(q, k_new, v_new, c.n_heads, c.n_kv_heads, c.head_dim, *packed, attn);
  } else if (kv) {
    if (kv->n_past != pos0) fail("block {}: kv cache holds {} positions, forward starts at {}", b.index, kv->n_past, pos0);
    if (pos0 + n > kv->k.rows()) fail("block {}: kv cache capacity {} exceeded", b.index, kv->k.rows());
    kv->k.middleRows(pos0, n) = k_new;
    kv->v.middleRows(pos0, n) = v_new;
    kv->n_past = pos0 + n;
    // Attention reads only rows [0, pos0 + n) of the cache.
    causal_attention(q, kv->k, kv->v, c.n_heads, c.n_kv_heads, c.head_dim, pos0, attn);
  } else {
    causal_attention(q, k_new, v_new, c.n_heads, c.n_kv_heads, c.head_dim, 0, attn);
  }
  if (b.value_head_hadamard) hadamard_heads(*b.value_head_hadamard, attn);
  if (b.o_hadamard) hadamard_rows(*b.o_hadamard, attn);
  run_linear(b.o, attn, out, ctx);
  return out;
}
}  // namespace

namespace {
Matrix mlp(const Block& b, const ModelConfig& c, const Matrix& h, const LinearContext& ctx) {
  Matrix up, out;
  const MlpKind kind = b.architecture().mlp;
  if (kind == MlpKind::moe) fail("block {}: mixture-of-experts MLPs are described by the table but not run yet", b.index);
  run_linear(b.up, h, up, ctx);
  if (kind == MlpKind::swiglu) {
    Matrix gate;
    run_linear(b.gate, h, gate, ctx);
    silu_mul(up, gate);
  } else {
    up = up.cwiseMax(0.0f);
  }
  if (b.down_hadamard) hadamard_rows(*b.down_hadamard, up);
  run_linear(b.down, up, out, ctx);
  return out;
}
}  // namespace

Matrix attention_output(const Block& b, const ModelConfig& c, const Matrix& h, const LinearInputHook* hook) {
  return attention(b, c, h, 0, nullptr, {hook, nullptr});
}

Matrix mlp_output(const Block& b, const ModelConfig& c, const Matrix& h, const LinearInputHook* hook) {
  return mlp(b, c, h, {hook, nullptr});
}

namespace {
void forward_block(const Block& b, const ModelConfig& c, Matrix& x, int64_t pos0, LayerKv* kv, const LinearContext& ctx,
                   const PackedLayout* packed) {
  Matrix h;
  // Pre-norm: x += attn(norm(x)); x += mlp(norm(x)). Post-norm (OPT-350M): x = norm(x + attn(x)); x = norm(x + mlp(x)).
  if (c.pre_norm) apply_norm(c, b.attn_norm, x, h); else h = x;
  x += attention(b, c, h, pos0, kv, ctx, packed);
  if (!c.pre_norm) {
    apply_norm(c, b.attn_norm, x, h);
    x = h;
  }
  if (c.pre_norm) apply_norm(c, b.mlp_norm, x, h); else h = x;
  x += mlp(b, c, h, ctx);
  if (!c.pre_norm) {
    apply_norm(c, b.mlp_norm, x, h);
    x = h;
  }
}
}  // namespace

void block_forward(const Block& b, const ModelConfig& c, Matrix& x, int64_t pos0, LayerKv* kv,
                   const LinearInputHook* hook, const ActivationPlan* act) {
  forward_block(b, c, x, pos0, kv, {hook, act}, nullptr);
}

void block_forward(const Block& b, const ModelConfig& c, Matrix& x, const PackedLayout& layout, const ActivationPlan* act) {
  if (layout.rows() != x.rows()) fail("block {}: a packed layout of {} rows for {} rows", b.index, layout.rows(), x.rows());
  forward_block(b, c, x, 0, nullptr, {nullptr, act}, &layout);
}

}  // namespace qlab
