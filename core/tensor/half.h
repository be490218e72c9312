// bf16/fp16 ↔ f32, used only at load and export.
#pragma once
#include <cstdint>
#include <cstring>

namespace qlab {

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);   // round to nearest even
uint16_t f32_to_bf16(float f);  // round to nearest even

}  // namespace qlab
