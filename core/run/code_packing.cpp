#include "run/code_packing.h"

#include "util/error.h"

namespace qlab {

namespace {
void check_bits(int32_t bits, const std::string& what) {
  if (bits < 1 || bits > 8) fail("{}: cannot pack {}-bit codes (1..8 bits)", what, bits);
}
}  // namespace

int64_t packed_words(int64_t n_codes, int32_t bits) { return (n_codes * bits + 31) / 32; }

std::vector<uint32_t> pack_codes(const std::vector<uint8_t>& codes, int32_t bits, const std::string& what) {
  check_bits(bits, what);
  const int64_t n = static_cast<int64_t>(codes.size());
  std::vector<uint32_t> words(static_cast<size_t>(packed_words(n, bits)), 0u);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t code = codes[static_cast<size_t>(i)];
    if (code >> bits) fail("{}: code {} at flat index {} does not fit in {} bits", what, code, i, bits);
    const int64_t bit = i * bits;
    const size_t w = static_cast<size_t>(bit / 32);
    const int shift = static_cast<int>(bit % 32);
    words[w] |= code << shift;
    if (shift + bits > 32) words[w + 1] |= code >> (32 - shift);  // the part that straddles
  }
  return words;
}

std::vector<uint8_t> unpack_codes(const uint32_t* words, int64_t n_words, int64_t n_codes, int32_t bits, const std::string& what) {
  check_bits(bits, what);
  if (n_words != packed_words(n_codes, bits))
    fail("{}: {} packed words, expected {} for {} codes of {} bits", what, n_words, packed_words(n_codes, bits), n_codes, bits);
  const uint32_t mask = (1u << bits) - 1u;
  std::vector<uint8_t> codes(static_cast<size_t>(n_codes));
  for (int64_t i = 0; i < n_codes; ++i) {
    const int64_t bit = i * bits;
    const size_t w = static_cast<size_t>(bit / 32);
    const int shift = static_cast<int>(bit % 32);
    uint32_t code = words[w] >> shift;
    if (shift + bits > 32) code |= words[w + 1] << (32 - shift);
    codes[static_cast<size_t>(i)] = static_cast<uint8_t>(code & mask);
  }
  return codes;
}

}  // namespace qlab
