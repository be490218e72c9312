// THE loop. For each block b, with the calibration activations X_b in memory:
//   capture    run block b on X_b, streaming each input's declared statistics (and Σ x xᵀ,
//              which the host's error measure needs)
//   transform  transform plugins, in pipeline order (clip edits one linear's weights)
//   quantize   the quantizer turns each linear into a QuantizedLinear; the block's weights
//              become the dequantized ones
//   measure    per-linear rel_output_error and weight_mse, per-block output error, timings
//   propagate  X_{b+1} = quantized block(X_b), or the float block's output with
//              propagate = "float" (AWQ's reference)
// Rows go to the caller after every block; nothing else leaves the walker.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "log/experiment_log.h"
#include "model/model.h"
#include "walk/pipeline.h"
#include "walk/quantized_linear.h"

namespace qlab {

struct BlockResult {
  int block = 0;
  std::vector<LinearRow> linears;
  BlockRow row;
  std::vector<QuantizedLinear> quantized;
};

// Called after each block with its results; the model already holds the block's new weights.
using BlockDone = std::function<void(const BlockResult&)>;

// Quantizes `model` in place from block `start_block` on. `float_model` is the untouched
// original; blocks before start_block in `model` must already hold their quantized weights
// (a resumed run restores them, and their static ranges into `act`), and their outputs are
// recomputed to reach X_start. `act` holds the run's activation scheme; static ranges
// calibrated by the walk are added to it.
// `cache`, when given, shares captured statistics across the runs of a sweep.
class StatsCache;
void walk_layers(Model& model, const Model& float_model, const std::vector<std::vector<int32_t>>& calibration,
                 Pipeline& pipeline, const RunConfig& run, ActivationPlan& act, int64_t start_block, const BlockDone& on_block,
                 bool show_progress = true, StatsCache* cache = nullptr);

}  // namespace qlab
