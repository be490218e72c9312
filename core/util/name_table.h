// One name↔enum table per enum (STYLE rule 5): the names a config file or the log spells,
// the value each stands for, and the list an error shows when a name is unknown.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "util/error.h"

namespace qlab {

template <typename E, size_t N>
struct NameTable {
  std::array<std::pair<E, const char*>, N> entries;

  constexpr const char* name(E value) const {
    for (const auto& [v, n] : entries)
      if (v == value) return n;
    return "?";
  }
  std::optional<E> find(std::string_view name) const {
    for (const auto& [v, n] : entries)
      if (name == n) return v;
    return std::nullopt;
  }
  // The value named `name`; an unknown name fails with "<what> '<name>' is not one of <names>".
  E parse(std::string_view name, std::string_view what) const {
    if (auto v = find(name)) return *v;
    fail("{} '{}' is not one of {}", what, name, names());
  }
  std::string names() const {  // "gptq, minmax"
    std::string out;
    for (const auto& [v, n] : entries) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
  }
};

}  // namespace qlab
