#include "model/model.h"

#include <fmt/format.h>

#include <utility>

#include "model/arch.h"
#include "util/error.h"

namespace qlab {

const Arch& Block::architecture() const {
  if (!arch) fail("block {}: built without an architecture row", index);
  return *arch;
}

Linear& Block::linear(Slot slot) { return const_cast<Linear&>(std::as_const(*this).linear(slot)); }

const Linear& Block::linear(Slot slot) const {
  switch (slot) {
    case Slot::q: return q;
    case Slot::k: return k;
    case Slot::v: return v;
    case Slot::o: return o;
    case Slot::gate: return gate;
    case Slot::up: return up;
    case Slot::down: return down;
    default: fail("block {}: slot {} is not a dense linear (mixture-of-experts blocks are described, not run)", index, static_cast<int>(slot));
  }
}

Norm& Block::norm(Slot slot) { return const_cast<Norm&>(std::as_const(*this).norm(slot)); }

const Norm& Block::norm(Slot slot) const {
  switch (slot) {
    case Slot::attn_norm: return attn_norm;
    case Slot::mlp_norm: return mlp_norm;
    case Slot::q_norm: return q_norm;
    case Slot::k_norm: return k_norm;
    default: fail("block {}: slot {} is not a norm", index, static_cast<int>(slot));
  }
}

std::vector<Linear*> Block::linears() {
  std::vector<Linear*> out;
  for (const TensorRow& r : architecture().tensors)
    if (r.kind == TensorKind::linear) out.push_back(&linear(r.slot));
  return out;
}

std::vector<const Linear*> Block::linears() const {
  std::vector<const Linear*> out;
  for (const TensorRow& r : architecture().tensors)
    if (r.kind == TensorKind::linear) out.push_back(&linear(r.slot));
  return out;
}

std::vector<const Norm*> Block::norms() const {
  std::vector<const Norm*> out;
  for (const TensorRow& r : architecture().tensors)
    if (r.kind == TensorKind::norm) out.push_back(&norm(r.slot));
  return out;
}

std::vector<std::vector<Linear*>> Block::input_groups() {
  std::vector<std::vector<Linear*>> groups;
  for (const std::vector<Slot>& slots : architecture().input_groups) {
    std::vector<Linear*> group;
    for (Slot s : slots) group.push_back(&linear(s));
    groups.push_back(group);
  }
  return groups;
}

std::vector<ScalableGroup> Block::scalable_groups(const ModelConfig& c) {
  const Arch& arch = architecture();
  std::vector<ScalableGroup> groups;
  for (const GroupRow& row : arch.scalable_groups) {
    ScalableGroup g;
    g.inspect = row.inspect;
    for (Slot s : row.consumers) g.consumers.push_back(&linear(s));
    if (arch.row(row.producer).kind == TensorKind::norm) {
      if (!c.pre_norm) continue;  // a post-norm output also feeds the residual
      g.producer_kind = ProducerKind::norm;
      g.norm = &norm(row.producer);
      g.name = g.norm->name;
    } else {
      g.producer_kind = ProducerKind::linear;
      g.producer = &linear(row.producer);
      g.name = g.producer->name;
      bool shapes_match = true;
      for (const Linear* l : g.consumers) shapes_match = shapes_match && l->in_features() == g.producer->out_features();
      if (!shapes_match) continue;  // v → o under grouped-query attention
      // An online Hadamard between them (a rotated model): a per-channel scale of the
      // producer's output no longer reaches the consumer's input channel for channel.
      bool hadamard_between = false;
      for (const Linear* l : g.consumers) hadamard_between = hadamard_between || (l == &down && down_hadamard) || (l == &o && o_hadamard);
      if (hadamard_between) continue;
    }
    groups.push_back(g);
  }
  return groups;
}

std::vector<Linear*> Model::linears() {
  std::vector<Linear*> out;
  for (Block& b : blocks)
    for (Linear* l : b.linears()) out.push_back(l);
  out.push_back(&lm_head);
  return out;
}

Linear* Model::find_linear(const std::string& name) {
  for (Linear* l : linears())
    if (l->name == name) return l;
  return nullptr;
}

namespace {
void check_tensor(const std::string& source, const std::string& name, const float* data, long long n) {
  long long bad = first_non_finite(data, n);
  if (bad >= 0) fail("{}: tensor '{}' has a non-finite value ({}) at flat index {}", source, name, data[bad], bad);
}
}  // namespace

void check_finite(const Block& b, const std::string& source) {
  for (const Norm* n : b.norms()) {
    check_tensor(source, n->name, n->weight.data(), n->weight.size());
    check_tensor(source, n->name + ".bias", n->bias.data(), n->bias.size());
  }
  for (const Linear* l : b.linears()) {
    check_tensor(source, l->name, l->weight.data(), l->weight.size());
    check_tensor(source, l->name + ".bias", l->bias.data(), l->bias.size());
  }
}

void check_finite(const Matrix& rows, const std::string& source, const std::string& tensor) {
  check_tensor(source, tensor, rows.data(), rows.size());
}

void check_finite(const Model& m) {
  check_tensor(m.source, "embed_tokens", m.embed_tokens.data(), m.embed_tokens.size());
  check_tensor(m.source, "embed_positions", m.embed_positions.data(), m.embed_positions.size());
  for (const Linear* l : {&m.project_in, &m.project_out}) check_tensor(m.source, l->name, l->weight.data(), l->weight.size());
  for (const Block& b : m.blocks) check_finite(b, m.source);
  check_tensor(m.source, m.final_norm.name, m.final_norm.weight.data(), m.final_norm.weight.size());
  check_tensor(m.source, "lm_head", m.lm_head.weight.data(), m.lm_head.weight.size());
}

}  // namespace qlab
