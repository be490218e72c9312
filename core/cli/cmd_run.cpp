// `qlab run`: an experiment file, end to end, into an HDF5 log, with a summary table.
#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.h"
#include "config/experiment.h"
#include "run/experiment_runner.h"
#include "util/parallel.h"

namespace qlab::cli {

namespace {
struct RunArgs {
  std::string experiment, out;
  std::vector<std::string> sets, plugin_dirs;
  bool resume = false;
  int threads = 0;
};
}  // namespace

Command add_run(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand("run", "run an experiment file: quantize, measure, evaluate, log to HDF5");
  cmd->add_option("experiment", args->experiment, "experiment TOML file")->required();
  cmd->add_option("--out", args->out, "log file (default: results/runs/<name>.h5)");
  cmd->add_option("--set", args->sets, "override a key before validation: key=value (e.g. quant.bits=3)");
  cmd->add_option("--plugin-path", args->plugin_dirs, "extra plugin directories (searched first)");
  cmd->add_flag("--resume", args->resume, "continue the log's unfinished runs from their last finished block");
  cmd->add_option("--threads", args->threads, "threads (default: all cores)")->check(CLI::NonNegativeNumber);
  return [args]() {
    set_threads(args->threads);
    Experiment ex = load_experiment(args->experiment, args->sets);
    RunOptions opt;
    opt.log_path = args->out.empty() ? fmt::format("results/runs/{}.h5", ex.name) : args->out;
    opt.resume = args->resume;
    opt.plugin_dirs = args->plugin_dirs;
    ExperimentSummary s = run_experiment(ex, opt);
    std::fflush(stderr);
    fmt::print("\n{}\nlog: {}\n", runs_table(s).render(), opt.log_path);
    for (const RunSummary& r : s.runs)
      if (r.status != "done") return 1;
    return 0;
  };
}

}  // namespace qlab::cli
