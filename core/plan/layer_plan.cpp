#include "plan/layer_plan.h"

#include <map>

#include "util/error.h"

namespace qlab {

const LinearPlan* LayerPlan::find(const std::string& id) const {
  for (const BlockPlan& b : blocks)
    for (const LinearPlan& l : b.linears)
      if (l.id == id) return &l;
  return nullptr;
}

namespace {

LinearPlan plan_linear(const RunConfig& run, const LinearShape& shape, int64_t block, size_t input_group, const PipelineNeeds& needs) {
  LinearPlan l;
  l.id = shape.name;
  l.block = block;
  l.out_features = shape.out_features;
  l.in_features = shape.in_features;
  l.format = format_for(run, shape.name);
  for (const OverrideRule& o : run.overrides)
    if (glob_match(o.match, shape.name)) l.rules.push_back(fmt::format("{} {}", o.where, o.match));
  l.stats = l.format ? needs.stats | QLAB_STAT_HESSIAN : 0;  // the host's error measure needs Σ x xᵀ
  l.stage = run.true_sequential ? static_cast<int32_t>(input_group) : 0;
  l.input_group = input_group;
  return l;
}

}  // namespace

LayerPlan resolve_plan(const RunConfig& run, const ModelConfig& config, const std::vector<LinearShape>& shapes,
                       const PipelineNeeds& needs) {
  std::map<std::string, const LinearShape*> by_name;
  for (const LinearShape& s : shapes) by_name[s.name] = &s;
  LayerPlan plan;
  plan.run_id = run.run_id;
  plan.act = run.act;
  plan.act_calibration = run.act_calibration;
  plan.float_propagation = run.propagate == Propagation::float_reference;
  plan.activations = run.activations;
  plan.fp16_scales = run.fp16_scales;
  plan.group_stats = needs.group_transforms ? needs.group_stats : 0;
  for (int64_t b = 0; b < config.n_layers; ++b) {
    const BlockLayout layout = block_layout(config, b);
    BlockPlan bp;
    bp.index = b;
    bp.input_groups = layout.input_groups;
    if (run.true_sequential)
      for (size_t g = 0; g < layout.input_groups.size(); ++g) bp.stages.push_back({g});
    else
      bp.stages.push_back({});
    for (size_t g = 0; g < layout.input_groups.size(); ++g)
      for (const std::string& name : layout.input_groups[g]) {
        auto it = by_name.find(name);
        if (it == by_name.end())
          fail("{}: run {}: the model has no linear {} that its architecture's block {} lists", run.model_path, run.run_id, name, b);
        bp.linears.push_back(plan_linear(run, *it->second, b, g, needs));
      }
    if (needs.group_transforms)
      for (const GroupLayout& g : layout.scalable_groups)
        if (format_for(run, g.consumers[0])) bp.offered_groups.push_back(g);  // a kept-float group is not scaled
    plan.blocks.push_back(std::move(bp));
  }
  return plan;
}

}  // namespace qlab
