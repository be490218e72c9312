// A run's pipeline: its transform plugins in order, then exactly one quantizer, each with its
// parameters resolved against the plugin's declaration. Validation needs only the registry,
// so it runs before any weight is loaded.
#pragma once
#include <memory>
#include <vector>

#include "config/experiment.h"
#include "plan/layer_plan.h"
#include "plugin_host/plugin_instance.h"

namespace qlab {

struct Pipeline {
  std::vector<std::unique_ptr<PluginInstance>> transforms;
  std::unique_ptr<PluginInstance> quantizer;
  uint32_t stats_mask = 0;  // union of what the plugins declared

  PipelineNeeds needs() const;
};

// Throws for an unknown plugin or parameter, a bad value, a pipeline not shaped
// transforms… → quantizer, or a format (from [quant] or an [[override]]) a plugin does not
// support (qlab_support), naming the file, the plugin and what it supports.
void validate_pipeline(const RunConfig& run, const PluginRegistry& registry);
// "awq(n_grid=20, duo_scaling=false) → rtn(search=none, …)": every parameter, defaults resolved.
std::string describe_pipeline(const RunConfig& run, const PluginRegistry& registry);
// What the run's plugins declare they need from the walk, without creating them.
PipelineNeeds pipeline_needs(const RunConfig& run, const PluginRegistry& registry);
Pipeline build_pipeline(const RunConfig& run, const PluginRegistry& registry);

}  // namespace qlab
