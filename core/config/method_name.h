// The name published tables use for what a run does ("rtn", "gptq", "gptq-r", "awq",
// "smoothquant", "squeezellm", "nf4"), so `qlab report --against` can find the published
// row. The plugins declare it (qlab_plugin.naming and method_name): a silent step (AWQ's
// clip search) leaves the name as it is; a transform before the baseline quantizer (rtn)
// names the method; any other pipeline is its steps' methods joined with "+".
#pragma once
#include <string>

#include "config/experiment.h"
#include "plugin_host/plugin_loader.h"

namespace qlab {

std::string method_name(const RunConfig& run, const PluginRegistry& registry);

}  // namespace qlab
