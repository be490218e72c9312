// bf16/fp16 ↔ f32, used only at load and export. Decoding is the plugin SDK's (qlab/half.hpp).
#pragma once
#include <cstdint>

#include "qlab/half.hpp"

namespace qlab {

uint16_t f32_to_f16(float f);   // round to nearest even
uint16_t f32_to_bf16(float f);  // round to nearest even

}  // namespace qlab
