// The walker's transform stage for group-scope plugins (AWQ, SmoothQuant): each scalable
// group the plan offers gets a scale searched on the group's captured inputs, folded into
// the block and into `reference` (the float weights the host measures quantization error
// against; null when the plan offers no group, so nothing can be folded).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "plan/layer_plan.h"
#include "tensor/activation_store.h"
#include "walk/pipeline.h"

namespace qlab {

using LinearMetrics = std::map<std::string, std::map<std::string, double>>;  // linear id → "<plugin>.<metric>" → value

// Returns the groups offered, in the order offered (the executed plan records them).
std::vector<GroupLayout> transform_groups(Block& block, Block* reference, const ModelConfig& config, const BlockPlan& plan,
                                          uint32_t group_stats, const ActivationStore& x, Pipeline& pipeline, int64_t total_tokens,
                                          LinearMetrics& metrics);

}  // namespace qlab
