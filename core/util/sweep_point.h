// One point of a sweep: (axis, value as TOML text) in the file's axis order, and the one way
// it is written as text ("quant.bits=4 quant.group_size=32"): in tables, progress and errors.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace qlab {

using SweepPoint = std::vector<std::pair<std::string, std::string>>;

std::string setting_text(const SweepPoint& point);

}  // namespace qlab
