#include "walk/capture.h"

#include <algorithm>

#include "backend/device_activation_store.h"
#include "forward/block_forward.h"
#include "forward/device_block.h"
#include "walk/stats_cache.h"

namespace qlab {

const Matrix& BlockStats::hessian(size_t g) {
  // A collector only this block holds (no sweep cache shares it) gives its sum up.
  if (hessians[g].size() == 0) hessians[g] = collectors[g].use_count() == 1 ? collectors[g]->take_hessian() : collectors[g]->hessian();
  return hessians[g];
}

BlockStats capture(Block& block, const ModelConfig& config, const ActivationStore& x, uint32_t mask, int64_t total_tokens,
                   const std::vector<size_t>& wanted, StatsCache* cache, uint64_t x_hash) {
  BlockStats s;
  auto groups = block.input_groups();
  s.hessians.resize(groups.size());
  const uint64_t key = cache ? StatsCache::key(block, x_hash, mask | QLAB_STAT_HESSIAN, wanted) : 0;
  if (const CapturedStats* hit = cache ? cache->find(key) : nullptr) {
    s.collectors = hit->collectors;
    s.group_of = hit->group_of;
    return s;
  }
  s.collectors.resize(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    for (Linear* l : groups[g]) s.group_of[l->name] = g;
    if (wanted.empty() || std::find(wanted.begin(), wanted.end(), g) != wanted.end())
      s.collectors[g] = std::make_shared<StatsCollector>(mask | QLAB_STAT_HESSIAN, groups[g][0]->in_features(), total_tokens);
  }
  std::vector<bool> seen(groups.size());
  const auto add = [&](const Linear& l, const auto& input) {
    const size_t g = s.group_of.at(l.name);
    if (s.collectors[g] && !seen[g]) {
      seen[g] = true;
      s.collectors[g]->add_sequence(input);
    }
  };
  if (const auto* dx = dynamic_cast<const DeviceActivationStore*>(&x)) {  // activations on a device: the block runs there
    Backend& be = dx->backend();
    const DeviceBlock resident(be, block);
    const DeviceInputHook hook = [&](const Linear& l, const DeviceBuffer& input) { add(l, input); };
    for (size_t i = 0; i < x.size(); ++i) {
      std::fill(seen.begin(), seen.end(), false);
      dx->read_on_device(i, [&](const DeviceBuffer& in) {
        DeviceBuffer h = be.alloc(in.rows(), in.cols());
        be.copy(in, h);
        device_block_forward(resident, config, h, &hook);
      });
    }
  } else {
    const LinearInputHook hook = [&](const Linear& l, const Matrix& input) { add(l, input); };
    for (size_t i = 0; i < x.size(); ++i) {
      std::fill(seen.begin(), seen.end(), false);
      Matrix h = x.get(i);
      block_forward(block, config, h, 0, nullptr, &hook);
    }
  }
  if (cache) cache->insert(key, {s.collectors, s.group_of});
  return s;
}

GroupInputs capture_group_inputs(const Block& block, const ModelConfig& config, const ActivationStore& x,
                                 const std::vector<ScalableGroup>& groups, uint32_t mask, int64_t total_tokens) {
  std::map<std::string, size_t> first_consumer;
  for (size_t g = 0; g < groups.size(); ++g) first_consumer[groups[g].consumers[0]->name] = g;
  GroupInputs c;
  c.inputs.assign(groups.size(), std::vector<Matrix>(x.size()));
  for (const ScalableGroup& g : groups)
    c.stats.push_back(std::make_unique<StatsCollector>(mask, g.consumers[0]->in_features(), total_tokens));
  size_t seg = 0;
  LinearInputHook hook = [&](const Linear& l, const Matrix& input) {
    auto it = first_consumer.find(l.name);
    if (it == first_consumer.end()) return;
    c.inputs[it->second][seg] = input;
    c.stats[it->second]->add_sequence(input);
  };
  for (seg = 0; seg < x.size(); ++seg) {
    Matrix h = x.get(seg);
    block_forward(block, config, h, 0, nullptr, &hook);
  }
  return c;
}

}  // namespace qlab
