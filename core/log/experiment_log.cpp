#include "log/experiment_log.h"

#include <unistd.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "log/log_file.h"
#include "log/log_structure.h"
#include "qlab/plugin.h"
#include "util/error.h"

namespace qlab {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string eval_group_name(const std::string& spec) {
  const DataSpec d = parse_data_spec(spec);
  return d.kind + "_" + std::filesystem::path(d.path).filename().string();
}

namespace {
std::string inputs_json(const RunInputs& inputs) { return nlohmann::json(inputs).dump(); }

// The differences between what the log was written from and what a resume would read. An
// input the log knows but this resume does not read is fine (--only, --skip, a shard).
std::string input_changes(const std::string& stored_json, const RunInputs& now) {
  RunInputs before;
  try {
    before = nlohmann::json::parse(stored_json).get<RunInputs>();
  } catch (const std::exception&) {
    return "its 'inputs' attribute is unreadable";
  }
  std::string out;
  auto add = [&](const std::string& line) { out += (out.empty() ? "" : "; ") + line; };
  for (const auto& [k, v] : now) {
    auto it = before.find(k);
    if (it == before.end()) add(fmt::format("{} is a new input", k));
    else if (it->second != v) add(fmt::format("{}: was {}, now {}", k, it->second, v));
  }
  return out;
}

bool is_qlab_log(const std::string& path) {
  if (has_log_signature(path)) return true;
  try {
    h5::Handle f = h5::open_file(path, false);
    return h5::has_attr(f.id(), "config_toml");
  } catch (const Error&) {
    return false;
  }
}
}  // namespace

ExperimentLog ExperimentLog::create(const std::string& path, const std::string& experiment, const std::string& config_text,
                                    const RunInputs& inputs, bool overwrite) {
  ExperimentLog log;
  log.path_ = path;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
  }
  log.lock_ = LogLock::acquire(path);
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) {
    if (!is_qlab_log(path)) fail("{}: exists and is not a qlab experiment log; refusing to replace it (choose another --out)", path);
    if (!overwrite)
      fail("{}: exists; continue it with --resume, or replace it and its checkpoints with --overwrite", path);
    std::filesystem::remove(path);
    std::filesystem::remove_all(path + ".blocks", ec);
  }
  create_log_file(path, [&](hid_t root) {
    h5::set_attr(root, "qlab_version", std::string(QLAB_VERSION));
    h5::set_attr(root, "created_utc", utc_now());
    char host[256] = {0};
    gethostname(host, sizeof host - 1);
    h5::set_attr(root, "host", std::string(host));
    h5::set_attr(root, "backend", std::string("cpu"));  // write_backend() names a device
    h5::set_attr(root, "gemm_precision", std::string("fp32"));
    h5::set_attr(root, "experiment", experiment);
    h5::set_attr(root, "config_toml", config_text);
    h5::set_attr(root, "plugin_abi_version", static_cast<int64_t>(QLAB_PLUGIN_ABI_VERSION));
    h5::set_attr(root, "inputs", inputs_json(inputs));
  });
  return log;
}

ExperimentLog ExperimentLog::resume(const std::string& path, const std::string& config_text, const RunInputs& inputs) {
  if (!std::filesystem::exists(path)) fail("{}: --resume: no such log", path);
  ExperimentLog log;
  log.path_ = path;
  log.lock_ = LogLock::acquire(path);
  ExperimentLog committed = open_read(path);
  if (h5::attr_string(committed.file(), "config_toml") != config_text)
    fail("{}: --resume: this log was written by a different configuration (config_toml differs); "
         "resume with the same experiment file and --set options, or write a new log", path);
  if (h5::has_attr(committed.file(), "inputs")) {
    const std::string changes = input_changes(h5::attr_string(committed.file(), "inputs"), inputs);
    if (!changes.empty())
      fail("{}: --resume: the run's inputs changed since the log was written ({}); finished blocks would mix two "
           "setups: restore them, or start a new log",
           path, changes);
  }
  return log;
}

ExperimentLog ExperimentLog::open_read(const std::string& path) {
  ExperimentLog log;
  log.path_ = path;
  if (!std::filesystem::exists(path)) fail("{}: no such log", path);
  if (!std::filesystem::is_regular_file(path)) fail("{}: not a regular file", path);
  verify_log_checksum(path);
  log.file_ = h5::open_file(path, false);
  if (!h5::has_attr(log.file(), "config_toml")) fail("{}: not a qlab experiment log (no config_toml)", path);
  validate_log_structure(log.file(), path);
  return log;
}

ExperimentLog ExperimentLog::amend(const std::string& path) {
  open_read(path);
  ExperimentLog log;
  log.path_ = path;
  log.lock_ = LogLock::acquire(path);
  return log;
}

void ExperimentLog::write_export(const std::string& run_id, const std::string& format, const ExportRecord& r) {
  update([&](hid_t f) {
    h5::Handle g = h5::group(f, "runs/" + run_id + "/exports/" + format);
    h5::set_attr(g.id(), "path", r.path);
    h5::set_attr(g.id(), "status", std::string(r.error.empty() ? "done" : "failed"));
    h5::set_attr(g.id(), "error", r.error);
    h5::set_attr(g.id(), "max_abs_weight_change", r.max_abs_weight_change);
    h5::set_attr(g.id(), "re_encoded", r.re_encoded);
    h5::set_attr(g.id(), "utc", utc_now());
  });
}

hid_t ExperimentLog::file() const {
  if (!file_.valid()) fail("{}: internal: a log being written is read through its commits", path_);
  return file_.id();
}

void ExperimentLog::update(const std::function<void(hid_t)>& change) { commit_log_change(path_, change); }

template <typename T>
T ExperimentLog::read(const std::function<T(hid_t)>& query) const {
  if (file_.valid()) return query(file_.id());
  h5::Handle f = h5::open_file(path_, false);
  return query(f.id());
}

void ExperimentLog::write_plugin(const std::string& name, const std::string& path, const std::string& version,
                                 const std::string& sha256, const std::string& params) {
  update([&](hid_t f) {
    h5::Handle g = h5::group(f, "plugins/" + name);
    h5::set_attr(g.id(), "path", path);
    h5::set_attr(g.id(), "version", version);
    h5::set_attr(g.id(), "sha256", sha256);
    h5::set_attr(g.id(), "params", params);
  });
}

void ExperimentLog::write_calibration(const DataProvenance& p, const std::string& sampler, int64_t n_segments,
                                      int64_t seq_len, int64_t seed, const std::vector<int64_t>& documents,
                                      const std::vector<int64_t>& starts) {
  if (read<bool>([](hid_t f) { return h5::exists(f, "calibration"); })) return;  // the experiment's first set is logged
  update([&](hid_t f) {
    h5::Handle g = h5::group(f, "calibration");
    h5::set_attr(g.id(), "data", p.spec);
    h5::set_attr(g.id(), "path", p.path);
    h5::set_attr(g.id(), "sha256", p.sha256);
    h5::set_attr(g.id(), "sampler", sampler);
    h5::set_attr(g.id(), "n_segments", n_segments);
    h5::set_attr(g.id(), "seq_len", seq_len);
    h5::set_attr(g.id(), "seed", seed);
    h5::write_vector(g.id(), "segment_documents", documents);
    h5::write_vector(g.id(), "segment_starts", starts);
  });
}

void ExperimentLog::write_eval(const std::string& group_path, const EvalRecord& e) {
  update([&](hid_t f) {
    h5::Handle g = h5::group(f, group_path + "/eval/" + eval_group_name(e.dataset));
    h5::set_attr(g.id(), "data", e.dataset);
    h5::set_attr(g.id(), "sha256", e.provenance.sha256);
    h5::set_attr(g.id(), "ppl", e.result.ppl);
    h5::set_attr(g.id(), "seq_len", e.result.seq_len);
    h5::set_attr(g.id(), "n_segments", e.result.n_segments);
    h5::set_attr(g.id(), "n_tokens", e.result.n_tokens);
    h5::set_attr(g.id(), "seconds", e.result.seconds);
    h5::write_vector(g.id(), "nll", e.result.segment_nll);
  });
}

bool ExperimentLog::exists(const std::string& object_path) const {
  return read<bool>([&](hid_t f) { return h5::exists(f, object_path); });
}

bool ExperimentLog::has_eval(const std::string& group_path, const std::string& dataset) const {
  return read<bool>([&](hid_t f) {
    return h5::exists(f, group_path + "/eval/" + eval_group_name(dataset));
  });
}

EvalRecord ExperimentLog::read_eval(const std::string& group_path, const std::string& dataset) const {
  return read<EvalRecord>([&](hid_t f) {
    h5::Handle g = h5::open_group(f, group_path + "/eval/" + eval_group_name(dataset));
    EvalRecord e;
    e.dataset = h5::attr_string(g.id(), "data");
    e.provenance.sha256 = h5::attr_string(g.id(), "sha256");
    e.result.ppl = h5::attr_double(g.id(), "ppl");
    e.result.seq_len = h5::attr_int(g.id(), "seq_len");
    e.result.n_segments = h5::attr_int(g.id(), "n_segments");
    e.result.n_tokens = h5::attr_int(g.id(), "n_tokens");
    e.result.seconds = h5::attr_double(g.id(), "seconds");
    e.result.segment_nll = h5::read_numbers(g.id(), "nll");
    return e;
  });
}

void ExperimentLog::set_grid_points(int64_t n) {
  update([&](hid_t f) { h5::set_attr(f, "grid_points", n); });
}

void ExperimentLog::write_float_identity(const std::string& float_group, const std::string& model) {
  update([&](hid_t f) { h5::set_attr(h5::group(f, float_group).id(), "identity.model", model); });
}

void ExperimentLog::write_run_identity(const std::string& run_id, const RunIdentity& identity) {
  update([&](hid_t f) {
    h5::Handle g = h5::group(f, "runs/" + run_id);
    h5::set_attr(g.id(), "identity.model", identity.model);
    h5::set_attr(g.id(), "identity.method", identity.method);
    h5::set_attr(g.id(), "identity.w_bits", identity.w_bits);
    h5::set_attr(g.id(), "identity.a_bits", identity.a_bits);
    h5::set_attr(g.id(), "identity.group_size", identity.group_size);
  });
}

void ExperimentLog::write_activation_quant(const std::string& run_id, int64_t bits, const std::string& scheme, double clip_ratio,
                                           int64_t kv_bits, double kv_clip_ratio) {
  update([&](hid_t f) {
    h5::Handle g = h5::group(f, "runs/" + run_id + "/activation");  // a group: the run's own attributes are its sweep axes
    h5::set_attr(g.id(), "bits", bits);
    h5::set_attr(g.id(), "scheme", scheme);
    h5::set_attr(g.id(), "clip_ratio", clip_ratio);
    h5::set_attr(g.id(), "kv_bits", kv_bits);
    h5::set_attr(g.id(), "kv_clip_ratio", kv_clip_ratio);
  });
}

void ExperimentLog::write_run_provenance(const std::string& run_id, const RunProvenance& p) {
  update([&](hid_t f) {
    h5::Handle g = h5::group(f, "runs/" + run_id + "/provenance");
    h5::set_attr(g.id(), "model_path", p.model_path);
    h5::set_attr(g.id(), "tokenizer_path", p.tokenizer_path);
    h5::set_attr(g.id(), "quantizer", p.quantizer);
    h5::set_attr(g.id(), "quantizer_params", p.quantizer_params);
  });
}

int64_t ExperimentLog::begin_run(const std::string& run_id, const SweepPoint& sweep_point) {
  int64_t finished = 0;
  update([&](hid_t f) {
    const bool existed = h5::exists(f, "runs/" + run_id);
    h5::Handle g = h5::group(f, "runs/" + run_id);
    for (const auto& [axis, value] : sweep_point) h5::set_attr(g.id(), axis, value);
    if (existed && h5::exists(g.id(), "blocks")) {
      h5::Handle b = h5::open_group(g.id(), "blocks");
      finished = h5::length(b.id(), "block");
    }
    if (!existed) h5::set_attr(g.id(), "started_utc", utc_now());
    h5::set_attr(g.id(), "status", std::string("running"));
    h5::set_attr(g.id(), "error", std::string(""));
  });
  return finished;
}

std::string ExperimentLog::run_status(const std::string& run_id) const {
  return read<std::string>([&](hid_t f) {
    if (!h5::exists(f, "runs/" + run_id)) return std::string();
    h5::Handle g = h5::open_group(f, "runs/" + run_id);
    return h5::has_attr(g.id(), "status") ? h5::attr_string(g.id(), "status") : "";
  });
}

void ExperimentLog::append_block(const std::string& run_id, const std::vector<LinearRow>& rows, const BlockRow& block) {
  update([&](hid_t f) {
    h5::Handle run = h5::group(f, "runs/" + run_id);
    h5::Handle lin = h5::group(run.id(), "linears");
    const int64_t before = h5::length(lin.id(), "id");
    std::vector<std::string> ids;
    std::vector<int32_t> blocks, group_sizes;
    std::vector<int8_t> bits;
    std::vector<int64_t> n_rows, n_cols;
    std::vector<float> rel, mse, tq;
    std::vector<double> bpw;
    std::set<std::string> metric_names;
    for (const std::string& n : h5::children(lin.id()))
      if (n.find('.') != std::string::npos) metric_names.insert(n);  // plugin metrics are "<plugin>.<metric>"
    for (const LinearRow& r : rows) {
      ids.push_back(r.id);
      blocks.push_back(r.block);
      bits.push_back(static_cast<int8_t>(r.bits));
      group_sizes.push_back(r.group_size);
      n_rows.push_back(r.n_rows);
      n_cols.push_back(r.n_cols);
      rel.push_back(static_cast<float>(r.rel_output_error));
      mse.push_back(static_cast<float>(r.weight_mse));
      tq.push_back(static_cast<float>(r.time_quantize_s));
      bpw.push_back(r.bits_per_weight);
      for (const auto& [m, v] : r.metrics) metric_names.insert(m);
    }
    h5::append_strings(lin.id(), "id", ids);
    h5::append(lin.id(), "block", blocks);
    h5::append(lin.id(), "bits", bits);
    h5::append(lin.id(), "group_size", group_sizes);
    h5::append(lin.id(), "n_rows", n_rows);
    h5::append(lin.id(), "n_cols", n_cols);
    h5::append(lin.id(), "rel_output_error", rel);
    h5::append(lin.id(), "weight_mse", mse);
    h5::append(lin.id(), "time_quantize_s", tq);
    h5::append(lin.id(), "bits_per_weight", bpw);
    for (const std::string& m : metric_names) {
      const int64_t have = h5::length(lin.id(), m);
      if (have < before) h5::append(lin.id(), m, std::vector<double>(static_cast<size_t>(before - have), std::nan("")));
      std::vector<double> values;
      for (const LinearRow& r : rows) {
        auto it = r.metrics.find(m);
        values.push_back(it == r.metrics.end() ? std::nan("") : it->second);
      }
      h5::append(lin.id(), m, values);
    }
    h5::Handle blk = h5::group(run.id(), "blocks");
    h5::append(blk.id(), "block", std::vector<int32_t>{block.block});
    h5::append(blk.id(), "rel_block_output_error", std::vector<float>{static_cast<float>(block.rel_block_output_error)});
    h5::append(blk.id(), "time_capture_s", std::vector<float>{static_cast<float>(block.time_capture_s)});
    h5::append(blk.id(), "time_transform_s", std::vector<float>{static_cast<float>(block.time_transform_s)});
    h5::append(blk.id(), "time_quantize_s", std::vector<float>{static_cast<float>(block.time_quantize_s)});
    h5::append(blk.id(), "time_propagate_s", std::vector<float>{static_cast<float>(block.time_propagate_s)});
    h5::append(blk.id(), "peak_rss_bytes", std::vector<int64_t>{block.peak_rss_bytes});
  });
}

void ExperimentLog::finish_run(const std::string& run_id, const std::string& status, const std::string& error) {
  update([&](hid_t f) {
    h5::Handle g = h5::group(f, "runs/" + run_id);
    h5::set_attr(g.id(), "status", status);
    h5::set_attr(g.id(), "error", error);
    h5::set_attr(g.id(), "finished_utc", utc_now());
  });
}

void ExperimentLog::write_plan(const std::string& run_id, const std::string& text) {
  update([&](hid_t f) { h5::set_attr(h5::group(f, "runs/" + run_id).id(), "plan", text); });
}

std::string ExperimentLog::read_plan(const std::string& run_id) const {
  return read<std::string>([&](hid_t f) {
    if (!h5::exists(f, "runs/" + run_id)) return std::string();
    h5::Handle g = h5::open_group(f, "runs/" + run_id);
    return h5::has_attr(g.id(), "plan") ? h5::attr_string(g.id(), "plan") : std::string();
  });
}

}  // namespace qlab

namespace qlab {

void ExperimentLog::write_backend(const std::string& name, const std::string& device, const std::string& gemm_precision) {
  update([&](hid_t root) {
    h5::set_attr(root, "backend", name);
    h5::set_attr(root, "backend_device", device);
    h5::set_attr(root, "gemm_precision", gemm_precision);
    // The explicit host round trips of a device run (README, "What runs where").
    h5::set_attr(root, "backend_host_stages",
                 std::string("activation fake-quantization; abs_mean/abs_max/rows statistics; group and linear transforms "
                             "(AWQ, SmoothQuant, clip); quantizers other than GPTQ's solve; head; per-linear error"));
  });
}

}  // namespace qlab
