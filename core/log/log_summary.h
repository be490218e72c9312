// What a log says, summarised: the float perplexities and, per run, its sweep point,
// status, average bits per weight, mean per-linear error and perplexities; and per-block
// error; and the zero-shot task results of the float models and the runs. The numbers come
// from the log alone (qlab run prints the same table at its end).
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/sweep_point.h"
#include "util/table.h"
#include "log/experiment_log.h"
#include "log/task_log.h"

namespace qlab {

// A checkpoint written from a run ([export], qlab export), and its perplexity read back.
struct ExportSummary {
  std::string format, path, status, error;
  std::vector<std::pair<std::string, double>> ppl;  // dataset group → ppl ([export] only)
};

struct RunSummary {
  std::string run_id, status, error;
  SweepPoint sweep_point;
  double bits_per_weight = 0, mean_rel_output_error = 0;
  int64_t n_linears = 0;
  std::vector<std::pair<std::string, double>> ppl;  // dataset group → ppl
  std::vector<double> block_error;                  // rel_block_output_error by block
  std::map<std::string, std::string> identity;      // model, method, w_bits, a_bits, group_size (for published tables)
  std::vector<std::pair<std::string, double>> linear_kind_error;  // "self_attn.q_proj" → mean rel_output_error over blocks
  std::vector<ExportSummary> exports;
  LoggedTasks tasks;  // zero-shot results ([eval] tasks); none when not asked for
};

// A float model's zero-shot results: "float" for the experiment's first model, "float_m1"…
// for the others.
struct FloatTasks {
  std::string group, model;
  LoggedTasks tasks;
};

struct ExperimentSummary {
  std::string experiment;
  std::vector<std::pair<std::string, double>> float_ppl;  // dataset group → ppl
  std::string float_model;                                // the model behind float_ppl
  std::vector<RunSummary> runs;
  std::vector<FloatTasks> float_tasks;  // only the float groups that have task results
};

ExperimentSummary read_summary(const ExperimentLog& log);
cli::Table runs_table(const ExperimentSummary& s);
cli::Table block_error_table(const ExperimentSummary& s);
// Mean relative output error of each kind of linear (q_proj, …, down_proj) over the blocks, per run.
cli::Table linear_kind_error_table(const ExperimentSummary& s);
// One metric of one logged task ("piqa", "acc_norm"), when logged.
std::optional<double> task_metric(const LoggedTasks& logged, const std::string& task, const std::string& metric);
// Zero-shot results: a row per float model and run, the harness protocol, then a column per
// task metric ("piqa acc_norm", "mmlu acc"; MMLU's subjects left out). No rows when the log
// has no task results.
cli::Table task_results_table(const ExperimentSummary& s);

}  // namespace qlab
