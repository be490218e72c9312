// Runs an experiment: validates every run's pipeline against the plugins found, loads each
// model once, draws the calibration segments once, evaluates the float model once, then
// walks and evaluates each run (grid point), writing everything to the HDF5 log. A run that
// fails is marked failed with its error and the others go on. --resume skips finished runs
// and continues a running one from its last finished block (the dequantized weights of
// finished blocks are kept beside the log, in LOG.blocks/, until the run is done).
#pragma once
#include <string>
#include <vector>

#include "config/experiment.h"

namespace qlab {

struct RunOptions {
  std::string log_path;
  bool resume = false;
  std::vector<std::string> plugin_dirs;
  bool progress = true;
};

struct RunSummary {
  std::string run_id, status, error;
  std::vector<std::pair<std::string, std::string>> sweep_point;
  double bits_per_weight = 0, mean_rel_output_error = 0, seconds = 0;
  std::vector<std::pair<std::string, double>> ppl;  // dataset spec → ppl
};

struct ExperimentSummary {
  std::vector<std::pair<std::string, double>> float_ppl;
  std::vector<RunSummary> runs;
};

ExperimentSummary run_experiment(const Experiment& experiment, const RunOptions& options);

// Plain-text summary: one row for the float model and one per run.
std::string summary_table(const ExperimentSummary& summary);

}  // namespace qlab
