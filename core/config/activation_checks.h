// [quant] act_*: the activation half of the format (W8A8). Settings that would be silently
// ignored or contradict each other are refused.
#pragma once
#include <string>
#include <toml++/toml.h>

namespace qlab {

struct RunConfig;

// Reads act_bits, act_scheme, act_calibrator, act_percentile and act_outlier_threshold of
// [quant] `q` into r.act and r.act_calibration.
void parse_activation_quant(const std::string& file, const toml::table& q, RunConfig& r);

}  // namespace qlab
