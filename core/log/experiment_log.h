// The experiment log (HDF5), layout as in ARCHITECTURE.md §6 and the README:
//   /                      attrs qlab_version, created_utc, host, config_toml, plugin_abi_version, experiment
//   /plugins/<name>        attrs path, version, sha256, params
//   /calibration           attrs data, path, sha256, sampler, n_segments, seq_len, seed; segment_documents, segment_starts
//   /float/eval/<dataset>  attrs ppl, seq_len, n_segments, n_tokens, data, sha256; nll
//   /runs/<run_id>         attrs <sweep axis> = value, status (running|done|failed), error, started_utc, finished_utc,
//                          plan (the plan the walker executed, as `qlab run --dry-run` prints it)
//   /runs/<run_id>/provenance       attrs model_path, tokenizer_path, quantizer, quantizer_params (what `qlab export` reads)
//   /runs/<run_id>/linears columns id, block, bits, group_size, n_rows, n_cols, rel_output_error, weight_mse,
//                          time_quantize_s, bits_per_weight, <plugin>.<metric> (NaN before first use)
//   /runs/<run_id>/blocks  columns block, rel_block_output_error, time_capture_s, time_transform_s,
//                          time_quantize_s, time_propagate_s, peak_rss_bytes
//   /runs/<run_id>/eval/<dataset>   as /float/eval
//   /runs/<run_id>/exports/<format> attrs path, status (done|failed), error, max_abs_weight_change, re_encoded, utc;
//                                   eval/<dataset> as /float/eval (the export read back, [export] only)
//   (root also: inputs (JSON: what a resume must find unchanged, thread count included), grid_points)
// Each change is one atomic commit (log/log_file.h): a block's linear and block rows land
// together, and a killed run leaves its finished blocks and status=running.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/data_spec.h"
#include "eval/perplexity.h"
#include "log/h5.h"
#include "util/sweep_point.h"

namespace qlab {

struct LinearRow {
  std::string id;
  int32_t block = 0, bits = 0, group_size = 0;
  int64_t n_rows = 0, n_cols = 0;
  double rel_output_error = 0, weight_mse = 0, time_quantize_s = 0, bits_per_weight = 0;
  double hessian_trace = 0;  // tr(H) of the linear's input: the bit allocation's proxy, not logged
  std::map<std::string, double> metrics;  // "<plugin>.<metric>"
};

struct BlockRow {
  int32_t block = 0;
  double rel_block_output_error = 0, time_capture_s = 0, time_transform_s = 0, time_quantize_s = 0, time_propagate_s = 0;
  int64_t peak_rss_bytes = 0;
};

struct EvalRecord {
  std::string dataset;  // the data spec
  PerplexityResult result;
  DataProvenance provenance;
};

// What published tables match a run on (`qlab report --against`): its identity.* attributes.
struct RunIdentity {
  std::string model, method;
  int64_t w_bits = 0, a_bits = 16, group_size = 0;  // a_bits 16: activations unquantized
};

// Where an export went and how far its weights are from the run's (0: exact), or why it failed.
struct ExportRecord {
  std::string path;
  double max_abs_weight_change = 0;
  int64_t re_encoded = 0;  // tensors whose codes were re-encoded in another grid
  std::string error;       // "" when it was written
};

// The files a run read its weights and tokenizer from (absolute paths), and the plugin that
// made its codes with its parameters ("damp_frac=0.01, act_order=true").
struct RunProvenance {
  std::string model_path, tokenizer_path, quantizer, quantizer_params;
};

// What a run reads, each with a fingerprint ("threads" → "2", "model /m/config.json" →
// "size 614 mtime 1733…", "plugin rtn" → its sha256); a resume refuses any difference.
using RunInputs = std::map<std::string, std::string>;

class LogLock;

class ExperimentLog {
 public:
  // A new log. An existing file is refused, unless `overwrite` and it is a qlab log (then it
  // and its LOG.blocks/ are replaced).
  static ExperimentLog create(const std::string& path, const std::string& experiment, const std::string& config_text,
                              const RunInputs& inputs = {}, bool overwrite = false);
  // An existing log to continue: same configuration text, same inputs, intact structure.
  static ExperimentLog resume(const std::string& path, const std::string& config_text, const RunInputs& inputs);
  // A log to read (checksum and structure checked first).
  static ExperimentLog open_read(const std::string& path);
  // A finished log to add records to (exports), checked as open_read checks it.
  static ExperimentLog amend(const std::string& path);

  const std::string& path() const { return path_; }
  hid_t file() const;  // logs opened with open_read
  // One atomic change of a writer's log.
  void update(const std::function<void(hid_t)>& change);

  void write_plugin(const std::string& name, const std::string& path, const std::string& version,
                    const std::string& sha256, const std::string& params);
  void write_calibration(const DataProvenance& p, const std::string& sampler, int64_t n_segments, int64_t seq_len,
                         int64_t seed, const std::vector<int64_t>& documents, const std::vector<int64_t>& starts);
  void write_eval(const std::string& group_path, const EvalRecord& e);  // group_path: "float" or "runs/r0000"
  bool has_eval(const std::string& group_path, const std::string& dataset) const;
  bool exists(const std::string& object_path) const;  // a group or column at this path
  EvalRecord read_eval(const std::string& group_path, const std::string& dataset) const;

  // Where this session computes: "backend" ("cpu", "cuda:0"), "backend_device" (the
  // hardware), "gemm_precision" and "backend_host_stages" (what a device run still does on
  // the host) at the root; a resumed log records its latest session.
  void write_backend(const std::string& name, const std::string& device, const std::string& gemm_precision);
  void set_grid_points(int64_t n);  // runs in the whole grid: what `qlab merge` expects
  // identity.model of a float group ("float", "float_m1": one per model of the grid).
  void write_float_identity(const std::string& float_group, const std::string& model);
  void write_run_identity(const std::string& run_id, const RunIdentity& identity);
  // How the run's evaluation quantizes activations and the KV cache: runs/<id>/activation
  // {bits (0: off), scheme, clip_ratio, kv_bits (0: off), kv_clip_ratio}.
  void write_activation_quant(const std::string& run_id, int64_t bits, const std::string& scheme, double clip_ratio, int64_t kv_bits,
                              double kv_clip_ratio);
  // What a run read and which quantizer made its codes: what `qlab export` reads.
  void write_run_provenance(const std::string& run_id, const RunProvenance& provenance);

  // Starts (or reopens) a run; returns how many blocks it has already finished.
  int64_t begin_run(const std::string& run_id, const SweepPoint& sweep_point);
  std::string run_status(const std::string& run_id) const;  // "" when absent
  void append_block(const std::string& run_id, const std::vector<LinearRow>& linears, const BlockRow& block);
  void finish_run(const std::string& run_id, const std::string& status, const std::string& error = "");
  // An export of a done run (`qlab export`, [export]): /runs/<run>/exports/<format>.
  void write_export(const std::string& run_id, const std::string& format, const ExportRecord& record);
  // The plan a run executed, as text (plan/plan_print.h); read_plan gives "" when none was recorded.
  void write_plan(const std::string& run_id, const std::string& text);
  std::string read_plan(const std::string& run_id) const;

 private:
  template <typename T>
  T read(const std::function<T(hid_t)>& query) const;

  std::string path_;
  h5::Handle file_;                // readers
  std::shared_ptr<LogLock> lock_;  // writers
};

std::string utc_now();
// Dataset group name for a data spec: "wikitext2:/data/wiki.test.raw" → "wikitext2_wiki.test.raw".
std::string eval_group_name(const std::string& spec);

}  // namespace qlab
