// The name published tables use for what a run does ("rtn", "gptq", "gptq-r", "awq",
// "smoothquant", "squeezellm", "nf4"), derived from its pipeline, so `qlab report --against`
// can find the published row. Clip searches do not change the name (AWQ's own pipeline
// includes one); an unrecognised pipeline is named by its plugins joined with "+".
#pragma once
#include <string>

#include "config/experiment.h"

namespace qlab {

std::string method_name(const RunConfig& run);

}  // namespace qlab
