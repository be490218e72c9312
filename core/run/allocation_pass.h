// The first pass of a run with [allocate] (budgeted mixed precision): the run's pipeline walks
// the model once per menu format, every linear is scored in every format, and the solver
// (plan/bit_allocation.h) picks one format per linear within the budget. The choice becomes
// per-linear [[override]] rules, which the run then walks with like any others, and an
// experiment file that reruns exactly that allocation.
//
// Sensitivities: output_error, the relative output error each linear's quantized weight
// leaves on the calibration inputs (measured: one full walk per format); hessian_trace,
// HAWQ's proxy tr(H)·‖ΔW‖² from the same walks (cheaper variants would skip the walks'
// propagation; here both cost |menu| walks).
#pragma once
#include <string>
#include <vector>

#include "config/experiment.h"
#include "model/weight_source.h"
#include "plan/bit_allocation.h"
#include "plugin_host/plugin_loader.h"
#include "walk/layer_walker.h"

namespace qlab {

struct AllocationResult {
  std::vector<OverrideRule> overrides;  // one per allocated linear, exact ids
  BitAllocation allocation;
  std::vector<std::string> linears;     // the allocation's order
  std::vector<std::string> formats;     // the chosen format of each, "w3g128"
  std::string experiment_toml;          // the experiment with these overrides and without [allocate]/[sweep]
};

AllocationResult run_allocation(const RunConfig& run, const std::string& settings_toml, const WeightSource& source,
                                const std::vector<std::vector<int32_t>>& calibration, const PluginRegistry& registry,
                                bool progress, const WalkMemory& memory);

std::string format_label(const qlab_format& f);  // "w3g128", "w4" (per channel), "w4g128s" (symmetric)

}  // namespace qlab
