// `qlab run`: an experiment file, end to end, into an HDF5 log, with a summary table.
// --dry-run lists the grid points and each one's plan (every linear's format, stage and
// statistics), reading the model's names and shapes but no weight;
// --shard i/n (or a Slurm array job) runs one deterministic slice of the grid.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "cli/commands.h"
#include "cli/device_args.h"
#include "cli/eval_memory_args.h"
#include "cli/option_checks.h"
#include "util/table.h"
#include "config/experiment.h"
#include "format/model_loader.h"
#include "plan/layer_plan.h"
#include "plan/plan_print.h"
#include "plugin_host/plugin_loader.h"
#include "run/experiment_runner.h"
#include "run/shard.h"
#include "util/parallel.h"
#include "util/error.h"
#include "walk/pipeline.h"

namespace qlab::cli {

namespace {
struct RunArgs {
  std::string experiment, out, shard;
  std::vector<std::string> sets, plugin_dirs, only, skip;
  bool resume = false, overwrite = false, dry_run = false, keep_quantized = false;
  int threads = 0;
  double hook_timeout_s = 0;
  EvalMemoryArgs memory;
  DeviceArgs device;
};

std::string format_text(const RunConfig& r) {
  std::string f = fmt::format("W{} {} {}", r.format.bits, r.format.group_size > 0 ? fmt::format("g{}", r.format.group_size) : "per-channel",
                              r.format.sym ? "sym" : "asym");
  if (r.act.enabled()) {
    f += fmt::format(" A{} {}", r.act.bits, act_scheme_name(r.act.scheme));
    if (r.act.scheme == ActScheme::static_range) f += fmt::format(" ({})", range_calibrator_name(r.act_calibration.method));
    if (r.act.outlier_threshold > 0) f += fmt::format(" int8-outliers>{}", r.act.outlier_threshold);
  }
  return f;
}

// --only / --skip: a subset of the grid points by run id; an id the grid lacks is an error.
void select_runs(Experiment& ex, const std::vector<std::string>& only, const std::vector<std::string>& skip) {
  auto check = [&](const std::vector<std::string>& ids, const char* option) {
    for (const std::string& id : ids)
      if (std::none_of(ex.runs.begin(), ex.runs.end(), [&](const RunConfig& r) { return r.run_id == id; }))
        fail("{} {}: no such grid point in {} (ids are r0000 … r{:04})", option, id, ex.path, ex.grid_points - 1);
  };
  check(only, "--only");
  check(skip, "--skip");
  auto named = [](const std::vector<std::string>& ids, const std::string& id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); };
  std::erase_if(ex.runs, [&](const RunConfig& r) { return (!only.empty() && !named(only, r.run_id)) || named(skip, r.run_id); });
}

// The grid as it would run: checked against the plugins' declarations, no weights loaded.
int dry_run(const Experiment& ex, const RunArgs& args, const std::optional<Shard>& shard) {
  PluginRegistry registry = PluginRegistry::discover(args.plugin_dirs);
  Table t({"run", "setting", "pipeline", "format", "model"});
  for (const RunConfig& r : ex.runs) {
    const std::string setting = setting_text(r.sweep_point);
    const bool present = std::filesystem::exists(r.model_path);
    t.add_row({r.run_id, setting.empty() ? "-" : setting, describe_pipeline(r, registry), format_text(r),
               r.model_path + (present ? "" : "  (missing)")});
  }
  fmt::print("{}: {} grid point(s){}{}\n{}", ex.path, ex.grid_points, ex.sweep_mode == SweepMode::none ? "" : fmt::format(", {} sweep", kSweepModes.name(ex.sweep_mode)),
             shard ? fmt::format(", shard {}/{} ({}) runs {}", shard->index, shard->count, shard->source, ex.runs.size()) : "",
             t.render());
  if (!ex.runs.empty()) {
    const RunConfig& r = ex.runs[0];
    fmt::print("calibration: {} ({} sampler, {} × {} tokens, seed {})\neval: ", r.calibration.data.empty() ? "none" : r.calibration.data,
               kSamplers.name(r.calibration.sampler), r.calibration.n_segments, r.calibration.seq_len, r.calibration.seed);
    for (const std::string& e : r.eval_data) fmt::print("{} ", e);
    fmt::print("(seq_len {})\n", r.eval_seq_len);
  }
  // Each run's plan, exactly as the log will record the one its walk executes.
  std::string opened;
  std::unique_ptr<WeightSource> source;
  for (const RunConfig& r : ex.runs) {
    if (!std::filesystem::exists(r.model_path)) continue;
    if (r.model_path != opened) {
      source = open_weight_source(r.model_path);
      opened = r.model_path;
    }
    fmt::print("\n{}", plan_text(resolve_plan(r, source->config(), source->linears(), pipeline_needs(r, registry))));
  }
  return 0;
}
}  // namespace

Command add_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "run an experiment file: quantize, measure, evaluate, log to HDF5");
  cmd->add_option("experiment", args->experiment, "experiment TOML file")->required();
  cmd->add_option("--out", args->out, "log file (default: results/runs/<name>.h5, or <name>.shard<i>of<n>.h5)");
  cmd->add_option("--set", args->sets, "override a key before validation: key=value (e.g. quant.bits=3)");
  cmd->add_option("--plugin-path", args->plugin_dirs, "extra plugin directories (searched first)");
  CLI::Option* resume = cmd->add_flag("--resume", args->resume, "continue the log's unfinished runs from their last finished block");
  cmd->add_flag("--overwrite", args->overwrite, "replace an existing qlab log at --out (never any other file)")->excludes(resume);
  cmd->add_option("--only", args->only, "run only these grid points (e.g. --only r0002 r0005); retries a crashed one")->delimiter(',');
  cmd->add_option("--skip", args->skip, "leave these grid points out")->delimiter(',');
  cmd->add_option("--hook-timeout", args->hook_timeout_s,
                  "seconds a plugin hook may run; past it the process stops and --resume marks the run crashed (default: no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--keep-quantized", args->keep_quantized,
                "keep each finished run's packed quantized blocks (LOG.h5.blocks/<run>/; default: removed once the run is done)");
  cmd->add_flag("--dry-run", args->dry_run, "list the grid points and each one's plan (formats per linear, stages, statistics); load no weight");
  cmd->add_option("--shard", args->shard, "run shard i of n (0-based, points with index ≡ i mod n); default from a Slurm array job");
  cmd->add_option("--threads", args->threads, "threads (default: all cores)")->check(whole_number_in(0, kMaxThreads));
  args->memory.add_to(*cmd);
  args->device.add_to(*cmd);
  return [args]() {
    set_threads(args->threads);
    Experiment ex = load_experiment(args->experiment, args->sets);
    const std::optional<Shard> shard = resolve_shard(args->shard);
    if (shard) select_shard(ex, *shard);
    select_runs(ex, args->only, args->skip);
    if (args->dry_run) return dry_run(ex, *args, shard);
    RunOptions opt;
    opt.log_path = !args->out.empty() ? args->out
                   : shard            ? fmt::format("results/runs/{}.shard{}of{}.h5", ex.name, shard->index, shard->count)
                                      : fmt::format("results/runs/{}.h5", ex.name);
    opt.resume = args->resume;
    opt.overwrite = args->overwrite;
    opt.retry_crashed = !args->only.empty();
    opt.hook_timeout_s = args->hook_timeout_s;
    opt.keep_quantized = args->keep_quantized;
    opt.plugin_dirs = args->plugin_dirs;
    opt.eval_activations = args->memory.precision();
    opt.max_memory = args->memory.max_memory;
    const std::unique_ptr<Backend> device = args->device.open();
    opt.device = device.get();
    opt.max_device_memory = args->device.max_device_memory;
    if (shard) fmt::print(stderr, "shard {}/{} ({}): {} of {} grid points\n", shard->index, shard->count, shard->source, ex.runs.size(), ex.grid_points);
    ExperimentSummary s = run_experiment(ex, opt);
    std::fflush(stderr);
    fmt::print("\n{}\nlog: {}\n", runs_table(s).render(), opt.log_path);
    for (const RunSummary& r : s.runs) {
      if (r.status != "done") return 1;
      for (const ExportSummary& e : r.exports)
        if (e.status != "done") return 1;
    }
    return 0;
  };
}

}  // namespace qlab::cli
