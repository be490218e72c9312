// config.json's rope_scaling, read into ModelConfig::rope_scaling: "linear", "dynamic" and
// "llama3" (rope_type, or the older key "type"); "default" or null means none. Any other
// type is refused naming config.json and the type.
#pragma once
#include "format/hf_config.h"
#include "model/model.h"

namespace qlab {

RopeScaling read_rope_scaling(const HfConfig& config, int64_t max_position_embeddings);

}  // namespace qlab
