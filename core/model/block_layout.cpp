#include "model/block_layout.h"

namespace qlab {

// From an empty block of the architecture: the layout is whatever Block says it is.
BlockLayout block_layout(const ModelConfig& config, int64_t index) {
  Block b = config.arch == "opt" ? make_opt_block(config, static_cast<int>(index)) : make_llama_block(config, static_cast<int>(index));
  BlockLayout out;
  out.index = index;
  for (const Linear* l : b.linears()) out.linears.push_back({l->name, l->out_features(), l->in_features(), l->bias.size() > 0});
  for (const auto& group : b.input_groups()) {
    std::vector<std::string> names;
    for (const Linear* l : group) names.push_back(l->name);
    out.input_groups.push_back(names);
  }
  for (const ScalableGroup& g : b.scalable_groups(config)) {
    GroupLayout layout{g.name, g.producer_kind, {}, g.inspect};
    for (const Linear* l : g.consumers) layout.consumers.push_back(l->name);
    out.scalable_groups.push_back(layout);
  }
  return out;
}

}  // namespace qlab
