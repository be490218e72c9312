// PerplexityOptions for a test: segments of seq_len, at most max_segments (0: all), no
// progress line, the defaults otherwise.
#pragma once
#include <cstdint>

#include "eval/perplexity.h"

namespace qlab::test {

inline PerplexityOptions quiet_options(int64_t seq_len, int64_t max_segments = 0) {
  PerplexityOptions o;
  o.seq_len = seq_len;
  o.max_segments = max_segments;
  o.progress = false;
  return o;
}

}  // namespace qlab::test
