// A Hugging Face directory's quantization_config (config.json, else quantize_config.json or
// quant_config.json beside it, as vLLM looks): which packed layout its linears use.
#pragma once
#include <filesystem>
#include <optional>

#include "format/hf_config.h"
#include "format/packed_linear_formats.h"

namespace qlab {

// Nothing for a float checkpoint. Throws naming the file for a method or setting qlab cannot
// decode (bitsandbytes, marlin, AWQ GEMV, zero_point false, widths the layouts lack).
std::optional<PackedGrid> read_quantization_config(const HfConfig& config, const std::filesystem::path& dir);

}  // namespace qlab
