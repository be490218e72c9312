#include "model/model.h"

#include <fmt/format.h>

#include "util/error.h"

namespace qlab {

std::vector<Linear*> Block::linears() {
  std::vector<Linear*> out;
  for (Linear* l : {&q, &k, &v, &o, &gate, &up, &down})
    if (l->weight.size() > 0) out.push_back(l);
  return out;
}

std::vector<const Linear*> Block::linears() const {
  std::vector<const Linear*> out;
  for (const Linear* l : {&q, &k, &v, &o, &gate, &up, &down})
    if (l->weight.size() > 0) out.push_back(l);
  return out;
}

std::vector<std::vector<Linear*>> Block::input_groups() {
  std::vector<std::vector<Linear*>> groups = {{&q, &k, &v}, {&o}, {}, {&down}};
  if (gate.weight.size() > 0) groups[2].push_back(&gate);
  groups[2].push_back(&up);
  return groups;
}

std::vector<ScalableGroup> Block::scalable_groups(const ModelConfig& c) {
  std::vector<ScalableGroup> groups;
  if (c.pre_norm) groups.push_back({attn_norm.name, ProducerKind::norm, &attn_norm, nullptr, {&q, &k, &v}, Inspect::attention});
  if (v.out_features() == o.in_features()) groups.push_back({v.name, ProducerKind::linear, nullptr, &v, {&o}, Inspect::consumers});
  if (c.pre_norm) {
    ScalableGroup mlp{mlp_norm.name, ProducerKind::norm, &mlp_norm, nullptr, {}, Inspect::mlp};
    if (gate.weight.size() > 0) mlp.consumers.push_back(&gate);
    mlp.consumers.push_back(&up);
    groups.push_back(mlp);
  }
  groups.push_back({up.name, ProducerKind::linear, nullptr, &up, {&down}, Inspect::consumers});
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

Block make_llama_block(const ModelConfig& c, int index) {
  Block b;
  b.index = index;
  auto name = [&](const char* path) { return fmt::format("{}.{}", index, path); };
  b.attn_norm = {name("input_layernorm"), Vector::Ones(c.dim), {}};
  b.mlp_norm = {name("post_attention_layernorm"), Vector::Ones(c.dim), {}};
  b.q = {name("self_attn.q_proj"), Matrix::Zero(c.n_heads * c.head_dim, c.dim), {}};
  b.k = {name("self_attn.k_proj"), Matrix::Zero(c.kv_dim(), c.dim), {}};
  b.v = {name("self_attn.v_proj"), Matrix::Zero(c.kv_dim(), c.dim), {}};
  b.o = {name("self_attn.o_proj"), Matrix::Zero(c.dim, c.n_heads * c.head_dim), {}};
  b.gate = {name("mlp.gate_proj"), Matrix::Zero(c.hidden_dim, c.dim), {}};
  b.up = {name("mlp.up_proj"), Matrix::Zero(c.hidden_dim, c.dim), {}};
  b.down = {name("mlp.down_proj"), Matrix::Zero(c.dim, c.hidden_dim), {}};
  return b;
}

Block make_opt_block(const ModelConfig& c, int index) {
  Block b;
  b.index = index;
  auto name = [&](const char* path) { return fmt::format("{}.{}", index, path); };
  auto linear = [&](const char* path, int64_t out, int64_t in) {
    return Linear{name(path), Matrix::Zero(out, in), Vector::Zero(out)};
  };
  b.attn_norm = {name("self_attn_layer_norm"), Vector::Ones(c.dim), Vector::Zero(c.dim)};
  b.mlp_norm = {name("final_layer_norm"), Vector::Ones(c.dim), Vector::Zero(c.dim)};
  b.q = linear("self_attn.q_proj", c.dim, c.dim);
  b.k = linear("self_attn.k_proj", c.dim, c.dim);
  b.v = linear("self_attn.v_proj", c.dim, c.dim);
  b.o = linear("self_attn.out_proj", c.dim, c.dim);
  b.up = linear("fc1", c.hidden_dim, c.dim);
  b.down = linear("fc2", c.dim, c.hidden_dim);
  return b;
}

namespace {
void check_tensor(const std::string& source, const std::string& name, const float* data, long long n) {
  long long bad = first_non_finite(data, n);
  if (bad >= 0) fail("{}: tensor '{}' has a non-finite value ({}) at flat index {}", source, name, data[bad], bad);
}
}  // namespace

void check_finite(const Model& m) {
  check_tensor(m.source, "embed_tokens", m.embed_tokens.data(), m.embed_tokens.size());
  check_tensor(m.source, "embed_positions", m.embed_positions.data(), m.embed_positions.size());
  for (const Linear* l : {&m.project_in, &m.project_out}) check_tensor(m.source, l->name, l->weight.data(), l->weight.size());
  for (const Block& b : m.blocks) {
    for (const Norm* n : {&b.attn_norm, &b.mlp_norm}) {
      check_tensor(m.source, n->name, n->weight.data(), n->weight.size());
      check_tensor(m.source, n->name + ".bias", n->bias.data(), n->bias.size());
    }
    for (const Linear* l : b.linears()) {
      check_tensor(m.source, l->name, l->weight.data(), l->weight.size());
      check_tensor(m.source, l->name + ".bias", l->bias.data(), l->bias.size());
    }
  }
  check_tensor(m.source, m.final_norm.name, m.final_norm.weight.data(), m.final_norm.weight.size());
  check_tensor(m.source, "lm_head", m.lm_head.weight.data(), m.lm_head.weight.size());
}

}  // namespace qlab
