#include "format/hf_config.h"

#include <cmath>

#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

HfConfig HfConfig::load(const std::string& path) {
  HfConfig c;
  c.path_ = path;
  c.json_ = nlohmann::json::parse(read_text_file(path), nullptr, false);
  if (c.json_.is_discarded() || !c.json_.is_object()) fail("{}: not a JSON object", path);
  return c;
}

int64_t HfConfig::int_required(const char* key) const {
  if (!has(key)) fail("{}: missing key '{}'", path_, key);
  if (!json_[key].is_number_integer()) fail("{}: key '{}' must be an integer", path_, key);
  int64_t v = json_[key].get<int64_t>();
  if (v <= 0) fail("{}: key '{}' must be positive, got {}", path_, key, v);
  return v;
}

int64_t HfConfig::int_or(const char* key, int64_t fallback) const { return has(key) ? int_required(key) : fallback; }

double HfConfig::float_or(const char* key, double fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_number()) fail("{}: key '{}' must be a number", path_, key);
  return json_[key].get<double>();
}

double HfConfig::positive_float_or(const char* key, double fallback) const {
  const double v = float_or(key, fallback);
  if (!(v > 0) || !std::isfinite(v)) fail("{}: key '{}' must be a finite number > 0, got {}", path_, key, v);
  return v;
}

bool HfConfig::bool_or(const char* key, bool fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_boolean()) fail("{}: key '{}' must be true or false", path_, key);
  return json_[key].get<bool>();
}

std::string HfConfig::string_or(const char* key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  if (!json_[key].is_string()) fail("{}: key '{}' must be a string", path_, key);
  return json_[key].get<std::string>();
}

std::string HfConfig::architecture() const {
  if (has("architectures") && json_["architectures"].is_array() && !json_["architectures"].empty() &&
      json_["architectures"][0].is_string())
    return json_["architectures"][0].get<std::string>();
  return string_or("model_type", "");
}

}  // namespace qlab
