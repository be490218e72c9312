#include "config/paths.h"

#include <cstdlib>

#include "util/error.h"

namespace qlab {

std::string expand_env(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    const size_t close = text.find('}', i);
    if (close == std::string::npos) fail("'{}': unterminated ${{...}}", text);
    const std::string inner = text.substr(i + 2, close - i - 2);
    const size_t dash = inner.find(":-");
    const std::string name = inner.substr(0, dash);
    const char* value = std::getenv(name.c_str());
    if (value && *value) out += value;
    else if (dash != std::string::npos) out += inner.substr(dash + 2);
    else fail("'{}': environment variable {} is not set (give a default with ${{{}:-...}})", text, name, name);
    i = close + 1;
  }
  return out;
}

std::string resolve_path(const std::filesystem::path& base, const std::string& raw) {
  const std::string p = expand_env(raw);
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (base / p).lexically_normal().string();
}

std::string resolve_spec(const std::filesystem::path& base, const std::string& spec) {
  const size_t colon = spec.find(':');
  if (colon != std::string::npos && colon > 1) return spec.substr(0, colon + 1) + resolve_path(base, spec.substr(colon + 1));
  return resolve_path(base, spec);
}

}  // namespace qlab
