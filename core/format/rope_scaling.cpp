#include "format/rope_scaling.h"

#include <cmath>

#include "util/error.h"

namespace qlab {

namespace {
double positive(const HfConfig& cfg, const nlohmann::json& rs, const char* key, const std::string& type) {
  if (!rs.contains(key) || !rs[key].is_number())
    fail("{}: rope_scaling of type '{}' needs a number '{}'", cfg.path(), type, key);
  const double v = rs[key].get<double>();
  if (!(v > 0) || !std::isfinite(v)) fail("{}: rope_scaling '{}' must be a finite number > 0, got {}", cfg.path(), key, v);
  return v;
}
}  // namespace

RopeScaling read_rope_scaling(const HfConfig& cfg, int64_t max_position_embeddings) {
  RopeScaling s;
  if (!cfg.has("rope_scaling")) return s;
  const nlohmann::json& rs = cfg.json()["rope_scaling"];
  if (!rs.is_object()) fail("{}: rope_scaling must be an object or null", cfg.path());
  const nlohmann::json& type_json = rs.contains("rope_type") ? rs["rope_type"] : rs.contains("type") ? rs["type"] : nlohmann::json();
  const std::string type = type_json.is_string() ? type_json.get<std::string>() : "?";
  if (type == "default") return s;
  if (type == "linear") s.kind = RopeScalingKind::linear;
  else if (type == "dynamic") s.kind = RopeScalingKind::dynamic;
  else if (type == "llama3") s.kind = RopeScalingKind::llama3;
  else
    fail("{}: rope_scaling of type '{}' is not implemented (known: linear, dynamic, llama3); evaluate without it or "
         "extend forward/rope.cpp", cfg.path(), type);
  s.factor = positive(cfg, rs, "factor", type);
  // transformers: the original context is max_position_embeddings unless stated.
  s.original_max_position = max_position_embeddings;
  if (rs.contains("original_max_position_embeddings") || s.kind == RopeScalingKind::llama3)
    s.original_max_position = static_cast<int64_t>(positive(cfg, rs, "original_max_position_embeddings", type));
  if (s.kind == RopeScalingKind::llama3) {
    s.low_freq_factor = positive(cfg, rs, "low_freq_factor", type);
    s.high_freq_factor = positive(cfg, rs, "high_freq_factor", type);
    if (!(s.high_freq_factor > s.low_freq_factor))
      fail("{}: rope_scaling needs high_freq_factor ({}) > low_freq_factor ({})", cfg.path(), s.high_freq_factor, s.low_freq_factor);
  }
  return s;
}

}  // namespace qlab
