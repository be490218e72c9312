// THE loop. For each block b, read in float32 from the weight source, with the calibration
// activations X_b in memory:
//   capture    run block b on X_b, streaming the inputs' declared statistics (and Σ x xᵀ,
//              which the host's error measure needs); for group-scope transforms, the
//              scalable groups' inputs (walk/capture.h)
//   transform  transform plugins, in pipeline order: group scope first (AWQ, SmoothQuant:
//              walk/group_transforms.h), then per stage linear scope (clip)
//   quantize   the quantizer turns each planned linear into a QuantizedLinear; the block's
//              weights become the dequantized ones
//   measure    per-linear rel_output_error and weight_mse, per-block output error, timings
//   propagate  X_{b+1} = quantized block(X_b), or the float block's output with
//              propagate = "float" (AWQ's reference)
//   sink       the finished block, its QuantizedLinears and rows go to a BlockSink
// What each linear gets is read from the LayerPlan; the walker looks up no policy.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/weight_source.h"
#include "plan/layer_plan.h"
#include "walk/block_sink.h"
#include "walk/pipeline.h"

namespace qlab {

class StatsCache;

// A resumed run's finished blocks [0, count): block(b, act) returns block b as an earlier
// process walked it and adds its static ranges to `act`.
struct FinishedBlocks {
  int64_t count = 0;
  std::function<Block(int64_t b, ActivationPlan& act)> block;
};

// Quantizes the source's blocks from finished.count on, handing each walked block to the
// sink and keeping none: memory holds the block being walked, not the model. The outputs of
// the finished blocks are recomputed to reach X_start. `act` holds the run's activation
// scheme; static ranges calibrated by the walk are added to it. The calibration activations
// are stored in plan.activations' precision within `memory_bytes` (0: the machine's default
// budget), beyond it in a spill file under `spill_dir`. `cache`, when given, shares captured
// statistics across a sweep. Returns the plan as executed: header and the blocks walked
// (earlier ones left out).
struct WalkMemory {
  uint64_t memory_bytes = 0;
  std::string spill_dir;
  // --device: capture and propagation run there, the calibration activations that fit
  // max_device_memory (0 = 90% of its free memory) resident; null = the host's kernels.
  Backend* device = nullptr;
  uint64_t max_device_memory = 0;
  int64_t* device_resident_segments = nullptr;  // out, when given: calibration segments kept on the device
};
LayerPlan walk_layers(const WeightSource& source, const LayerPlan& plan, const std::vector<std::vector<int32_t>>& calibration,
                      Pipeline& pipeline, ActivationPlan& act, BlockSink& sink, bool show_progress = true,
                      StatsCache* cache = nullptr, const FinishedBlocks& finished = {}, const WalkMemory& memory = {});

}  // namespace qlab
