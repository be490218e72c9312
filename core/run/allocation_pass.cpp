#include "run/allocation_pass.h"

#include <toml++/toml.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "config/paths.h"
#include "config/sweep.h"
#include "plan/layer_plan.h"
#include "util/error.h"
#include "walk/block_sink.h"
#include "walk/pipeline.h"

namespace qlab {

std::string format_label(const qlab_format& f) {
  return fmt::format("w{}{}{}", f.bits, f.group_size > 0 ? fmt::format("g{}", f.group_size) : "", f.sym ? "s" : "");
}

namespace {
// Every quantized linear's row from one walk of `run` in format f.
std::map<std::string, LinearRow> measure(const RunConfig& run, const qlab_format& f, const WeightSource& source,
                                         const std::vector<std::vector<int32_t>>& calibration, const PluginRegistry& registry,
                                         bool progress, const WalkMemory& memory) {
  RunConfig m = run;
  m.format = f;
  m.allocate.reset();
  Pipeline pipeline = build_pipeline(m, registry);
  const LayerPlan plan = resolve_plan(m, source.config(), source.linears(), pipeline.needs());
  ActivationPlan act{m.act, {}};
  std::map<std::string, LinearRow> rows;
  CallbackSink sink([&](const BlockResult& r, const Block&, const ActivationPlan&) {
    for (const LinearRow& row : r.linears) rows[row.id] = row;
  });
  if (progress) fmt::print(stderr, "{}: allocation pass, every linear in {}\n", run.run_id, format_label(f));
  walk_layers(source, plan, calibration, pipeline, act, sink, progress, nullptr, {}, memory);
  return rows;
}

// A resolved path or "kind:path" spec made absolute: the file is written beside the log, not
// beside the experiment its relative paths were relative to.
std::string absolute_spec(const std::string& spec) { return spec.empty() ? spec : resolve_spec(std::filesystem::current_path(), spec); }
std::string absolute_path(const std::string& path) { return std::filesystem::absolute(path).lexically_normal().string(); }

// The experiment as text at this run's grid point, with the allocation's overrides after the
// user's, absolute paths and no [allocate] or [sweep]: running it walks exactly this allocation.
std::string experiment_with(const std::string& settings_toml, const RunConfig& run, const std::vector<OverrideRule>& rules) {
  toml::table t = toml::parse(settings_toml);
  const Sweep sweep = Sweep::read("the experiment", t);  // removes [sweep]
  sweep.set_point("the experiment", std::stoul(run.run_id.substr(1)), t);  // "r0003": grid point 3
  if (toml::table* m = t["model"].as_table()) {
    m->insert_or_assign("path", absolute_path(run.model_path));
    if (!run.tokenizer_path.empty()) m->insert_or_assign("tokenizer", absolute_path(run.tokenizer_path));
  }
  if (toml::table* c = t["calibration"].as_table()) c->insert_or_assign("data", absolute_spec(run.calibration.data));
  if (toml::table* e = t["eval"].as_table()) {
    toml::array data;
    for (const std::string& d : run.eval_data) data.push_back(absolute_spec(d));
    e->insert_or_assign("data", std::move(data));
  }
  t.erase("allocate");
  toml::array* overrides = t["override"].as_array();
  if (!overrides) {
    t.insert("override", toml::array{});
    overrides = t["override"].as_array();
  }
  for (const OverrideRule& r : rules) {
    toml::table o{{"match", r.match}, {"bits", *r.bits}, {"group_size", *r.group_size}};
    if (r.sym) o.insert("sym", *r.sym);
    overrides->push_back(std::move(o));
  }
  std::ostringstream out;
  out << t << "\n";
  return out.str();
}
}  // namespace

AllocationResult run_allocation(const RunConfig& run, const std::string& settings_toml, const WeightSource& source,
                                const std::vector<std::vector<int32_t>>& calibration, const PluginRegistry& registry,
                                bool progress, const WalkMemory& memory) {
  const AllocationSpec& spec = *run.allocate;
  std::vector<std::map<std::string, LinearRow>> walks;
  for (const qlab_format& f : spec.menu) walks.push_back(measure(run, f, source, calibration, registry, progress, memory));
  std::vector<LinearChoices> choices;
  AllocationResult out;
  for (const auto& [id, first] : walks.front()) {
    LinearChoices c{id, first.n_rows * first.n_cols, {}};
    for (size_t i = 0; i < spec.menu.size(); ++i) {
      const auto it = walks[i].find(id);
      if (it == walks[i].end()) fail("allocation: {} was quantized in {} but not in {}", id, format_label(spec.menu[0]), format_label(spec.menu[i]));
      const LinearRow& r = it->second;
      const double error = spec.sensitivity == "output_error"
                               ? r.rel_output_error
                               : r.hessian_trace * r.weight_mse * static_cast<double>(r.n_rows);  // tr(H)/n_in · ‖ΔW‖²
      // The budget counts code bits (3.25 = a quarter of the weights one bit wider than 3), as
      // mixed-precision papers state averages; storage with scales is what the log's
      // bits_per_weight reports.
      c.options.push_back({format_label(spec.menu[i]), static_cast<double>(spec.menu[i].bits), error});
    }
    choices.push_back(std::move(c));
  }
  try {
    out.allocation = allocate_bits(choices, spec.target_bits);
  } catch (const Error& e) {
    fail("{}: [allocate]: {}", run.run_id, e.what());
  }
  for (size_t l = 0; l < choices.size(); ++l) {
    const qlab_format& f = spec.menu[out.allocation.choice[l]];
    OverrideRule rule;
    rule.match = choices[l].linear;
    rule.bits = f.bits;
    rule.group_size = f.group_size;
    rule.sym = f.sym != 0;
    rule.where = "[allocate]";
    out.overrides.push_back(rule);
    out.linears.push_back(choices[l].linear);
    out.formats.push_back(format_label(f));
  }
  out.experiment_toml = experiment_with(settings_toml, run, out.overrides);
  return out;
}

}  // namespace qlab
