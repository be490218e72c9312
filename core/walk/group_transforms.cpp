#include "walk/group_transforms.h"

#include <algorithm>
#include <optional>

#include "backend/linalg.h"
#include "util/error.h"
#include "walk/capture.h"
#include "walk/fold.h"
#include "walk/linear_hooks.h"
#include "walk/measure_module.h"

namespace qlab {

namespace {

std::optional<qlab_format> offered_format(const BlockPlan& plan, const ScalableGroup& g) {
  for (const GroupLayout& o : plan.offered_groups)
    if (o.producer == g.name)
      for (const LinearPlan& l : plan.linears)
        if (l.id == o.consumers[0]) return l.format;
  return std::nullopt;
}

// One group through one plugin; returns whether it scaled the group (or declined on purpose).
bool transform_group(Block& block, const ModelConfig& config, ScalableGroup& group, ScalableGroup& ref_group, const qlab_format& f,
                     const std::vector<Matrix>& inputs, const StatsCollector& stats, PluginInstance& t, LinearMetrics& metrics) {
  MeasureHost host(block, config, group, inputs);
  std::vector<const char*> names;
  std::vector<qlab_cview> weights;
  std::vector<Matrix> edited;
  for (Linear* l : group.consumers) {
    names.push_back(l->name.c_str());
    weights.push_back({l->weight.data(), l->weight.rows(), l->weight.cols(), l->weight.cols()});
    edited.push_back(l->weight);
  }
  std::vector<qlab_view> edited_views;
  for (Matrix& m : edited) edited_views.push_back({m.data(), m.rows(), m.cols(), m.cols()});
  const Matrix no_hessian;
  qlab_group_in in{};
  in.name = group.name.c_str();
  in.block = block.index;
  in.producer_kind = group.producer_kind == ProducerKind::norm ? QLAB_PRODUCER_NORM : QLAB_PRODUCER_LINEAR;
  in.n_linears = static_cast<int32_t>(group.consumers.size());
  in.linear_names = names.data();
  in.weights = weights.data();
  in.stats = stats.view(no_hessian);
  in.format = f;
  in.la = cpu_linalg();
  in.measure = MeasureHost::measure;
  in.host = host.context();
  Vector scale = Vector::Ones(group.consumers[0]->in_features());
  qlab_transform_out out{};
  out.scale = scale.data();
  out.weights = edited_views.data();
  // A host failure is the cause of whatever the plugin then reports: name it, not the symptom.
  try {
    t.transform(in, out);
  } catch (const Error&) {
    if (host.error().empty()) throw;
  }
  if (!host.error().empty())
    fail("plugin '{}', block {} group {}: the host's module measure failed: {}", t.name(), block.index, group.name, host.error());
  if (out.wrote_scale) {
    fold_scale(group, scale);
    fold_scale(ref_group, scale);
  }
  if (out.wrote_weights)
    for (size_t i = 0; i < group.consumers.size(); ++i) group.consumers[i]->weight = edited[i];
  std::map<std::string, double> m;
  take_metrics(t, out, m);
  for (Linear* l : group.consumers)
    for (const auto& [k, v] : m) metrics[l->name][k] = v;
  return out.wrote_scale || out.declined;  // declined on purpose, and logged
}

}  // namespace

std::vector<GroupLayout> transform_groups(Block& block, Block* reference, const ModelConfig& config, const BlockPlan& plan,
                                          uint32_t group_stats, const ActivationStore& x, Pipeline& pipeline, int64_t total_tokens,
                                          LinearMetrics& metrics) {
  std::vector<GroupLayout> offered;
  std::vector<ScalableGroup> groups = block.scalable_groups(config);
  std::vector<ScalableGroup> ref_groups = reference ? reference->scalable_groups(config) : std::vector<ScalableGroup>{};
  std::optional<GroupInputs> captured;  // from the block as it stands; again only after a transform changed it
  for (auto& t : pipeline.transforms) {
    if (!t->descriptor().transform || t->descriptor().scope != QLAB_SCOPE_GROUP) continue;
    if (groups.empty()) fail("plugin '{}' scales groups, but block {} of this architecture declares none", t->name(), block.index);
    if (!captured) captured = capture_group_inputs(block, config, x, groups, group_stats, total_tokens);
    bool scaled_any = false, offered_any = false, changed = false;
    for (size_t g = 0; g < groups.size(); ++g) {
      const std::optional<qlab_format> f = offered_format(plan, groups[g]);
      if (!f) continue;
      offered_any = true;
      if (std::none_of(offered.begin(), offered.end(), [&](const GroupLayout& o) { return o.producer == groups[g].name; })) {
        GroupLayout layout{groups[g].name, groups[g].producer_kind, {}, groups[g].inspect};
        for (const Linear* l : groups[g].consumers) layout.consumers.push_back(l->name);
        offered.push_back(layout);
      }
      const bool scaled = transform_group(block, config, groups[g], ref_groups[g], *f, captured->inputs[g], *captured->stats[g], *t, metrics);
      scaled_any = scaled_any || scaled;
      changed = true;
    }
    if (changed) captured.reset();
    // A scaling plugin that finds nothing it can scale would otherwise be a silent no-op
    // (SmoothQuant on OPT-350M's post-LayerNorm blocks, where no norm feeds the linears).
    if (offered_any && !scaled_any) {
      std::string text;
      for (const ScalableGroup& g : groups)
        text += fmt::format("{}{} → {} linear(s)", text.empty() ? "" : ", ", g.name, g.consumers.size());
      fail("plugin '{}' scaled none of block {}'s groups ({}): this architecture offers it nothing it can scale", t->name(),
           block.index, text);
    }
  }
  return offered;
}

}  // namespace qlab
