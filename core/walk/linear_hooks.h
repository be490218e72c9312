// Calling a plugin on one linear: the host side of the transform (SCOPE_LINEAR) and quantize
// hooks. Buffers are allocated here from the shapes (g_idx prefilled with the contiguous
// grouping), per-linear files served (plugin_host/linear_tensor_service.h), results checked (finite weights; for
// quantize also indices, grid consistency and the reported bits, quantize_output_checks.h)
// and the plugin's metrics named "<plugin>.<metric>". Shared by the walker and `qlab layer`.
#pragma once
#include <map>
#include <string>

#include "model/model.h"
#include "plugin_host/plugin_instance.h"
#include "walk/quantized_linear.h"

namespace qlab {

// Copies a hook's metrics into `into` as "<plugin>.<metric>"; more than QLAB_MAX_METRICS is an error.
void take_metrics(const PluginInstance& plugin, const qlab_metric* metrics, int32_t n, std::map<std::string, double>& into);
// A transform's metrics, and <plugin>.fallback_unscaled = 1 when it declined on purpose.
void take_metrics(const PluginInstance& plugin, const qlab_transform_out& out, std::map<std::string, double>& into);

// Runs a linear-scope transform; replaces l.weight when the plugin edited it. Returns
// whether it did.
bool transform_linear(Linear& l, int block, const qlab_format& format, PluginInstance& plugin, const qlab_stats& stats,
                      std::map<std::string, double>& metrics);

// fp16_scales: a uniform grid's scales are rounded to fp16, as GPTQ/AWQ/GGUF checkpoints
// store them, and the weight is rebuilt from them, so the run evaluates what it exports.
// la: the linear-algebra table the plugin gets (linalg_for(device): its gptq_solve runs on
// the run's device); null = cpu_linalg().
QuantizedLinear quantize_linear(const Linear& l, int block, const qlab_format& format, PluginInstance& quantizer,
                                const qlab_stats& stats, bool fp16_scales = false, const qlab_linalg* la = nullptr);

}  // namespace qlab
