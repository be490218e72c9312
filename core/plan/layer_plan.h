// What a run will do to every linear, resolved once from the experiment, the model's names
// and shapes (no weight) and the pipeline's declared needs, before the walk. The walker reads
// it and looks up no policy; `qlab run --dry-run` prints it (plan_print.h) and the log keeps
// the plan the walker executed, printed the same way.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "model/block_layout.h"
#include "qlab/plugin.h"

namespace qlab {

// What the pipeline asks of the walk, from the plugins' descriptors alone.
struct PipelineNeeds {
  uint32_t stats = 0;            // statistics every quantized linear's input is captured with
  uint32_t group_stats = 0;      // statistics the group-scope transforms read
  bool group_transforms = false; // some transform scales groups (AWQ, SmoothQuant)
};

struct LinearPlan {
  std::string id;  // "3.mlp.down_proj"
  int64_t block = 0, out_features = 0, in_features = 0;
  std::optional<qlab_format> format;  // nullopt: kept float
  std::vector<std::string> rules;     // the overrides that matched, "file:line match"
  uint32_t stats = 0;                 // statistics captured for it (0 when skipped)
  int32_t stage = 0;                  // its block's stage (true_sequential: one per input group)
  size_t input_group = 0;
};

struct BlockPlan {
  int64_t index = 0;
  std::vector<std::vector<size_t>> stages;       // input groups per stage; {{}}: one stage, every group
  std::vector<std::vector<std::string>> input_groups;
  std::vector<GroupLayout> offered_groups;       // the scalable groups offered to group-scope transforms
  std::vector<LinearPlan> linears;               // forward order
};

struct LayerPlan {
  std::string run_id;
  ActivationQuant act;               // the activation scheme every linear runs under
  RangeCalibration act_calibration;  // how static ranges are calibrated (act scheme static)
  bool float_propagation = false;    // propagate = "float"
  StoragePrecision activations = StoragePrecision::f32;  // storage of calibration activations
  bool fp16_scales = false;          // [quant] scale_dtype = "f16": scales rounded as checkpoints store them
  uint32_t group_stats = 0;
  std::vector<BlockPlan> blocks;

  const LinearPlan* find(const std::string& id) const;
};

// Throws naming the run when the layout and the source's shapes disagree.
LayerPlan resolve_plan(const RunConfig& run, const ModelConfig& config, const std::vector<LinearShape>& shapes,
                       const PipelineNeeds& needs);

}  // namespace qlab
