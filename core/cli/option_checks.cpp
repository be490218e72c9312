#include "cli/option_checks.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>

namespace qlab::cli {

CLI::Validator whole_number_in(int64_t min, int64_t max) {
  const bool unbounded = max == std::numeric_limits<int64_t>::max();
  const std::string allowed = unbounded ? fmt::format(">= {}", min) : fmt::format("in {}..{}", min, max);
  return CLI::Validator(
      [min, max, allowed](std::string& text) -> std::string {
        int64_t v = 0;
        const char* last = text.data() + text.size();
        const auto [end, ec] = std::from_chars(text.data(), last, v);
        if (ec == std::errc::result_out_of_range) return fmt::format("{} is too large: must be a whole number {}", text, allowed);
        if (ec != std::errc() || end != last) return fmt::format("must be a whole number {}, got '{}'", allowed, text);
        if (v < min || v > max) return fmt::format("must be a whole number {}, got {}", allowed, v);
        return "";
      },
      allowed);
}

CLI::Validator whole_number_at_least(int64_t min) { return whole_number_in(min, std::numeric_limits<int64_t>::max()); }

}  // namespace qlab::cli
