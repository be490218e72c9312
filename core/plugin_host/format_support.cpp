#include "plugin_host/format_support.h"

#include <fmt/format.h>

#include <vector>

namespace qlab {

namespace {
std::string bits_text(uint32_t mask) {
  std::vector<int> bits;
  for (int b = 2; b <= 8; ++b)
    if (mask & (1u << b)) bits.push_back(b);
  return fmt::format("bits {}", fmt::join(bits, ", "));
}
}  // namespace

std::string unsupported_format(const qlab_plugin& plugin, const qlab_format& f) {
  const qlab_support& s = plugin.support;
  if (s.bits != 0 && (f.bits < 0 || f.bits > 31 || !(s.bits & (1u << f.bits))))
    return fmt::format("bits = {}, but it supports {}", f.bits, bits_text(s.bits));
  if (s.needs_groups && f.group_size <= 0)
    return fmt::format("group_size = {} (one group per row), but it needs groups ({})", f.group_size, describe_support(s));
  if (s.group_size_multiple > 1 && f.group_size > 0 && f.group_size % s.group_size_multiple != 0)
    return fmt::format("group_size = {}, but it supports {}", f.group_size, describe_support(s));
  return "";
}

std::string describe_support(const qlab_support& s) {
  std::vector<std::string> parts;
  if (s.bits != 0) parts.push_back(bits_text(s.bits));
  if (s.group_size_multiple > 1) parts.push_back(fmt::format("group_size a multiple of {}", s.group_size_multiple));
  if (s.needs_groups) parts.push_back("no per-row groups (group_size > 0)");
  return parts.empty() ? "any format" : fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace qlab
