#include "util/error.h"

#include <cmath>

namespace qlab {

long long first_non_finite(const float* data, long long n) {
  for (long long i = 0; i < n; ++i)
    if (!std::isfinite(data[i])) return i;
  return -1;
}

}  // namespace qlab
