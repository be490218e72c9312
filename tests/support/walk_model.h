// A whole model through the walker the way the runner drives it, in memory: the plan
// resolved from `run`, blocks read from an InMemorySource, each finished block's result
// handed to `on_block`; returns the quantized model.
#pragma once
#include <functional>
#include <vector>

#include "model/weight_source.h"
#include "plan/layer_plan.h"
#include "walk/layer_walker.h"
#include "walk/pipeline.h"

namespace qlab::test {

inline Model walk_model(const Model& float_model, const std::vector<std::vector<int32_t>>& calibration, Pipeline& pipeline,
                        const RunConfig& run, ActivationPlan& act, const std::function<void(const BlockResult&)>& on_block = {}) {
  InMemorySource source(float_model);
  const LayerPlan plan = resolve_plan(run, source.config(), source.linears(), pipeline.needs());
  Model model = source.load_model();  // the walked blocks replace the float ones
  CallbackSink sink([&](const BlockResult& r, const Block& block, const ActivationPlan&) {
    model.blocks.at(static_cast<size_t>(r.block)) = block;
    if (on_block) on_block(r);
  });
  walk_layers(source, plan, calibration, pipeline, act, sink, false);
  return model;
}

}  // namespace qlab::test
