#include "config/format_rules.h"

#include "util/error.h"

namespace qlab {

int32_t checked_bits(int64_t bits, const std::string& where, const std::string& key) {
  if (bits < 2 || bits > 8) fail("{}: {} = {} is outside 2..8", where, key, bits);
  return static_cast<int32_t>(bits);
}

int32_t checked_group_size(int64_t group_size, const std::string& where, const std::string& key) {
  if (group_size < 0) fail("{}: {} must be >= 0 (0 = per output channel)", where, key);
  return static_cast<int32_t>(group_size);
}

int32_t parse_grid_range(const std::string& name, const std::string& where, const std::string& key) {
  return kGridRanges.parse(name, where + ": " + key);
}

bool set_format_key(qlab_format& f, const std::string& key, const ParamValue& value, const std::string& where) {
  if (key == "bits" || key == "group_size") {
    if (!std::holds_alternative<int64_t>(value.value)) fail("{}: {} must be an integer", where, key);
    const int64_t v = std::get<int64_t>(value.value);
    (key == "bits" ? f.bits : f.group_size) = key == "bits" ? checked_bits(v, where, key) : checked_group_size(v, where, key);
  } else if (key == "sym") {
    if (!std::holds_alternative<bool>(value.value)) fail("{}: sym must be true or false", where);
    f.sym = std::get<bool>(value.value) ? 1 : 0;
  } else if (key == "range") {
    if (!std::holds_alternative<std::string>(value.value)) fail("{}: range must be a string", where);
    f.range = parse_grid_range(std::get<std::string>(value.value), where, key);
  } else {
    return false;
  }
  return true;
}

}  // namespace qlab
