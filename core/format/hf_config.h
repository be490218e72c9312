// Reading config.json: typed getters whose errors name the file and the key.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace qlab {

class HfConfig {
 public:
  static HfConfig load(const std::string& path);  // path of config.json
  const std::string& path() const { return path_; }
  const nlohmann::json& json() const { return json_; }
  bool has(const char* key) const { return json_.contains(key) && !json_[key].is_null(); }

  int64_t int_required(const char* key) const;
  int64_t int_or(const char* key, int64_t fallback) const;
  double float_or(const char* key, double fallback) const;
  // A finite number > 0 (norm epsilons, RoPE bases): zero or negative values give NaN forwards.
  double positive_float_or(const char* key, double fallback) const;
  bool bool_or(const char* key, bool fallback) const;
  std::string string_or(const char* key, const std::string& fallback) const;
  std::string architecture() const;  // architectures[0], else model_type

 private:
  std::string path_;
  nlohmann::json json_;
};

}  // namespace qlab
