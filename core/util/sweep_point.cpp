#include "util/sweep_point.h"

namespace qlab {

std::string setting_text(const SweepPoint& point) {
  std::string out;
  for (const auto& [axis, value] : point) out += (out.empty() ? "" : " ") + axis + "=" + value;
  return out;
}

}  // namespace qlab
