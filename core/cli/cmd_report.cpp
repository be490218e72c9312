// `qlab report`: the tables of an experiment log, from the log alone; with --against, the
// published values beside ours; with --plot, a PNG drawn by gnuplot; with --plan RUN, the
// plan that run executed.
#include <fmt/format.h>

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

Table comparison_table(const std::vector<Comparison>& rows) {
  Table t({"run", "model", "method", "W bits", "A bits", "group", "dataset", "published", "qlab", "qlab − published"});
  for (const Comparison& c : rows)
    t.add_row({c.run, std::filesystem::path(c.model).filename().string(), c.method, std::to_string(c.w_bits), std::to_string(c.a_bits),
               c.group_size > 0 ? std::to_string(c.group_size) : "-", c.dataset, c.published ? number(*c.published) : "no published row",
               fmt::format("{:.4f}", c.ours), c.published ? fmt::format("{:+.2f}", c.ours - *c.published) : "-"});
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
    runs.push_back({{"run", r.run_id}, {"status", r.status}, {"error", r.error}, {"sweep", sweep}, {"identity", r.identity},
                    {"bits_per_weight", r.bits_per_weight}, {"mean_rel_output_error", r.mean_rel_output_error},
                    {"ppl", ppl}, {"block_rel_output_error", r.block_error}, {"linear_rel_output_error", r.linear_kind_error},
                    {"exports", exports}});
  }
  nlohmann::json float_ppl = nlohmann::json::object();
  for (const auto& [k, v] : s.float_ppl) float_ppl[k] = v;
  return {{"experiment", s.experiment}, {"float_ppl", float_ppl}, {"runs", runs}};
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
        for (const Comparison& c : compared)
          rows.push_back({{"run", c.run}, {"model", c.model}, {"method", c.method}, {"w_bits", c.w_bits}, {"a_bits", c.a_bits},
                          {"group_size", c.group_size}, {"dataset", c.dataset}, {"qlab", c.ours},
                          {"published", c.published ? nlohmann::json(*c.published) : nlohmann::json(nullptr)}});
        j["against"] = {{"table", published->path}, {"citation", published->citation}, {"rows", rows}};
      }
      fmt::print("{}\n", j.dump(2));
      return 0;
    }
    Table runs = runs_table(s), blocks = block_error_table(s);
    if (a->format == "csv") {
      fmt::print("{}", published ? comparison_table(compared).render_csv() : runs.render_csv());
      return 0;
    }
    fmt::print("# {}\n\n{}\n## Relative block output error by block\n\n{}", s.experiment, runs.render_markdown(), blocks.render_markdown());
    fmt::print("\n## Relative output error by linear (mean over blocks)\n\n{}", linear_kind_error_table(s).render_markdown());
    if (published) {
      fmt::print("\n## Against {}\n\n", published->path);
      for (const std::string& c : published->citation) fmt::print("> {}\n", c);
      fmt::print("\n{}", comparison_table(compared).render_markdown());
    }
    if (!a->plot.empty()) fmt::print("\n![{}]({})\n", s.experiment, a->plot);
    for (const RunSummary& r : s.runs)
      if (!r.error.empty()) fmt::print("\n{} failed: {}\n", r.run_id, r.error);
    return 0;
  };
}

}  // namespace qlab::cli
