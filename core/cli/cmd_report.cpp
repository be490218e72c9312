// `qlab report`: the tables of an experiment log, from the log alone.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "log/log_summary.h"
#include "util/error.h"

namespace qlab::cli {

Command add_report(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("md");
  CLI::App* cmd = app.add_subcommand("report", "print the run table and per-block errors of an experiment log");
  cmd->add_option("log", *path, "experiment log (.h5)")->required();
  cmd->add_option("--format", *format, "md, csv or json")->check(CLI::IsMember({"md", "csv", "json"}));
  return [path, format]() {
    ExperimentSummary s = read_summary(ExperimentLog::open_read(*path));
    if (*format == "json") {
      nlohmann::json runs = nlohmann::json::array();
      for (const RunSummary& r : s.runs) {
        nlohmann::json sweep = nlohmann::json::object(), ppl = nlohmann::json::object();
        for (const auto& [k, v] : r.sweep_point) sweep[k] = v;
        for (const auto& [k, v] : r.ppl) ppl[k] = v;
        runs.push_back({{"run", r.run_id}, {"status", r.status}, {"error", r.error}, {"sweep", sweep},
                        {"bits_per_weight", r.bits_per_weight}, {"mean_rel_output_error", r.mean_rel_output_error},
                        {"ppl", ppl}, {"block_rel_output_error", r.block_error}});
      }
      nlohmann::json float_ppl = nlohmann::json::object();
      for (const auto& [k, v] : s.float_ppl) float_ppl[k] = v;
      fmt::print("{}\n", nlohmann::json{{"experiment", s.experiment}, {"float_ppl", float_ppl}, {"runs", runs}}.dump(2));
      return 0;
    }
    Table runs = runs_table(s), blocks = block_error_table(s);
    if (*format == "csv") {
      fmt::print("{}", runs.render_csv());
      return 0;
    }
    fmt::print("# {}\n\n{}\n## Relative block output error by block\n\n{}", s.experiment, runs.render_markdown(), blocks.render_markdown());
    for (const RunSummary& r : s.runs)
      if (!r.error.empty()) fmt::print("\n{} failed: {}\n", r.run_id, r.error);
    return 0;
  };
}

}  // namespace qlab::cli
