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

#include "config/override_policy.h"
#include "data/calibration.h"
#include "forward/activation_quant.h"
#include "plugin_host/params.h"
#include "qlab/plugin.h"
#include "tensor/half.h"
#include "util/name_table.h"
#include "util/sweep_point.h"
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

// What the walker feeds the next block: the quantized block's output, or the float block's
// (AWQ's reference).
enum class Propagation { quantized, float_reference };
inline constexpr NameTable<Propagation, 2> kPropagations{{{{Propagation::quantized, "quantized"}, {Propagation::float_reference, "float"}}}};

// How a [sweep] combines its axes: every combination (grid) or the i-th values together (zip).
enum class SweepMode { none, grid, zip };
inline constexpr NameTable<SweepMode, 2> kSweepModes{{{{SweepMode::grid, "grid"}, {SweepMode::zip, "zip"}}}};

// [export]: which done runs are written as which checkpoints (export/export_run.h), into
// `dir` (default: LOG.exports/ beside the log) as <run>-<format>[.gguf], then evaluated back
// with the run's evaluation data and [eval] tasks.
struct ExportSpec {
  std::vector<std::string> runs;     // run ids; empty = every run
  std::vector<std::string> formats;  // gptq, awq, gguf; empty = no export
  std::string dir;
  std::string float_dtype;           // "", f16, f32: the tensors that are not quantized ("": f16 for gptq/awq, f32 for gguf)
  std::string checkpoint_format;     // gptq: "", gptq, gptq_v2
  std::string requantize;            // gguf: "", q4_0, q4_1, q8_0
};

// [eval] tasks …: zero-shot tasks scored as lm-evaluation-harness does (zeroshot/zeroshot_eval.h),
// for the float model and every run.
struct TaskSpec {
  std::vector<std::string> names;  // empty = none
  std::string data_dir;            // "" = the bundled datasets/zeroshot
  std::string harness = "v0.4";
  int64_t limit = 0, max_length = 0;
  std::string overlong = "fail";   // fail, keep-tail (zeroshot/request_tokens.h)
};

// [allocate]: budgeted mixed precision (run/allocation_pass.h). One format per linear from
// `menu`, chosen to minimise the summed sensitivity within an average of target_bits code
// bits per weight (scales not counted, as papers state averages).
struct AllocationSpec {
  double target_bits = 0;
  std::vector<qlab_format> menu;             // bits, group_size, sym; range from [quant]
  std::string sensitivity = "output_error";  // output_error (measured) or hessian_trace (HAWQ's proxy)
};

struct RunConfig {
  std::string run_id;                              // "r0000", in sweep expansion order
  SweepPoint sweep_point;                          // axis → value (TOML text)
  std::string model_path, tokenizer_path;
  CalibrationSpec calibration;
  std::vector<std::string> eval_data;
  int64_t eval_seq_len = 2048, eval_max_segments = 0;
  TaskSpec tasks;
  qlab_format format{4, 0, 0, QLAB_RANGE_GPTQ};
  bool fp16_scales = false;  // [quant] scale_dtype = "f16": a uniform grid's scales rounded to fp16 (as exported)
  ActivationQuant act;               // activation fake-quantization (W8A8); off = weight-only
  RangeCalibration act_calibration;  // how static ranges are calibrated
  Propagation propagate = Propagation::quantized;
  StoragePrecision activations = StoragePrecision::f32;  // storage of calibration activations
  bool true_sequential = false;
  std::vector<PipelineEntry> pipeline;
  std::vector<OverrideRule> overrides;
  std::optional<AllocationSpec> allocate;
  ExportSpec exports;
};

struct Experiment {
  std::string name, path, config_text;  // config_text: the file verbatim (with --set lines appended)
  std::string settings_toml;  // the file's settings after --set, as TOML (comments dropped): what derived experiment files start from
  SweepMode sweep_mode = SweepMode::none;
  std::vector<RunConfig> runs;          // in expansion order (a shard keeps some of them)
  size_t grid_points = 0;               // runs in the whole grid
  std::vector<std::string> model_paths; // distinct model.path values in grid order (a shard's logs name them alike)
};

// Reads and validates `path`, applies `--set key=value` overrides, expands the sweep.
Experiment load_experiment(const std::string& path, const std::vector<std::string>& sets = {});

// A `--set key=value` value as a plugin parameter: TOML syntax (4, 0.01, true, "mse"), or a
// bare string when it does not parse.
ParamValue parse_set_value(const std::string& text, const std::string& where);

}  // namespace qlab
