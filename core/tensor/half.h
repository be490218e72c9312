// bf16/fp16 ↔ f32, used only at load and export. Decoding is the plugin SDK's (qlab/half.hpp).
#pragma once
#include <cstdint>

#include "qlab/half.hpp"
#include "util/name_table.h"

namespace qlab {

// How float values are held: float32, or fp16/bf16 to halve the memory.
enum class StoragePrecision { f32, f16, bf16 };
inline constexpr NameTable<StoragePrecision, 3> kStoragePrecisions{
    {{{StoragePrecision::f32, "f32"}, {StoragePrecision::f16, "f16"}, {StoragePrecision::bf16, "bf16"}}}};

uint16_t f32_to_f16(float f);   // round to nearest even
uint16_t f32_to_bf16(float f);  // round to nearest even

}  // namespace qlab
