// What the host accepts from a quantize hook: a plugin's outputs are checked before they
// are used, logged or indexed, and a bad one fails the run naming the plugin, the linear and
// the first bad value.
#pragma once
#include <string>

#include "walk/quantized_linear.h"

namespace qlab {

// Every g_idx in 0..n_groups−1 and every code below 2^bits; for a uniform grid (no codebook)
// also dequant == scale·(code − zero) up to float rounding.
void check_quantized_output(const QuantizedLinear& q, const std::string& plugin);

// The storage cost a plugin reported: 0 means the host computes it (plugin.h), anything else
// must lie in (0, 32].
double checked_bits_per_weight(double reported, double host_formula, const std::string& plugin, const std::string& linear);

// A metric name safe as an HDF5 column name: '/' (a path separator to HDF5) becomes '_' and
// control characters become '?', so a name can never make the log write fail mid-block.
std::string sanitized_metric_name(const char* name);

}  // namespace qlab
