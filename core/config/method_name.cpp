#include "config/method_name.h"

#include <algorithm>
#include <variant>
#include <vector>

namespace qlab {

namespace {
bool param_true(const PipelineEntry& e, const std::string& name) {
  auto it = e.params.find(name);
  return it != e.params.end() && std::holds_alternative<bool>(it->second.value) && std::get<bool>(it->second.value);
}
double param_number(const PipelineEntry& e, const std::string& name) {
  auto it = e.params.find(name);
  if (it == e.params.end()) return 0.0;
  if (const auto* d = std::get_if<double>(&it->second.value)) return *d;
  if (const auto* i = std::get_if<int64_t>(&it->second.value)) return static_cast<double>(*i);
  return 0.0;
}
}  // namespace

std::string method_name(const RunConfig& run) {
  std::vector<const PipelineEntry*> steps;
  for (const PipelineEntry& e : run.pipeline)
    if (e.plugin != "clip") steps.push_back(&e);
  std::vector<std::string> names;
  for (const PipelineEntry* e : steps) names.push_back(e->plugin);
  auto is = [&](std::initializer_list<const char*> want) {
    return names.size() == want.size() && std::equal(names.begin(), names.end(), want.begin());
  };
  if (is({"rtn"})) return "rtn";
  if (is({"gptq"})) return param_true(*steps[0], "act_order") ? "gptq-r" : "gptq";
  if (is({"awq", "rtn"})) return "awq";
  if (is({"smoothquant", "rtn"})) return "smoothquant";
  if (is({"cluster"})) return param_number(*steps[0], "sparse_fraction") > 0 ? "squeezellm-sparse" : "squeezellm";
  if (is({"nf4"})) return "nf4";
  std::string joined;
  for (const std::string& n : names) joined += (joined.empty() ? "" : "+") + n;
  return joined;
}

}  // namespace qlab
