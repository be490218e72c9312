#include "util/split.h"

namespace qlab {

std::vector<std::string> split(std::string_view text, char separator, EmptyParts empty) {
  std::vector<std::string> parts;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start || empty == EmptyParts::keep) parts.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

}  // namespace qlab
