#include "config/toml_fields.h"

#include <fmt/format.h>

namespace qlab {

std::string at(const std::string& file, const toml::node& n) {
  return n.source().begin.line > 0 ? fmt::format("{}:{}", file, n.source().begin.line) : file;
}

void check_keys(const std::string& file, const toml::table& t, const std::string& section, const std::set<std::string>& known) {
  for (const auto& [k, v] : t)
    if (!known.count(std::string(k.str()))) {
      std::string list;
      for (const std::string& s : known) list += (list.empty() ? "" : ", ") + s;
      fail("{}: unknown key '{}' in {}; known: {}", at(file, v), k.str(), section, list);
    }
}

ParamValue param_value(const std::string& file, const toml::node& n, const std::string& where) {
  const std::string loc = at(file, n);
  if (n.is_integer()) return {*n.value<int64_t>(), loc};
  if (n.is_floating_point()) return {*n.value<double>(), loc};
  if (n.is_boolean()) return {*n.value<bool>(), loc};
  if (n.is_string()) return {*n.value<std::string>(), loc};
  fail("{}: {}: parameters must be numbers, booleans or strings", loc, where);
}

}  // namespace qlab
