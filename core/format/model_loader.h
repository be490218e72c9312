// Loads a model from a path: a Hugging Face model directory (config.json + safetensors)
// or a llama2.c checkpoint file (.bin).
#pragma once
#include <filesystem>

#include <memory>

#include "model/model.h"
#include "model/weight_source.h"

namespace qlab {

Model load_model(const std::filesystem::path& path);
// The same path as a source of one block at a time.
std::unique_ptr<WeightSource> open_weight_source(const std::filesystem::path& path);

}  // namespace qlab
