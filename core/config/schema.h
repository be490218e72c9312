// The experiment schema: one parsed experiment (a sweep point already set into it) checked
// section by section and turned into a RunConfig. Unknown keys, wrong types and values out
// of range are errors naming the file, the line and the known keys.
#pragma once
#include <string>
#include <toml++/toml.h>

#include "config/experiment.h"

namespace qlab {

RunConfig build_run(const std::string& file, const toml::table& t);

}  // namespace qlab
