#include "forward/device_block.h"

#include <algorithm>

#include "forward/rope.h"
#include "model/arch.h"
#include "util/error.h"

namespace qlab {

namespace {
DeviceBuffer upload_vector(Backend& backend, const Vector& v) {
  if (v.size() == 0) return {};
  return backend.upload(Eigen::Map<const Matrix>(v.data(), 1, v.size()));
}
}  // namespace

DeviceBlock::DeviceBlock(Backend& backend, const Block& block) : backend_(&backend), host_(&block) {
  if (block.architecture().mlp == MlpKind::moe)
    fail("block {}: mixture-of-experts MLPs are described by the table but not run yet", block.index);
  for (const Norm* n : block.norms()) {
    const Slot slot = n == &block.attn_norm ? Slot::attn_norm : n == &block.mlp_norm ? Slot::mlp_norm
                    : n == &block.q_norm    ? Slot::q_norm    : Slot::k_norm;
    norms_[slot] = {upload_vector(backend, n->weight), upload_vector(backend, n->bias)};
  }
  for (const Slot slot : {Slot::q, Slot::k, Slot::v, Slot::o, Slot::gate, Slot::up, Slot::down}) {
    const Linear& l = block.linear(slot);
    if (l.weight.size() == 0) continue;
    linears_[slot] = {&l, backend.upload(l.weight), upload_vector(backend, l.bias)};
  }
}

const DeviceLinear& DeviceBlock::linear(Slot slot) const {
  auto it = linears_.find(slot);
  if (it == linears_.end()) fail("block {}: no {} linear on the device", host_->index, static_cast<int>(slot));
  return it->second;
}

const DeviceNorm& DeviceBlock::norm(Slot slot) const {
  auto it = norms_.find(slot);
  if (it == norms_.end()) fail("block {}: no norm {} on the device", host_->index, static_cast<int>(slot));
  return it->second;
}

double DeviceBlock::bytes(const Block& block) {
  double n = 0;
  for (const Linear* l : block.linears()) n += static_cast<double>(l->weight.size() + l->bias.size());
  for (const Norm* m : block.norms()) n += static_cast<double>(m->weight.size() + m->bias.size());
  return 4.0 * n;
}

double device_forward_work_bytes(const ModelConfig& c, int64_t tokens) {
  const double t = static_cast<double>(tokens), d = static_cast<double>(c.dim), f = static_cast<double>(c.hidden_dim);
  const double kv = static_cast<double>(c.n_kv_heads * c.head_dim), q = static_cast<double>(c.n_heads * c.head_dim);
  const double buffers = 4.0 * t * (2.0 * d + 3.0 * q + 2.0 * kv + 2.0 * f);
  // The CUDA backend's scratch: the attention's score slab (capped at 2^26 floats) and, under
  // --gemm-precision fp16/bf16, 16-bit copies of a linear's input and weight.
  const double scores = 4.0 * std::min(static_cast<double>(int64_t{1} << 26), static_cast<double>(c.n_heads) * t * t);
  const double copies = 2.0 * (t * std::max(d, f) + d * f);
  return buffers + scores + copies;
}

namespace {
struct Context {
  Backend& be;
  const ModelConfig& c;
  const DeviceInputHook* hook;
  const ActivationPlan* act;
  const PackedLayout* packed;
};

DeviceBuffer run_linear(const DeviceLinear& l, const DeviceBuffer& x, const Context& ctx) {
  if (ctx.hook) (*ctx.hook)(*l.host, x);
  DeviceBuffer y = ctx.be.alloc(x.rows(), l.weight.rows());
  if (ctx.act && ctx.act->enabled()) {
    // The activation quantizers are host code: the input goes to the host and back (a copy of
    // T×in per linear, which the log's device line states).
    Matrix xq = x.download();
    fake_quantize_input(ctx.act->scheme, ctx.act->absmax_of(l.host->name), l.host->name, xq);
    ctx.be.gemm(ctx.be.upload(xq), false, l.weight, true, 1.0f, 0.0f, y, ctx.be.linear_precision());
  } else {
    ctx.be.gemm(x, false, l.weight, true, 1.0f, 0.0f, y, ctx.be.linear_precision());
  }
  if (!l.bias.empty()) ctx.be.add_row(y, l.bias);
  return y;
}

void norm(const Context& ctx, const DeviceNorm& n, const DeviceBuffer& x, DeviceBuffer& out) {
  if (arch_of(ctx.c.arch).norm == NormKind::rms)
    ctx.be.rms_norm(x, n.weight, ctx.c.norm_eps, out);
  else
    ctx.be.layer_norm(x, n.weight, n.bias, ctx.c.norm_eps, out);
}

// Qwen3's q_norm / k_norm: RMSNorm over each head's slice, the rows read as (T·heads) × head_dim.
void per_head_rms_norm(const Context& ctx, const DeviceNorm& n, DeviceBuffer& x) {
  const int64_t rows = x.rows(), cols = x.cols(), hd = ctx.c.head_dim;
  x.reshape(rows * cols / hd, hd);
  DeviceBuffer out = ctx.be.alloc(x.rows(), hd);
  ctx.be.rms_norm(x, n.weight, ctx.c.norm_eps, out);
  out.reshape(rows, cols);
  x = std::move(out);
}

// Every head_dim slice of x's rows ← slice·H (the rows read as (T·heads) × head_dim).
void hadamard_heads(const Context& ctx, const HadamardPlan& plan, DeviceBuffer& x) {
  const int64_t rows = x.rows(), cols = x.cols();
  x.reshape(rows * cols / plan.n, plan.n);
  ctx.be.hadamard(x, plan);
  x.reshape(rows, cols);
}

DeviceBuffer attention(const DeviceBlock& b, const Context& ctx, const DeviceBuffer& h) {
  const ModelConfig& c = ctx.c;
  DeviceBuffer q = run_linear(b.linear(Slot::q), h, ctx);
  DeviceBuffer k = run_linear(b.linear(Slot::k), h, ctx);
  DeviceBuffer v = run_linear(b.linear(Slot::v), h, ctx);
  const Arch& arch = b.host().architecture();
  if (arch.has(Slot::q_norm)) {
    per_head_rms_norm(ctx, b.norm(Slot::q_norm), q);
    per_head_rms_norm(ctx, b.norm(Slot::k_norm), k);
  }
  if (arch.position == PositionKind::rope && ctx.packed) {
    const std::vector<float> inv_freq = rope_inv_freq(c, ctx.packed->max_pos() + 1);
    ctx.be.rope(q, c.n_heads, c.head_dim, ctx.packed->pos, inv_freq);
    ctx.be.rope(k, c.n_kv_heads, c.head_dim, ctx.packed->pos, inv_freq);
  } else if (arch.position == PositionKind::rope) {
    const std::vector<float> inv_freq = rope_inv_freq(c, h.rows());
    ctx.be.rope(q, c.n_heads, c.head_dim, 0, inv_freq);
    ctx.be.rope(k, c.n_kv_heads, c.head_dim, 0, inv_freq);
  }
  if (const auto& plan = b.host().qk_hadamard) {
    hadamard_heads(ctx, *plan, q);
    hadamard_heads(ctx, *plan, k);
  }
  if (ctx.act && ctx.act->kv_enabled()) {  // the KV quantizer is host code: a round trip, as the input quantizers
    for (DeviceBuffer* t : {&k, &v}) {
      Matrix m = t->download();
      fake_quantize_kv(m, c.head_dim, ctx.act->scheme.kv_bits, ctx.act->scheme.kv_clip_ratio);
      t->upload(m);
    }
  }
  DeviceBuffer attn = ctx.be.alloc(h.rows(), c.n_heads * c.head_dim);
  if (ctx.packed)
    ctx.be.packed_attention(q, k, v, c.n_heads, c.n_kv_heads, c.head_dim, *ctx.packed, attn);
  else
    ctx.be.causal_attention(q, k, v, c.n_heads, c.n_kv_heads, c.head_dim, 0, attn);
  if (b.host().value_head_hadamard) hadamard_heads(ctx, *b.host().value_head_hadamard, attn);
  if (b.host().o_hadamard) ctx.be.hadamard(attn, *b.host().o_hadamard);
  return run_linear(b.linear(Slot::o), attn, ctx);
}

DeviceBuffer mlp(const DeviceBlock& b, const Context& ctx, const DeviceBuffer& h) {
  DeviceBuffer up = run_linear(b.linear(Slot::up), h, ctx);
  if (b.host().architecture().mlp == MlpKind::swiglu)
    ctx.be.silu_mul(up, run_linear(b.linear(Slot::gate), h, ctx));
  else
    ctx.be.relu(up);
  if (b.host().down_hadamard) ctx.be.hadamard(up, *b.host().down_hadamard);
  return run_linear(b.linear(Slot::down), up, ctx);
}
}  // namespace

void device_block_forward(const DeviceBlock& b, const ModelConfig& c, DeviceBuffer& x, const DeviceInputHook* hook,
                          const ActivationPlan* act, const PackedLayout* packed) {
  Backend& be = b.backend();
  if (x.backend() != &be) fail("block {}: its activations are not on {}", b.host().index, be.name());
  if (x.cols() != c.dim) fail("block {}: activations of width {}, the model's is {}", b.host().index, x.cols(), c.dim);
  if (packed && packed->rows() != x.rows()) fail("block {}: a packed layout of {} rows for {} rows", b.host().index, packed->rows(), x.rows());
  const Context ctx{be, c, hook, act, packed};
  DeviceBuffer h = be.alloc(x.rows(), x.cols());
  // Pre-norm: x += attn(norm(x)); x += mlp(norm(x)). Post-norm (OPT-350M): x = norm(x + attn(x)); x = norm(x + mlp(x)).
  const auto sub_block = [&](Slot norm_slot, auto&& body) {
    if (c.pre_norm) {
      norm(ctx, b.norm(norm_slot), x, h);
      be.add(x, body(h));
    } else {
      be.add(x, body(x));
      norm(ctx, b.norm(norm_slot), x, h);
      be.copy(h, x);
    }
  };
  sub_block(Slot::attn_norm, [&](const DeviceBuffer& in) { return attention(b, ctx, in); });
  sub_block(Slot::mlp_norm, [&](const DeviceBuffer& in) { return mlp(b, ctx, in); });
}

}  // namespace qlab
