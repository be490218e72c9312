// Calibration settings that only the model's config can judge: the segment length against
// the model's context, and the calibration activations against available memory. Called
// once the model config is known, before calibration data is sampled.
#pragma once
#include "config/experiment.h"
#include "model/model.h"

namespace qlab {

// Bytes the walker holds for one block's calibration activations: n_segments × seq_len ×
// hidden values, stored at walker.activations precision (f32: 4 bytes, f16/bf16: 2), plus
// the token ids.
double calibration_activation_bytes(const RunConfig& run, const ModelConfig& model);

// Fails "calibration.seq_len 1024 is above the context of MODEL (512 positions)", or when
// calibration_activation_bytes exceeds available memory (both numbers in the message).
void check_calibration_fits(const RunConfig& run, const ModelConfig& model);

}  // namespace qlab
