// The model-scope hook (qlab_plugin.transform_model, ABI 3): called once before a run's walk
// with the architecture's description; the rotation it returns is checked orthogonal and,
// with the online transforms it asks for, becomes the source the run walks and evaluates
// (model/rotated_source.h).
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "model/residual_rotation.h"
#include "model/weight_source.h"
#include "walk/pipeline.h"

namespace qlab {

struct ModelTransform {
  std::string plugin;
  Matrix rotation;                // dim × dim orthogonal; identity when the plugin wrote none
  OnlineHadamards online;
  std::map<std::string, double> metrics;  // "<plugin>.<metric>"
};

// The pipeline's model transform applied to `source`'s description, or nothing when the
// pipeline has none. Fails naming the plugin for a rotation that is not orthogonal or an
// unknown online transform, and for a family that cannot be rotated.
std::optional<ModelTransform> run_model_transform(Pipeline& pipeline, const WeightSource& source);

// The source a run with `transform` walks: `source` read through its rotation.
std::unique_ptr<WeightSource> transformed_source(const WeightSource& source, const ModelTransform& transform);

}  // namespace qlab
