// A weight source read through a residual-stream rotation (model/residual_rotation.h): each
// block is folded and rotated as it is loaded, with QuaRot's online Hadamards (before
// down_proj, on the value/output path, on q and k) as asked; the final norm is folded into lm_head's rows and the vocabulary rows leave
// rotated. Nothing is held beyond what the inner source holds: a streamed 70B model stays
// streamed. What a run with a model-scope transform (the rotate plugin) walks and evaluates.
#pragma once
#include <cstdint>

#include "model/residual_rotation.h"
#include "model/weight_source.h"

namespace qlab {

class RotatedSource : public WeightSource {
 public:
  // q: dim × dim orthogonal, applied fast when it is a randomized Hadamard drawn from
  // online.seed (model/stream_rotation.h). Fails unless the family is rotatable (check_rotatable).
  RotatedSource(const WeightSource& inner, Matrix q, const OnlineHadamards& online);

  const ModelConfig& config() const override { return inner_.config(); }
  const std::string& path() const override { return inner_.path(); }
  std::vector<LinearShape> linears() const override { return inner_.linears(); }
  Block load_block(int64_t i) const override;
  Model load_outer() const override;
  Matrix vocab_rows(VocabTable table, std::span<const int32_t> ids) const override;

 private:
  const WeightSource& inner_;
  StreamRotation q_;
  OnlineHadamards online_;
  Vector final_norm_;  // folded into lm_head's rows (empty: the model has none)
};

}  // namespace qlab
