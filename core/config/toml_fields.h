// Typed fields of a parsed TOML experiment: every read names the file and line of the value
// and every unknown key is refused with the known ones.
#pragma once
#include <set>
#include <string>
#include <toml++/toml.h>
#include <type_traits>

#include "plugin_host/params.h"
#include "util/error.h"

namespace qlab {

// "file:line" of a node; the file alone for values set by --set or a sweep axis (no line).
std::string at(const std::string& file, const toml::node& n);

void check_keys(const std::string& file, const toml::table& t, const std::string& section, const std::set<std::string>& known);

// t[key] as T, `fallback` when absent; a value of another type is an error naming section.key.
template <typename T>
T get(const std::string& file, const toml::table& t, const char* key, const std::string& section, T fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if constexpr (std::is_same_v<T, double>) {
    if (auto v = n->value<double>()) return *v;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (n->is_boolean()) return *n->value<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (n->is_integer()) return static_cast<T>(*n->value<int64_t>());
  } else {
    if (n->is_string()) return *n->value<std::string>();
  }
  fail("{}: {}.{} has the wrong type", at(file, *n), section, key);
}

// A plugin parameter: a number, boolean or string (`where` names the entry in errors).
ParamValue param_value(const std::string& file, const toml::node& n, const std::string& where);

}  // namespace qlab
