// The plan as text: every linear of the first block, then the rest summarised (formats
// counted, kept-float linears, whatever differs from block 0). `qlab run --dry-run` prints
// it, and the log keeps the executed plan in the same words, so the two compare as strings.
#pragma once
#include <string>

#include "plan/layer_plan.h"

namespace qlab {

std::string format_name(const qlab_format& f);  // "W4 g128 asym gptq-range"
std::string plan_text(const LayerPlan& plan);

}  // namespace qlab
