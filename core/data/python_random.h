// Python's `random` module, bit for bit: MT19937 seeded as random.seed(int) does
// (init_by_array over the 32-bit words of the integer's absolute value, so seed(-1) is
// seed(1)), getrandbits, and randint through
// _randbelow's rejection sampling. GPTQ draws its calibration windows with it, so the same
// seed picks the same documents and offsets as the reference scripts.
#pragma once
#include <array>
#include <cstdint>

namespace qlab {

class PythonRandom {
 public:
  explicit PythonRandom(int64_t seed) { seed_with(seed); }
  void seed_with(int64_t seed);
  uint32_t next_u32();
  uint64_t getrandbits(int k);          // 0 < k <= 64
  int64_t randbelow(int64_t n);         // uniform in [0, n), n > 0
  int64_t randint(int64_t a, int64_t b);  // uniform in [a, b]; throws if b < a, as Python does
  double random();                        // random.random(): 53 bits in [0, 1)

 private:
  std::array<uint32_t, 624> mt_{};
  int index_ = 625;
};

}  // namespace qlab
