#include "config/method_name.h"

#include <vector>

namespace qlab {

namespace {
struct Step {
  std::string method;
  int32_t naming;
};

// The plugin's declared method for these parameters ("gptq-r"), or its name.
std::string method_of(const PipelineEntry& e, const qlab_plugin& d) {
  if (!d.method_name) return d.name;
  const ResolvedParams values = resolve_params(d, e.params, "method name");
  const char* m = d.method_name(values.data(), values.size());
  return m && *m ? m : d.name;
}
}  // namespace

std::string method_name(const RunConfig& run, const PluginRegistry& registry) {
  std::vector<Step> steps;
  for (const PipelineEntry& e : run.pipeline) {
    const qlab_plugin& d = *registry.get(e.plugin).descriptor;
    if (d.naming != QLAB_NAMING_SILENT) steps.push_back({method_of(e, d), d.naming});
  }
  // A transform before the plain quantizer it implies names the method (AWQ is scaling + RTN).
  if (steps.size() == 2 && steps[1].naming == QLAB_NAMING_BASELINE) return steps[0].method;
  std::string joined;
  for (const Step& s : steps) joined += (joined.empty() ? "" : "+") + s.method;
  return joined;
}

}  // namespace qlab
