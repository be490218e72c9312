#include "data/python_random.h"

#include <bit>
#include <vector>

#include "util/error.h"

namespace qlab {

void PythonRandom::seed_with(int64_t seed) {
  // random.seed(n): key = the 32-bit words of |n|, least significant first ([0] for 0).
  // |n| is taken in unsigned arithmetic so that |INT64_MIN| = 2^63 does not overflow.
  const uint64_t magnitude = seed < 0 ? 0 - static_cast<uint64_t>(seed) : static_cast<uint64_t>(seed);
  std::vector<uint32_t> key;
  for (uint64_t n = magnitude; n > 0; n >>= 32) key.push_back(static_cast<uint32_t>(n & 0xffffffffu));
  if (key.empty()) key.push_back(0);
  // init_genrand(19650218) then init_by_array(key), as in CPython's _randommodule.c.
  mt_[0] = 19650218u;
  for (int i = 1; i < 624; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  int i = 1;
  size_t j = 0;
  for (size_t k = std::max<size_t>(624, key.size()); k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= 624) {
      mt_[0] = mt_[623];
      i = 1;
    }
    if (j >= key.size()) j = 0;
  }
  for (int k = 623; k > 0; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= 624) {
      mt_[0] = mt_[623];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;
  index_ = 624;
}

uint32_t PythonRandom::next_u32() {
  if (index_ >= 624) {
    for (int k = 0; k < 624; ++k) {
      uint32_t y = (mt_[k] & 0x80000000u) | (mt_[(k + 1) % 624] & 0x7fffffffu);
      mt_[k] = mt_[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    index_ = 0;
  }
  uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint64_t PythonRandom::getrandbits(int k) {
  if (k <= 0 || k > 64) fail("getrandbits({}) is outside 1..64", k);
  if (k <= 32) return next_u32() >> (32 - k);
  // Several words, least significant first; the last one keeps only its top bits.
  uint64_t low = next_u32();
  uint64_t high = next_u32() >> (64 - k);
  return low | (high << 32);
}

int64_t PythonRandom::randbelow(int64_t n) {
  if (n <= 0) fail("randbelow({}): empty range", n);
  const int k = std::bit_width(static_cast<uint64_t>(n));
  uint64_t r = getrandbits(k);
  while (r >= static_cast<uint64_t>(n)) r = getrandbits(k);
  return static_cast<int64_t>(r);
}

int64_t PythonRandom::randint(int64_t a, int64_t b) {
  if (b < a) fail("empty range for randint({}, {})", a, b);
  return a + randbelow(b - a + 1);
}

double PythonRandom::random() {
  const uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

}  // namespace qlab
