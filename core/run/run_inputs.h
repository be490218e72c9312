// What an experiment reads besides its text: model files, tokenizer, calibration and
// evaluation data, the plugin libraries of its pipelines, and the thread count (results are
// bit-identical only for one thread count). The log stores their fingerprints so a resume
// refuses to mix two setups, and `--out` may name none of them.
#pragma once
#include <string>

#include "config/experiment.h"
#include "log/experiment_log.h"
#include "plugin_host/plugin_loader.h"

namespace qlab {

RunInputs collect_run_inputs(const Experiment& experiment, const PluginRegistry& registry, int threads);

// Fails when `log_path` is the experiment file or one of the files the runs read.
void refuse_output_among_inputs(const std::string& log_path, const Experiment& experiment, const PluginRegistry& registry);

}  // namespace qlab
