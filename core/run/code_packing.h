// Quantization codes packed to their bit width, as the packed block checkpoint stores them:
// one little-endian bit stream over uint32 words, code i in bits [i·b, i·b + b) of the
// stream (stream bit k is bit k % 32 of word k / 32), the last word zero-padded. A b-bit
// code costs exactly b bits, so 3-, 5-, 6- and 7-bit codes may straddle two words.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qlab {

int64_t packed_words(int64_t n_codes, int32_t bits);  // ceil(n_codes · bits / 32)

// Throws naming `what` when bits is outside 1..8 or a code does not fit in `bits`.
std::vector<uint32_t> pack_codes(const std::vector<uint8_t>& codes, int32_t bits, const std::string& what);

// The n_codes codes back; throws naming `what` when n_words is not packed_words(n_codes, bits).
std::vector<uint8_t> unpack_codes(const uint32_t* words, int64_t n_words, int64_t n_codes, int32_t bits, const std::string& what);

}  // namespace qlab
