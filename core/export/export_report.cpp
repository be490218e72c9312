#include "export/export_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace qlab {

namespace {
// "3.mlp.down_proj" → "mlp.down_proj": one row per kind of tensor across the blocks.
std::string kind_of(const std::string& name) {
  const size_t dot = name.find('.');
  if (dot == std::string::npos || !std::isdigit(static_cast<unsigned char>(name[0]))) return name;
  return name.substr(dot + 1);
}
}  // namespace

void ExportReport::add(const std::string& name, const std::string& stored_as, double max_abs_change, Codes codes) {
  Row& r = rows_[{kind_of(name), stored_as}];
  ++r.count;
  r.max_abs_change = std::max(r.max_abs_change, max_abs_change);
  if (codes == Codes::re_encoded || r.codes == Codes::none) r.codes = codes;
}

cli::Table ExportReport::table() const {
  cli::Table t({"tensor", "count", "stored as", "codes", "max |Δw|"});
  for (const auto& [key, r] : rows_)
    t.add_row({key.first, std::to_string(r.count), key.second, r.codes == Codes::kept ? "kept" : r.codes == Codes::re_encoded ? "re-encoded" : "-",
               r.max_abs_change == 0 ? "0 (exact)" : fmt::format("{:.3g}", r.max_abs_change)});
  return t;
}

double ExportReport::max_abs_change() const {
  double m = 0;
  for (const auto& [key, r] : rows_) m = std::max(m, r.max_abs_change);
  return m;
}

int64_t ExportReport::re_encoded() const {
  int64_t n = 0;
  for (const auto& [key, r] : rows_)
    if (r.codes == Codes::re_encoded) n += r.count;
  return n;
}

}  // namespace qlab
