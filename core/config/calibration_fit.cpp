#include "config/calibration_fit.h"

#include <fmt/format.h>

#include "data/memory_budget.h"
#include "util/error.h"

namespace qlab {

double calibration_activation_bytes(const RunConfig& run, const ModelConfig& model) {
  const double bytes_per_value = run.activations == StoragePrecision::f32 ? 4.0 : 2.0;
  const double tokens = static_cast<double>(run.calibration.n_segments) * static_cast<double>(run.calibration.seq_len);
  return tokens * (static_cast<double>(model.dim) * bytes_per_value + sizeof(int32_t));
}

void check_calibration_fits(const RunConfig& run, const ModelConfig& model) {
  if (run.calibration.seq_len > model.max_seq_len)
    fail("calibration.seq_len {} is above the context of {} ({} positions)", run.calibration.seq_len, run.model_path,
         model.max_seq_len);
  require_memory(calibration_activation_bytes(run, model), "calibration",
                 fmt::format("{} segments × {} tokens × hidden {} at walker.activations = {}", run.calibration.n_segments,
                             run.calibration.seq_len, model.dim, kStoragePrecisions.name(run.activations)));
}

}  // namespace qlab
