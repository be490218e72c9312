// `qlab report`: the tables of an experiment log (zero-shot task results among them), from
// the log alone; with --against, the published values (perplexities or task metrics) beside
// ours; with --plot, a PNG drawn by gnuplot; with --plan RUN, the plan that run executed.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "log/log_summary.h"
#include "report/plot.h"
#include "report/published_table.h"
#include "util/error.h"

namespace qlab::cli {

namespace {

std::string number(double v) { return v >= 1000 ? fmt::format("{:.4g}", v) : fmt::format("{:.2f}", v); }

Table comparison_table(const PublishedTable& table, const std::vector<Comparison>& rows) {
  const bool tasks = table.form == PublishedForm::task;
  std::vector<std::string> header = {"run", "model", "method", "W bits", "A bits", "group"};
  if (tasks) header.insert(header.end(), {"task", "metric"});
  else header.push_back("dataset");
  header.insert(header.end(), {"published", "qlab", "qlab − published"});
  Table t(header);
  for (const Comparison& c : rows) {
    std::vector<std::string> row = {c.run, std::filesystem::path(c.model).filename().string(), c.method, std::to_string(c.w_bits),
                                    std::to_string(c.a_bits), c.group_size > 0 ? std::to_string(c.group_size) : "-"};
    if (tasks) row.insert(row.end(), {c.task, c.metric});
    else row.push_back(c.dataset);
    // Task metrics are fractions: four decimals are a hundredth of a percentage point, as papers print.
    row.push_back(!c.published ? "no published row" : tasks ? fmt::format("{:.4f}", *c.published) : number(*c.published));
    row.push_back(fmt::format("{:.4f}", c.ours));
    row.push_back(!c.published ? "-" : tasks ? fmt::format("{:+.4f}", c.ours - *c.published) : fmt::format("{:+.2f}", c.ours - *c.published));
    t.add_row(row);
  }
  return t;
}

// A run's (or float model's) zero-shot results: the harness protocol and every task's metrics,
// MMLU's subjects included ("mmlu/anatomy").
nlohmann::json tasks_json(const LoggedTasks& logged) {
  nlohmann::json results = nlohmann::json::object();
  for (const TaskResult& r : logged.tasks) {
    nlohmann::json task = {{"n", r.n}};
    for (const MetricValue& m : r.metrics) {
      task[m.name] = m.value;
      if (std::isfinite(m.stderr_)) task[m.name + "_stderr"] = m.stderr_;
    }
    results[r.task] = task;
  }
  return {{"harness", logged.harness}, {"bos", logged.bos}, {"max_length", logged.max_length}, {"limit", logged.limit}, {"results", results}};
}

// The runs table with the task columns beside each row (CSV is one table): rows match by run,
// and a float model the runs table has no row for (float_m1…) gets its own.
Table with_task_columns(const Table& runs, const Table& tasks) {
  std::vector<std::string> header = runs.header();
  header.insert(header.end(), tasks.header().begin() + 1, tasks.header().end());
  Table t(header);
  const std::vector<std::string> no_tasks(tasks.header().size() - 1, "-");
  std::vector<bool> used(tasks.rows().size(), false);
  for (const std::vector<std::string>& row : runs.rows()) {
    std::vector<std::string> joined = row;
    auto it = std::find_if(tasks.rows().begin(), tasks.rows().end(), [&](const auto& r) { return !row[0].empty() && r[0] == row[0]; });
    if (it != tasks.rows().end()) {
      used[it - tasks.rows().begin()] = true;
      joined.insert(joined.end(), it->begin() + 1, it->end());
    } else {
      joined.insert(joined.end(), no_tasks.begin(), no_tasks.end());
    }
    t.add_row(joined);
  }
  for (size_t i = 0; i < tasks.rows().size(); ++i) {
    if (used[i]) continue;
    std::vector<std::string> joined(runs.header().size(), "-");
    joined[0] = tasks.rows()[i][0];
    joined.insert(joined.end(), tasks.rows()[i].begin() + 1, tasks.rows()[i].end());
    t.add_row(joined);
  }
  return t;
}

nlohmann::json summary_json(const ExperimentSummary& s) {
  nlohmann::json runs = nlohmann::json::array();
  for (const RunSummary& r : s.runs) {
    nlohmann::json sweep = nlohmann::json::object(), ppl = nlohmann::json::object();
    for (const auto& [k, v] : r.sweep_point) sweep[k] = v;
    for (const auto& [k, v] : r.ppl) ppl[k] = v;
    nlohmann::json exports = nlohmann::json::array();
    for (const ExportSummary& e : r.exports) {
      nlohmann::json eppl = nlohmann::json::object();
      for (const auto& [k, v] : e.ppl) eppl[k] = v;
      exports.push_back({{"format", e.format}, {"path", e.path}, {"status", e.status}, {"error", e.error}, {"ppl", eppl}});
    }
    nlohmann::json run = {{"run", r.run_id}, {"status", r.status}, {"error", r.error}, {"sweep", sweep}, {"identity", r.identity},
                          {"bits_per_weight", r.bits_per_weight}, {"mean_rel_output_error", r.mean_rel_output_error},
                          {"ppl", ppl}, {"block_rel_output_error", r.block_error}, {"linear_rel_output_error", r.linear_kind_error},
                          {"exports", exports}};
    if (!r.tasks.tasks.empty()) run["tasks"] = tasks_json(r.tasks);
    runs.push_back(run);
  }
  nlohmann::json float_ppl = nlohmann::json::object();
  for (const auto& [k, v] : s.float_ppl) float_ppl[k] = v;
  nlohmann::json j = {{"experiment", s.experiment}, {"float_ppl", float_ppl}, {"runs", runs}};
  // Logs without task results keep the keys they always had.
  if (!s.float_tasks.empty()) {
    nlohmann::json float_tasks = nlohmann::json::object();
    for (const FloatTasks& f : s.float_tasks) float_tasks[f.group] = tasks_json(f.tasks);
    j["float_tasks"] = float_tasks;
  }
  return j;
}

}  // namespace

Command add_report(CLI::App& app) {
  struct Args {
    std::string path, format = "md", against, plot, plan;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("report", "print the run table and per-block errors of an experiment log");
  cmd->add_option("log", a->path, "experiment log (.h5)")->required();
  cmd->add_option("--format", a->format, "md, csv or json")->check(CLI::IsMember({"md", "csv", "json"}));
  cmd->add_option("--against", a->against, "a published table (results/published/*.csv): its values beside ours");
  cmd->add_option("--plot", a->plot, "also draw perplexity vs bits and block error vs depth into this PNG (gnuplot)");
  cmd->add_option("--plan", a->plan, "print the plan run RUN executed (as `qlab run --dry-run` printed it) and nothing else");
  return [a]() {
    if (!a->plan.empty()) {
      const std::string text = ExperimentLog::open_read(a->path).read_plan(a->plan);
      if (text.empty()) fail("{}: run {} has no recorded plan (absent, or its walk did not finish)", a->path, a->plan);
      fmt::print("{}", text);
      return 0;
    }
    ExperimentSummary s = read_summary(ExperimentLog::open_read(a->path));
    std::optional<PublishedTable> published;
    std::vector<Comparison> compared;
    if (!a->against.empty()) {
      published = read_published(a->against);
      compared = compare_with_published(s, *published);
    }
    if (!a->plot.empty()) plot_report(s, a->plot);
    if (a->format == "json") {
      nlohmann::json j = summary_json(s);
      if (published) {
        nlohmann::json rows = nlohmann::json::array();
        for (const Comparison& c : compared) {
          nlohmann::json row = {{"run", c.run}, {"model", c.model}, {"method", c.method}, {"w_bits", c.w_bits}, {"a_bits", c.a_bits},
                                {"group_size", c.group_size}, {"qlab", c.ours},
                                {"published", c.published ? nlohmann::json(*c.published) : nlohmann::json(nullptr)}};
          if (published->form == PublishedForm::task) {
            row["task"] = c.task;
            row["metric"] = c.metric;
          } else {
            row["dataset"] = c.dataset;
          }
          rows.push_back(row);
        }
        j["against"] = {{"table", published->path}, {"citation", published->citation}, {"rows", rows}};
      }
      fmt::print("{}\n", j.dump(2));
      return 0;
    }
    Table runs = runs_table(s), blocks = block_error_table(s), tasks = task_results_table(s);
    const bool has_tasks = !tasks.rows().empty();
    if (a->format == "csv") {
      fmt::print("{}", published ? comparison_table(*published, compared).render_csv()
                       : has_tasks ? with_task_columns(runs, tasks).render_csv()
                                   : runs.render_csv());
      return 0;
    }
    fmt::print("# {}\n\n{}\n## Relative block output error by block\n\n{}", s.experiment, runs.render_markdown(), blocks.render_markdown());
    fmt::print("\n## Relative output error by linear (mean over blocks)\n\n{}", linear_kind_error_table(s).render_markdown());
    if (has_tasks) fmt::print("\n## Zero-shot tasks\n\n{}", tasks.render_markdown());
    if (published) {
      fmt::print("\n## Against {}\n\n", published->path);
      for (const std::string& c : published->citation) fmt::print("> {}\n", c);
      fmt::print("\n{}", comparison_table(*published, compared).render_markdown());
    }
    if (!a->plot.empty()) fmt::print("\n![{}]({})\n", s.experiment, a->plot);
    for (const RunSummary& r : s.runs)
      if (!r.error.empty()) fmt::print("\n{} failed: {}\n", r.run_id, r.error);
    return 0;
  };
}

}  // namespace qlab::cli
