#include "model/block_layout.h"

#include "model/arch.h"

namespace qlab {

namespace {
bool all_per_expert(const Arch& arch, const std::vector<Slot>& slots) {
  for (Slot s : slots)
    if (!arch.row(s).per_expert()) return false;
  return true;
}

// The names of `slots` in block `index`: for expert e only when `expert` >= 0, else every expert's.
std::vector<std::string> names_of(const Arch& arch, const std::vector<Slot>& slots, int64_t index, int64_t n_experts, int64_t expert) {
  std::vector<std::string> out;
  for (Slot s : slots) {
    const std::vector<std::string> names = tensor_names(arch.row(s), index, n_experts);
    if (expert >= 0 && arch.row(s).per_expert()) out.push_back(names[static_cast<size_t>(expert)]);
    else out.insert(out.end(), names.begin(), names.end());
  }
  return out;
}
}  // namespace

// From the family's table and the config's sizes alone: no weight is allocated. A group made
// only of per-expert slots (or produced by one) repeats once per expert: each expert sees
// its own tokens.
BlockLayout block_layout(const ModelConfig& config, int64_t index) {
  const Arch& arch = arch_of(config.arch);
  const int64_t n_experts = config.n_experts;
  BlockLayout out;
  out.index = index;
  for (const TensorRow& r : arch.tensors) {
    if (r.kind != TensorKind::linear) continue;
    for (const std::string& name : tensor_names(r, index, n_experts))
      out.linears.push_back({name, dim_size(config, r.rows), dim_size(config, r.cols), r.bias == BiasRule::required});
  }
  for (const std::vector<Slot>& slots : arch.input_groups) {
    if (!all_per_expert(arch, slots)) {
      out.input_groups.push_back(names_of(arch, slots, index, n_experts, -1));
      continue;
    }
    for (int64_t e = 0; e < n_experts; ++e) out.input_groups.push_back(names_of(arch, slots, index, n_experts, e));
  }
  for (const GroupRow& g : arch.scalable_groups) {
    const TensorRow& producer = arch.row(g.producer);
    if (producer.kind == TensorKind::norm) {
      if (!config.pre_norm) continue;  // a post-norm output also feeds the residual
      out.scalable_groups.push_back({tensor_names(producer, index, n_experts)[0], ProducerKind::norm,
                                     names_of(arch, g.consumers, index, n_experts, -1), g.inspect});
      continue;
    }
    bool shapes_match = true;
    for (Slot s : g.consumers) shapes_match = shapes_match && dim_size(config, arch.row(s).cols) == dim_size(config, producer.rows);
    if (!shapes_match) continue;  // v → o under grouped-query attention
    const int64_t repeats = producer.per_expert() ? n_experts : 1;
    for (int64_t e = 0; e < repeats; ++e)
      out.scalable_groups.push_back({names_of(arch, {g.producer}, index, n_experts, producer.per_expert() ? e : -1)[0],
                                     ProducerKind::linear, names_of(arch, g.consumers, index, n_experts, producer.per_expert() ? e : -1),
                                     g.inspect});
  }
  return out;
}

}  // namespace qlab
