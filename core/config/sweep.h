// Sweeps and --set: a dotted path ("quant.bits", "pipeline.gptq.damp_frac",
// "pipeline.0.alpha") set into the parsed experiment, and [sweep] axes of values expanded as
// a grid (Cartesian product, last axis fastest) or zipped. Each point is set into the parsed
// tree in place, so every other node keeps its line for error messages.
#pragma once
#include <string>
#include <toml++/toml.h>
#include <utility>
#include <vector>

#include "config/experiment.h"

namespace qlab {

// A --set or sweep value: TOML syntax when it parses, else a bare string; under key "v".
toml::table parse_value(const std::string& text);

// Sets a dotted path in `root` (`where` names the --set option or sweep axis in errors).
void set_path(toml::table& root, const std::string& dotted, const toml::node& value, const std::string& where);

struct Sweep {
  SweepMode mode = SweepMode::none;
  std::vector<std::pair<std::string, toml::array>> axes;  // in the file's order
  size_t n_points = 1;                                    // 1 without a [sweep]

  // Reads [sweep] of `root` (experiment file `path`) and removes it from `root`.
  static Sweep read(const std::string& path, toml::table& root);
  // Sets point `point`'s values into `root`, in the file's axis order (so a whole-pipeline axis
  // comes before the parameters set in it); returns them as text.
  SweepPoint set_point(const std::string& path, size_t point, toml::table& root) const;
};

}  // namespace qlab
