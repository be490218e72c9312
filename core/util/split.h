// The one string splitter: "a,b,,c" at ',' → {"a", "b", "", "c"}.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace qlab {

enum class EmptyParts { keep, skip };

// Every part between separators, in order; "" gives {""} (or {} when empty parts are skipped).
std::vector<std::string> split(std::string_view text, char separator, EmptyParts empty = EmptyParts::keep);

}  // namespace qlab
