#include "model/residual_rotation.h"

#include "model/arch.h"
#include "util/error.h"

namespace qlab {

namespace {
// W·diag(g): the norm's per-channel weight moved into the linear's input columns.
void fold_into(Linear& l, const Vector& g) {
  if (l.weight.size() == 0) return;
  l.weight.array().rowwise() *= g.transpose().array();
}

void check_orthogonal_size(const StreamRotation& q, int64_t dim) {
  if (q.dim() != dim) fail("rotation: a {0}×{0} matrix for a residual stream of width {1}", q.dim(), dim);
}

void rotate_reader(Linear& l, const StreamRotation& q) {  // y = x·Wᵀ with x → x·Q: W ← W·Q
  if (l.weight.size() > 0) q.right(l.weight);
}

void rotate_writer(Linear& l, const StreamRotation& q) {  // y → y·Q: W ← Qᵀ·W, b ← b·Q
  if (l.weight.size() == 0) return;
  q.left_transposed(l.weight);
  if (l.bias.size() > 0) q.left_transposed(l.bias);
}
}  // namespace

void check_rotatable(const ModelConfig& c) {
  if (arch_of(c.arch).norm != NormKind::rms || !c.pre_norm)
    fail("rotating the residual stream needs pre-norm RMSNorm blocks (the LLaMA family); {} uses {}", c.arch,
         arch_of(c.arch).norm != NormKind::rms ? "LayerNorm, whose mean subtraction does not commute with a rotation" : "post-norm blocks");
}

void fold_block_norms(Block& b) {
  for (Linear* l : {&b.q, &b.k, &b.v}) fold_into(*l, b.attn_norm.weight);
  for (Linear* l : {&b.gate, &b.up}) fold_into(*l, b.mlp_norm.weight);
  b.attn_norm.weight.setOnes();
  b.mlp_norm.weight.setOnes();
}

void fold_final_norm(Model& outer) {
  if (outer.final_norm.weight.size() == 0) return;
  fold_into(outer.lm_head, outer.final_norm.weight);
  outer.final_norm.weight.setOnes();
}

void rotate_block(Block& b, const StreamRotation& q) {
  check_orthogonal_size(q, b.q.in_features());
  for (Linear* l : {&b.q, &b.k, &b.v, &b.gate, &b.up}) rotate_reader(*l, q);
  for (Linear* l : {&b.o, &b.down}) rotate_writer(*l, q);
}

void rotate_outer(Model& outer, const StreamRotation& q) {
  check_orthogonal_size(q, outer.config.dim);
  q.right(outer.embed_tokens);
  rotate_reader(outer.lm_head, q);
}

void add_online_down_hadamard(Block& b, uint64_t seed) {
  if (b.down_hadamard) fail("block {}: down_proj already has an online Hadamard", b.index);
  auto plan = std::make_shared<const HadamardPlan>(plan_hadamard(b.down.in_features(), seed));
  hadamard_rows(*plan, b.down.weight);  // each row w ← w·H
  b.down_hadamard = std::move(plan);
}

void add_online_value_output_hadamard(Block& b, const ModelConfig& c, uint64_t seed) {
  if (b.o_hadamard) fail("block {}: o_proj already has an online Hadamard", b.index);
  auto head = std::make_shared<const HadamardPlan>(plan_hadamard(c.head_dim, seed));
  const Matrix head_t = hadamard_matrix(*head).transpose();
  // v = x·W_vᵀ; each head v_h·Hᵀ = x·(W_vᵀ)_h·Hᵀ, and the bias likewise.
  Matrix wt = b.v.weight.transpose();
  Matrix heads = Eigen::Map<Matrix>(wt.data(), wt.rows() * wt.cols() / c.head_dim, c.head_dim) * head_t;
  b.v.weight = Eigen::Map<Matrix>(heads.data(), wt.rows(), wt.cols()).transpose();
  if (b.v.bias.size() > 0) {
    Matrix bias = Eigen::Map<Matrix>(b.v.bias.data(), b.v.bias.size() / c.head_dim, c.head_dim) * head_t;
    b.v.bias = Eigen::Map<Vector>(bias.data(), b.v.bias.size());
  }
  auto full = std::make_shared<const HadamardPlan>(plan_hadamard(b.o.in_features(), seed));
  hadamard_rows(*full, b.o.weight);
  b.value_head_hadamard = std::move(head);
  b.o_hadamard = std::move(full);
}

void add_online_query_key_hadamard(Block& b, const ModelConfig& c, uint64_t seed) {
  if (b.qk_hadamard) fail("block {}: q and k already have an online Hadamard", b.index);
  b.qk_hadamard = std::make_shared<const HadamardPlan>(plan_hadamard(c.head_dim, seed));
}

void add_online_hadamards(Block& b, const ModelConfig& c, const OnlineHadamards& online) {
  if (online.down) add_online_down_hadamard(b, online.seed);
  if (online.value_output) add_online_value_output_hadamard(b, c, online.seed);
  if (online.query_key) add_online_query_key_hadamard(b, c, online.seed);
}

void rotate_model(Model& m, const StreamRotation& q) {
  check_rotatable(m.config);
  for (Block& b : m.blocks) {
    fold_block_norms(b);
    rotate_block(b, q);
  }
  fold_final_norm(m);
  rotate_outer(m, q);
}

}  // namespace qlab
