// Integer options checked before CLI11 converts them, so that a bad value reads
// "--seqlen: must be a whole number >= 2, got '0'" (exit 1 in main) instead of CLI11's
// floating-point range text.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>

namespace qlab::cli {

constexpr int64_t kMaxThreads = 4096;  // beyond any machine; guards against a typo spawning millions

CLI::Validator whole_number_in(int64_t min, int64_t max);
CLI::Validator whole_number_at_least(int64_t min);

}  // namespace qlab::cli
