// Runs an experiment: validates every run's pipeline against the plugins found, loads each
// model once, draws the calibration segments once, evaluates the float model once, then
// walks and evaluates each run (grid point), writing everything to the HDF5 log. A run that
// fails is marked failed with its error and the others go on. --resume skips finished runs
// and continues a running one from its last finished block (the dequantized weights of
// finished blocks are kept beside the log, in LOG.blocks/, until the run is done).
#pragma once
#include <string>
#include <vector>

#include "backend/backend.h"

#include "config/experiment.h"
#include "log/log_summary.h"
#include "tensor/half.h"

namespace qlab {

struct RunOptions {
  std::string log_path;
  bool resume = false;
  std::vector<std::string> plugin_dirs;
  bool progress = true;
  bool overwrite = false;      // replace an existing qlab log at log_path
  bool retry_crashed = false;  // run grid points marked crashed again (--only names them)
  double hook_timeout_s = 0;   // a plugin hook running longer ends the process as a crash (0: none)
  bool keep_quantized = false;  // keep a done run's packed blocks (LOG.blocks/<run>/), else removed
  // Evaluation (block-major, eval/perplexity.h): the precision of the hidden states held
  // between blocks.
  StoragePrecision eval_activations = StoragePrecision::f32;
  // Memory for the blocks being worked on plus the activations held between blocks
  // (calibration inputs while quantizing, hidden states while evaluating), beyond which
  // activations spill to a directory beside the log; a quarter of it bounds the statistics
  // shared across a sweep. 0 = default_memory_budget().
  uint64_t max_memory = 0;
  // --device: quantization and evaluation run on this backend (null: the host's kernels),
  // within max_device_memory (0 = 90% of its free memory).
  Backend* device = nullptr;
  uint64_t max_device_memory = 0;
};

// Returns the log's summary once every run is done or failed.
ExperimentSummary run_experiment(const Experiment& experiment, const RunOptions& options);

}  // namespace qlab
