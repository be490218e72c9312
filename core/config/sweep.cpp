#include "config/sweep.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "config/toml_fields.h"
#include "util/split.h"

namespace qlab {

namespace {

// Beyond this a sweep is almost surely a mistake, and its expansion alone would exhaust memory.
constexpr size_t kMaxGridPoints = 100000;

// The pipeline entry a path names by plugin or by index; `parts` = {"pipeline", name, parameter}.
toml::table* pipeline_entry(toml::table& root, const std::vector<std::string>& parts, const std::string& dotted, const std::string& where) {
  toml::array* pipeline = root["pipeline"].as_array();
  if (!pipeline) fail("{}: '{}': the experiment has no pipeline", where, dotted);
  toml::table* table = nullptr;
  // An index too large for size_t names no entry, like any other index past the end.
  size_t index = 0;
  const char* first = parts[1].data();
  const char* last = first + parts[1].size();
  const auto [end, ec] = std::from_chars(first, last, index);  // digits only: no sign, no spaces
  const bool is_index = ec == std::errc() && end == last;
  for (size_t k = 0; k < pipeline->size(); ++k) {
    toml::table* e = pipeline->get(k)->as_table();
    if (!e) continue;
    if ((is_index && index == k) || (!is_index && e->get("plugin") && e->get("plugin")->value<std::string>() == parts[1])) {
      if (table) fail("{}: '{}': plugin '{}' appears twice in the pipeline; use pipeline.<index>.{}", where, dotted, parts[1], parts[2]);
      table = e;
    }
  }
  if (!table) fail("{}: '{}': no pipeline entry '{}'", where, dotted, parts[1]);
  return table;
}

// A value as a sweep point shows it. A pipeline value reads as "awq+rtn", parameters in
// brackets: "gptq(act_order=true)".
std::string toml_text(const toml::node& n) {
  if (const toml::array* a = n.as_array(); a && !a->empty() && a->front().is_table()) {
    std::string text;
    for (const toml::node& e : *a) {
      std::string params;
      for (const auto& [k, v] : *e.as_table())
        if (k.str() != "plugin") params += fmt::format("{}{}={}", params.empty() ? "" : ",", k.str(), toml_text(v));
      const toml::node* plugin = e.as_table()->get("plugin");
      text += fmt::format("{}{}{}", text.empty() ? "" : "+", plugin ? plugin->value<std::string>().value_or("?") : "?", params.empty() ? "" : "(" + params + ")");
    }
    return text;
  }
  if (auto f = n.value_exact<double>()) return fmt::format("{}", *f);  // shortest form: 0.99, not 0.98999999999999999
  std::ostringstream s;
  n.visit([&](const auto& v) { s << v; });
  return s.str();
}

}  // namespace

toml::table parse_value(const std::string& text) {
  try {
    return toml::parse("v = " + text);
  } catch (const toml::parse_error&) {
    toml::table t;
    t.insert("v", text);
    return t;
  }
}

ParamValue parse_set_value(const std::string& text, const std::string& where) {
  toml::table v = parse_value(text);
  ParamValue p = param_value(where, *v.get("v"), where);
  p.where = where;  // the --set option, not a line of the one-line TOML it was parsed as
  return p;
}

void set_path(toml::table& root, const std::string& dotted, const toml::node& value, const std::string& where) {
  const std::vector<std::string> parts = split(dotted, '.');
  if (dotted == "pipeline") {  // a whole pipeline: [{ plugin = "awq" }, { plugin = "rtn" }]
    const toml::array* entries = value.as_array();
    if (!entries || entries->empty() || !std::all_of(entries->begin(), entries->end(), [](const toml::node& e) { return e.is_table(); }))
      fail("{}: a 'pipeline' value must be a non-empty array of {{ plugin = ... }} tables", where);
    root.insert_or_assign("pipeline", *entries);
    return;
  }
  if (parts.size() < 2 && parts[0] != "name") fail("{}: '{}' is not a dotted path like quant.bits", where, dotted);
  toml::table* table = &root;
  size_t i = 0;
  if (parts[0] == "pipeline") {
    if (parts.size() != 3) fail("{}: pipeline paths are pipeline.<plugin or index>.<parameter>, got '{}'", where, dotted);
    table = pipeline_entry(root, parts, dotted, where);
    i = 2;
  } else {
    for (; i + 1 < parts.size(); ++i) {
      if (!table->contains(parts[i])) table->insert(parts[i], toml::table{});
      table = (*table)[parts[i]].as_table();
      if (!table) fail("{}: '{}': '{}' is not a table", where, dotted, parts[i]);
    }
  }
  table->insert_or_assign(parts[i], value);
}

Sweep Sweep::read(const std::string& path, toml::table& root) {
  Sweep sweep;
  const toml::node* s = root.get("sweep");
  if (!s) return sweep;
  if (!s->is_table()) fail("{}: [sweep] must be a table", at(path, *s));
  sweep.mode = SweepMode::grid;
  for (const auto& [k, v] : *s->as_table()) {
    if (k.str() == "mode") {
      const auto mode = kSweepModes.find(v.value<std::string>().value_or(""));
      if (!mode) fail("{}: sweep.mode must be \"grid\" or \"zip\"", at(path, v));
      sweep.mode = *mode;
      continue;
    }
    if (!v.is_array() || v.as_array()->empty()) fail("{}: sweep axis '{}' must be a non-empty array", at(path, v), k.str());
    sweep.axes.emplace_back(std::string(k.str()), *v.as_array());
  }
  // toml++ keeps keys sorted; the axes follow the file's order instead (the last varies fastest).
  std::stable_sort(sweep.axes.begin(), sweep.axes.end(), [&](const auto& a, const auto& b) {
    const auto pa = s->as_table()->get(a.first)->source().begin, pb = s->as_table()->get(b.first)->source().begin;
    return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
  });
  const auto& axes = sweep.axes;
  if (sweep.mode == SweepMode::zip)
    for (const auto& [name, values] : axes)
      if (values.size() != axes[0].second.size())
        fail("{}: zip sweep axes differ in length: '{}' has {}, '{}' has {}", path, axes[0].first, axes[0].second.size(), name, values.size());
  root.erase("sweep");
  if (axes.empty()) return sweep;
  if (sweep.mode == SweepMode::zip) sweep.n_points = axes[0].second.size();
  else
    for (const auto& a : axes) {
      if (sweep.n_points > kMaxGridPoints / a.second.size())
        fail("{}: the sweep has more than {} grid points; split it into several experiments", path, kMaxGridPoints);
      sweep.n_points *= a.second.size();
    }
  if (sweep.n_points > kMaxGridPoints)
    fail("{}: the sweep has {} grid points, more than {}; split it into several experiments", path, sweep.n_points, kMaxGridPoints);
  return sweep;
}

SweepPoint Sweep::set_point(const std::string& path, size_t point, toml::table& root) const {
  std::vector<size_t> index(axes.size());
  size_t rest = point;
  for (size_t a = axes.size(); a-- > 0;) {  // last axis varies fastest
    const size_t n = axes[a].second.size();
    index[a] = mode == SweepMode::zip ? point : rest % n;
    rest = mode == SweepMode::zip ? rest : rest / n;
  }
  SweepPoint values;
  for (size_t a = 0; a < axes.size(); ++a) {
    const toml::node& v = *axes[a].second.get(index[a]);
    set_path(root, axes[a].first, v, fmt::format("{}: sweep axis '{}'", path, axes[a].first));
    values.emplace_back(axes[a].first, toml_text(v));
  }
  return values;
}

}  // namespace qlab
