#include "log/log_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

namespace qlab {

namespace {
std::vector<std::pair<std::string, double>> read_ppl(hid_t file, const std::string& group) {
  std::vector<std::pair<std::string, double>> out;
  if (!h5::exists(file, group + "/eval")) return out;
  h5::Handle g = h5::open_group(file, group + "/eval");
  for (const std::string& ds : h5::children(g.id())) {
    h5::Handle d = h5::open_group(g.id(), ds);
    out.emplace_back(ds, h5::attr_double(d.id(), "ppl"));
  }
  return out;
}
const std::set<std::string> kRunAttrs = {"status", "error", "started_utc", "finished_utc", "plan"};

bool is_float_group(const std::string& name) { return name == "float" || name.rfind("float_m", 0) == 0; }

// The columns of task_results_table: (task, metric) in the order the log first shows them.
std::vector<std::pair<std::string, std::string>> task_metric_columns(const ExperimentSummary& s) {
  std::vector<std::pair<std::string, std::string>> columns;
  auto add = [&](const LoggedTasks& logged) {
    for (const TaskResult& t : logged.tasks) {
      if (t.task.find('/') != std::string::npos) continue;  // an MMLU subject: "mmlu" stands for them
      for (const MetricValue& m : t.metrics)
        if (std::find(columns.begin(), columns.end(), std::pair(t.task, m.name)) == columns.end()) columns.emplace_back(t.task, m.name);
    }
  };
  for (const FloatTasks& f : s.float_tasks) add(f.tasks);
  for (const RunSummary& r : s.runs) add(r.tasks);
  return columns;
}

// "v0.4", "v0.4.10 BOS limit 100": what decides whether two task results are comparable.
std::string harness_protocol(const LoggedTasks& t) {
  std::string text = t.harness + (t.bos ? " BOS" : "");
  if (t.limit > 0) text += fmt::format(" limit {}", t.limit);
  if (t.max_length > 0) text += fmt::format(" max_length {}", t.max_length);
  return text;
}
}  // namespace

ExperimentSummary read_summary(const ExperimentLog& log) {
  ExperimentSummary s;
  const hid_t f = log.file();
  s.experiment = h5::has_attr(f, "experiment") ? h5::attr_string(f, "experiment") : "";
  s.float_ppl = read_ppl(f, "float");
  if (h5::exists(f, "float")) {
    h5::Handle fg = h5::open_group(f, "float");
    if (h5::has_attr(fg.id(), "identity.model")) s.float_model = h5::attr_string(fg.id(), "identity.model");
  }
  for (const std::string& group : h5::children(f)) {
    if (!is_float_group(group) || !h5::is_group(f, group)) continue;
    LoggedTasks tasks = read_task_results(f, group);
    if (tasks.tasks.empty()) continue;
    h5::Handle g = h5::open_group(f, group);
    s.float_tasks.push_back({group, h5::has_attr(g.id(), "identity.model") ? h5::attr_string(g.id(), "identity.model") : "", std::move(tasks)});
  }
  if (!h5::exists(f, "runs")) return s;
  h5::Handle runs = h5::open_group(f, "runs");
  for (const std::string& id : h5::children(runs.id())) {
    h5::Handle g = h5::open_group(runs.id(), id);
    RunSummary r;
    r.run_id = id;
    r.status = h5::attr_string(g.id(), "status");
    r.error = h5::attr_string(g.id(), "error");
    // Sweep axes are the run's other attributes, in name order.
    std::vector<std::string> names;
    H5Aiterate2(g.id(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
                [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
                  static_cast<std::vector<std::string>*>(data)->push_back(name);
                  return 0;
                },
                &names);
    for (const std::string& n : names) {
      if (n.rfind("identity.", 0) == 0) {
        const bool text = n == "identity.model" || n == "identity.method";
        r.identity[n.substr(9)] = text ? h5::attr_string(g.id(), n) : std::to_string(h5::attr_int(g.id(), n));
      } else if (!kRunAttrs.count(n)) {
        r.sweep_point.emplace_back(n, h5::attr_string(g.id(), n));
      }
    }
    if (h5::exists(g.id(), "linears")) {
      h5::Handle lin = h5::open_group(g.id(), "linears");
      std::vector<double> rows = h5::read_numbers(lin.id(), "n_rows"), cols = h5::read_numbers(lin.id(), "n_cols"),
                          bpw = h5::read_numbers(lin.id(), "bits_per_weight"), err = h5::read_numbers(lin.id(), "rel_output_error");
      double weights = 0, bits = 0, rel = 0;
      for (size_t i = 0; i < rows.size(); ++i) {
        weights += rows[i] * cols[i];
        bits += rows[i] * cols[i] * bpw[i];
        rel += err[i];
      }
      r.n_linears = static_cast<int64_t>(rows.size());
      const std::vector<std::string> ids = h5::read_strings(lin.id(), "id");
      std::map<std::string, std::pair<double, int>> kinds;  // "3.self_attn.q_proj" → "self_attn.q_proj"
      std::vector<std::string> order;
      for (size_t i = 0; i < ids.size() && i < err.size(); ++i) {
        const std::string kind = ids[i].substr(ids[i].find('.') + 1);
        if (!kinds.count(kind)) order.push_back(kind);
        kinds[kind].first += err[i];
        kinds[kind].second += 1;
      }
      for (const std::string& k : order) r.linear_kind_error.emplace_back(k, kinds[k].first / kinds[k].second);
      r.bits_per_weight = weights > 0 ? bits / weights : 0;
      r.mean_rel_output_error = rows.empty() ? 0 : rel / static_cast<double>(rows.size());
    }
    if (h5::exists(g.id(), "blocks")) {
      h5::Handle b = h5::open_group(g.id(), "blocks");
      r.block_error = h5::read_numbers(b.id(), "rel_block_output_error");
    }
    r.ppl = read_ppl(f, "runs/" + id);
    r.tasks = read_task_results(f, "runs/" + id);
    if (h5::exists(g.id(), "exports")) {
      h5::Handle ex = h5::open_group(g.id(), "exports");
      for (const std::string& format : h5::children(ex.id())) {
        h5::Handle e = h5::open_group(ex.id(), format);
        auto text = [&](const char* a) { return h5::has_attr(e.id(), a) ? h5::attr_string(e.id(), a) : std::string(); };
        r.exports.push_back({format, text("path"), text("status"), text("error"), read_ppl(f, "runs/" + id + "/exports/" + format)});
      }
    }
    s.runs.push_back(std::move(r));
  }
  return s;
}

cli::Table runs_table(const ExperimentSummary& s) {
  std::vector<std::string> header = {"run", "setting", "avg bits"};
  for (const auto& [ds, ppl] : s.float_ppl) header.push_back("ppl " + ds);
  header.insert(header.end(), {"mean rel err", "status"});
  cli::Table t(header);
  std::vector<std::string> first = {"float", "-", "32"};
  for (const auto& [ds, ppl] : s.float_ppl) first.push_back(fmt::format("{:.4f}", ppl));
  first.insert(first.end(), {"-", "done"});
  t.add_row(first);
  for (const RunSummary& r : s.runs) {
    const std::string setting = setting_text(r.sweep_point);
    std::vector<std::string> row = {r.run_id, setting.empty() ? "-" : setting,
                                    r.bits_per_weight > 0 ? fmt::format("{:.3f}", r.bits_per_weight) : "-"};
    for (const auto& [ds, fp] : s.float_ppl) {
      auto it = std::find_if(r.ppl.begin(), r.ppl.end(), [&](const auto& p) { return p.first == ds; });
      row.push_back(it == r.ppl.end() ? "-" : fmt::format("{:.4f}", it->second));
    }
    row.push_back(r.n_linears > 0 ? fmt::format("{:.3e}", r.mean_rel_output_error) : "-");
    row.push_back(r.status);
    t.add_row(row);
    for (const ExportSummary& e : r.exports) {  // the checkpoint read back: its perplexity beside the run's
      std::vector<std::string> erow = {"", fmt::format("└ {} export: {}", e.format, std::filesystem::path(e.path).filename().string()), "-"};
      for (const auto& [ds, fp] : s.float_ppl) {
        auto it = std::find_if(e.ppl.begin(), e.ppl.end(), [&](const auto& p) { return p.first == ds; });
        erow.push_back(it == e.ppl.end() ? "-" : fmt::format("{:.4f}", it->second));
      }
      erow.insert(erow.end(), {"-", e.status});
      t.add_row(erow);
    }
  }
  return t;
}

cli::Table block_error_table(const ExperimentSummary& s) {
  size_t n_blocks = 0;
  for (const RunSummary& r : s.runs) n_blocks = std::max(n_blocks, r.block_error.size());
  std::vector<std::string> header = {"block"};
  for (const RunSummary& r : s.runs) header.push_back(r.run_id);
  cli::Table t(header);
  for (size_t b = 0; b < n_blocks; ++b) {
    std::vector<std::string> row = {std::to_string(b)};
    for (const RunSummary& r : s.runs) row.push_back(b < r.block_error.size() ? fmt::format("{:.3e}", r.block_error[b]) : "-");
    t.add_row(row);
  }
  return t;
}

cli::Table linear_kind_error_table(const ExperimentSummary& s) {
  std::vector<std::string> kinds;
  for (const RunSummary& r : s.runs)
    for (const auto& [k, v] : r.linear_kind_error)
      if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) kinds.push_back(k);
  std::vector<std::string> header = {"linear"};
  for (const RunSummary& r : s.runs) header.push_back(r.run_id);
  cli::Table t(header);
  for (const std::string& k : kinds) {
    std::vector<std::string> row = {k};
    for (const RunSummary& r : s.runs) {
      auto it = std::find_if(r.linear_kind_error.begin(), r.linear_kind_error.end(), [&](const auto& p) { return p.first == k; });
      row.push_back(it == r.linear_kind_error.end() ? "-" : fmt::format("{:.3e}", it->second));
    }
    t.add_row(row);
  }
  return t;
}

std::optional<double> task_metric(const LoggedTasks& logged, const std::string& task, const std::string& metric) {
  for (const TaskResult& r : logged.tasks)
    if (r.task == task)
      for (const MetricValue& m : r.metrics)
        if (m.name == metric) return m.value;
  return std::nullopt;
}

cli::Table task_results_table(const ExperimentSummary& s) {
  const std::vector<std::pair<std::string, std::string>> columns = task_metric_columns(s);
  std::vector<std::string> header = {"run", "harness"};
  for (const auto& [task, metric] : columns) header.push_back(task + " " + metric);
  cli::Table t(header);
  if (columns.empty()) return t;
  auto add_row = [&](const std::string& name, const LoggedTasks& logged) {
    std::vector<std::string> row = {name, logged.tasks.empty() ? "-" : harness_protocol(logged)};
    for (const auto& [task, metric] : columns) {
      const std::optional<double> v = task_metric(logged, task, metric);
      row.push_back(v ? fmt::format("{:.4f}", *v) : "-");
    }
    t.add_row(row);
  };
  for (const FloatTasks& f : s.float_tasks) add_row(f.group, f.tasks);
  for (const RunSummary& r : s.runs) add_row(r.run_id, r.tasks);
  return t;
}

}  // namespace qlab
