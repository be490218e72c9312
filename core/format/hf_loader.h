// Hugging Face model directories: config.json + model.safetensors (or an index and
// shards), F32/F16/BF16 converted to float32, read through HfSource (format/hf_source.h):
// the architecture row is picked from config.json's `architectures` (or `model_type`).
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/model.h"

namespace qlab {

Model load_hf_model(const std::filesystem::path& dir);

// config.json of a LLaMA-family model (no torch_dtype); rope_scaling is not written.
nlohmann::json llama_config_json(const ModelConfig& config, bool tied);

// Writes a LLaMA-family model as a Hugging Face directory (config.json, model.safetensors,
// F32). q/k rows are already in the rotate-half layout Hugging Face expects.
void write_hf_llama(const Model& model, const std::filesystem::path& dir);

}  // namespace qlab
