#include "walk/pipeline.h"

#include <algorithm>

#include "plugin_host/format_support.h"
#include "util/error.h"

namespace qlab {

namespace {
// Every format the run can ask a plugin for: the [quant] format and each [[override]] rule's
// (its fields over [quant]; a rule that skips asks for none), each with where it is written.
void check_support(const RunConfig& run, const PipelineEntry& e, size_t i, const qlab_plugin& d) {
  if (const std::string problem = unsupported_format(d, run.format); !problem.empty())
    fail("{}: pipeline[{}] ({}) cannot run this experiment's [quant] format: {}", e.where, i, e.plugin, problem);
  for (const OverrideRule& rule : run.overrides) {
    if (rule.skip.value_or(false)) continue;
    qlab_format f = run.format;
    if (rule.bits) f.bits = *rule.bits;
    if (rule.group_size) f.group_size = *rule.group_size;
    if (const std::string problem = unsupported_format(d, f); !problem.empty())
      fail("{}: [[override]] match '{}' asks pipeline[{}] ({}, {}) for {}", rule.where, rule.match, i, e.plugin, e.where, problem);
  }
}

struct Checked {
  const LoadedPlugin* plugin;
  ResolvedParams params;
};

std::vector<Checked> check(const RunConfig& run, const PluginRegistry& registry) {
  std::vector<Checked> out;
  for (size_t i = 0; i < run.pipeline.size(); ++i) {
    const PipelineEntry& e = run.pipeline[i];
    const LoadedPlugin* p = registry.find(e.plugin);
    if (!p) {
      try {
        registry.get(e.plugin);
      } catch (const Error& err) {
        fail("{}: pipeline[{}]: {}", e.where, i, err.what());
      }
    }
    const bool last = i + 1 == run.pipeline.size();
    const qlab_plugin& d = *p->descriptor;
    if (last && !d.quantize)
      fail("{}: pipeline[{}] ({}) is last but has no quantize hook; a pipeline ends with one quantizer (e.g. rtn)", e.where, i, e.plugin);
    if (d.transform_model && i != 0)
      fail("{}: pipeline[{}] ({}) transforms the whole model before the walk; put it first", e.where, i, e.plugin);
    const auto& exported = run.exports.runs;
    if (d.transform_model && !run.exports.formats.empty() &&
        (exported.empty() || std::find(exported.begin(), exported.end(), run.run_id) != exported.end()))
      fail("{}: [export] of a run whose pipeline transforms the model ({}) is not supported yet: its online Hadamards and "
           "rotated embeddings have no Hugging Face or GGUF form here; export the runs without it (export.runs)",
           e.where, e.plugin);
    if (!last && !d.transform && !d.transform_model)
      fail("{}: pipeline[{}] ({}) is a quantizer but not last; put transforms first and one quantizer at the end", e.where, i, e.plugin);
    ResolvedParams params = resolve_params(d, e.params, fmt::format("pipeline[{}]", i));
    check_support(run, e, i, d);
    out.push_back({p, std::move(params)});
  }
  return out;
}
// One rule for both: a plugin's declared statistics feed the capture; a group-scope
// transform's also feed the capture of its groups' inputs.
void add_needs(PipelineNeeds& n, const qlab_plugin& d) {
  n.stats |= d.stats;
  if (d.transform && d.scope == QLAB_SCOPE_GROUP) {
    n.group_transforms = true;
    n.group_stats |= d.stats;
  }
}
}  // namespace

PipelineNeeds Pipeline::needs() const {
  PipelineNeeds n;
  for (const auto& t : transforms) add_needs(n, t->descriptor());
  if (quantizer) add_needs(n, quantizer->descriptor());
  return n;
}

PipelineNeeds pipeline_needs(const RunConfig& run, const PluginRegistry& registry) {
  PipelineNeeds n;
  for (const Checked& c : check(run, registry)) add_needs(n, *c.plugin->descriptor);
  return n;
}

void validate_pipeline(const RunConfig& run, const PluginRegistry& registry) { check(run, registry); }

std::string describe_pipeline(const RunConfig& run, const PluginRegistry& registry) {
  std::string text;
  for (const Checked& c : check(run, registry))
    text += fmt::format("{}{}({})", text.empty() ? "" : " → ", c.plugin->descriptor->name, c.params.describe());
  return text;
}

Pipeline build_pipeline(const RunConfig& run, const PluginRegistry& registry) {
  Pipeline p;
  std::vector<Checked> checked = check(run, registry);
  for (size_t i = 0; i < checked.size(); ++i) {
    auto inst = std::make_unique<PluginInstance>(*checked[i].plugin, std::move(checked[i].params));
    p.stats_mask |= inst->descriptor().stats;
    if (i + 1 == checked.size()) p.quantizer = std::move(inst);
    else p.transforms.push_back(std::move(inst));
  }
  return p;
}

}  // namespace qlab
