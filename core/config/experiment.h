// Experiment files: one TOML file describes the model, calibration, evaluation, the
// quantization format, the pipeline of plugins and per-layer overrides, and optionally a
// [sweep] over any of them. Everything is validated here, before a weight is loaded:
// unknown keys are errors naming the file, the line and the known keys.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "data/calibration.h"
#include "forward/activation_quant.h"
#include "plugin_host/params.h"
#include "qlab/plugin.h"
#include "walk/activation_range.h"

namespace qlab {

struct PipelineEntry {
  std::string plugin;
  std::map<std::string, ParamValue> params;
  std::string where;  // "file:line"
};

struct OverrideRule {
  std::string match;  // glob over linear ids: "*.mlp.down_proj", "lm_head"
  std::optional<bool> skip, sym;
  std::optional<int32_t> bits, group_size;
  std::string where;
};

struct RunConfig {
  std::string run_id;                              // "r0000", in sweep expansion order
  std::vector<std::pair<std::string, std::string>> sweep_point;  // axis → value (TOML text)
  std::string model_path, tokenizer_path;
  CalibrationSpec calibration;
  std::vector<std::string> eval_data;
  int64_t eval_seq_len = 2048, eval_max_segments = 0;
  qlab_format format{4, 0, 0, QLAB_RANGE_GPTQ};
  ActivationQuant act;               // activation fake-quantization (W8A8); off = weight-only
  RangeCalibration act_calibration;  // how static ranges are calibrated
  std::string propagate = "quantized";             // or "float" (AWQ's reference)
  std::string activations = "f32";                 // f32 | f16 | bf16 storage of calibration activations
  bool true_sequential = false;
  std::vector<PipelineEntry> pipeline;
  std::vector<OverrideRule> overrides;
};

struct Experiment {
  std::string name, path, config_text;  // config_text: the file verbatim (with --set lines appended)
  std::string sweep_mode;               // "", "grid" or "zip"
  std::vector<RunConfig> runs;          // in expansion order (a shard keeps some of them)
  size_t grid_points = 0;               // runs in the whole grid
  std::vector<std::string> model_paths; // distinct model.path values in grid order (a shard's logs name them alike)
};

// Reads and validates `path`, applies `--set key=value` overrides, expands the sweep.
Experiment load_experiment(const std::string& path, const std::vector<std::string>& sets = {});

// A `--set key=value` value as a plugin parameter: TOML syntax (4, 0.01, true, "mse"), or a
// bare string when it does not parse.
ParamValue parse_set_value(const std::string& text, const std::string& where);

// The format a linear gets after the overrides that match it; nullopt = skipped.
std::optional<qlab_format> format_for(const RunConfig& run, const std::string& linear_id);
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace qlab
