// Loads a model from a path: a Hugging Face model directory (config.json + safetensors)
// or a llama2.c checkpoint file (.bin).
#pragma once
#include <filesystem>

#include "model/model.h"

namespace qlab {

Model load_model(const std::filesystem::path& path);

}  // namespace qlab
