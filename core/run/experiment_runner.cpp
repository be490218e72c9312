#include "run/experiment_runner.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

#include "config/calibration_fit.h"
#include "config/method_name.h"
#include "data/calibration.h"
#include "data/data_spec.h"
#include "data/memory_budget.h"
#include "eval/perplexity.h"
#include "export/export_run.h"
#include "log/experiment_log.h"
#include "log/h5.h"
#include "log/task_log.h"
#include "eval/block_major_model.h"
#include "zeroshot/zeroshot_eval.h"
#include "format/model_loader.h"
#include "tokenizer/tokenizer_loader.h"
#include "plan/layer_plan.h"
#include "plan/plan_print.h"
#include "plugin_host/plugin_loader.h"
#include "run/block_checkpoint.h"
#include "run/packed_block_source.h"
#include "run/crash_marker.h"
#include "run/run_inputs.h"
#include "util/parallel.h"
#include "util/watchdog.h"
#include "util/error.h"
#include "run/allocation_pass.h"
#include "walk/layer_walker.h"
#include "walk/model_transform.h"
#include "walk/pipeline.h"
#include "walk/stats_cache.h"

namespace qlab {

namespace {

void check_overrides(const RunConfig& run, const WeightSource& source) {
  const std::vector<LinearShape> linears = source.linears();
  for (const OverrideRule& o : run.overrides) {
    bool any = false;
    for (const LinearShape& l : linears) any = any || glob_match(o.match, l.name);
    if (!any) fail("{}: override match '{}' matches no linear of {} (ids look like 0.self_attn.q_proj, 3.mlp.down_proj, lm_head)", o.where, o.match, source.path());
  }
}

// Activations beyond --max-memory spill beside the log, where the user chose to write.
std::string spill_dir_of(const RunOptions& opt) {
  return std::filesystem::absolute(opt.log_path).parent_path().string();
}

EvalRecord evaluate(const WeightSource& model, const Tokenizer& tok, const std::string& spec, const RunConfig& run,
                    const RunOptions& opt, const ActivationPlan* act = nullptr) {
  TokenData d = load_eval_tokens(spec, tok, run.eval_seq_len);
  EvalRecord e;
  e.dataset = spec;
  e.provenance = d.provenance;
  try {
    const PerplexityOptions popt{.seq_len = run.eval_seq_len, .max_segments = run.eval_max_segments, .progress = opt.progress,
                                 .activations = opt.eval_activations, .max_memory = opt.max_memory,
                                 .spill_dir = spill_dir_of(opt), .device = opt.device, .max_device_memory = opt.max_device_memory};
    e.result = perplexity(model, d.tokens, popt, act);
  } catch (const Error& err) {
    fail("{}: {}", d.provenance.path, err.what());
  }
  return e;
}

// The run's [eval] tasks on `model`, logged under `group`.
void evaluate_tasks_into(ExperimentLog& log, const std::string& group, const WeightSource& model, const Tokenizer& tok,
                         const RunConfig& run, const RunOptions& opt, const ActivationPlan* act = nullptr) {
  if (run.tasks.names.empty()) return;
  const ZeroShotOptions zo{.tasks = run.tasks.names, .data_dir = run.tasks.data_dir, .version = parse_harness_version(run.tasks.harness),
                           .limit = run.tasks.limit, .max_length = run.tasks.max_length,
                           .overlong = kOverlongPolicies.parse(run.tasks.overlong, "eval.overlong"), .max_memory = opt.max_memory,
                           .progress = opt.progress, .device = opt.device, .max_device_memory = opt.max_device_memory};
  write_task_results(log, group, evaluate_tasks(BlockMajorModel(model), tok, zo, act));
}

// A run's model-scope transform: which plugin rotated the model, the online Hadamards it asked
// for and its metrics. `qlab export` reads the group to refuse a rotated run.
void write_model_transform(ExperimentLog& log, const std::string& run_id, const ModelTransform& t) {
  log.update([&](hid_t f) {
    h5::Handle g = h5::group(f, "runs/" + run_id + "/model_transform");  // its own group: the run's attributes are its settings
    h5::set_attr(g.id(), "plugin", t.plugin);
    h5::set_attr(g.id(), "online_down", int64_t{t.online.down});
    h5::set_attr(g.id(), "online_value_output", int64_t{t.online.value_output});
    h5::set_attr(g.id(), "online_query_key", int64_t{t.online.query_key});
    h5::set_attr(g.id(), "online_seed", static_cast<int64_t>(t.online.seed));
    for (const auto& [name, value] : t.metrics) h5::set_attr(g.id(), name, value);
  });
}

// A run's allocation: its budget, what it spent and each linear's format in the log, and an
// experiment file beside the log that walks exactly this allocation (a new file, or one an
// earlier attempt of this run wrote).
void write_allocation(ExperimentLog& log, const std::string& log_path, const RunConfig& run, const AllocationResult& a) {
  log.update([&](hid_t f) {
    h5::Handle g = h5::group(f, "runs/" + run.run_id + "/allocation");  // its own group: the run's attributes are its settings
    h5::set_attr(g.id(), "target_bits", run.allocate->target_bits);
    h5::set_attr(g.id(), "average_bits", a.allocation.average_bits);
    h5::set_attr(g.id(), "sensitivity", run.allocate->sensitivity);
    h5::set_attr(g.id(), "experiment", a.experiment_toml);
  });
  const std::string path = fmt::format("{}.{}.allocation.toml", log_path, run.run_id);
  const std::string header = fmt::format("# qlab: the bit allocation of {} {}, {:.4f} bits per weight\n", log_path, run.run_id,
                                         a.allocation.average_bits);
  if (std::filesystem::exists(path)) {
    std::ifstream in(path);
    std::string first;
    std::getline(in, first);
    if (first.rfind("# qlab: the bit allocation of " + log_path + " " + run.run_id, 0) != 0)
      fail("{}: exists and was not written by this run; refusing to replace it", path);
  }
  std::ofstream(path) << header << a.experiment_toml;
  fmt::print(stderr, "{}: allocation at {:.4f} bits per weight written to {}\n", run.run_id, a.allocation.average_bits, path);
}

int64_t abort_after_block() {  // testing hook: die like a killed process after this block is logged
  const char* v = std::getenv("QLAB_TEST_ABORT_AFTER_BLOCK");
  return v ? std::atoll(v) : -1;
}

// A run's finished blocks: the checkpoint first, then the log's rows, so a logged block can
// always be restored.
class RunSink : public BlockSink {
 public:
  RunSink(ExperimentLog& log, const std::string& run_id, BlockCheckpoint& checkpoint)
      : log_(log), run_id_(run_id), checkpoint_(checkpoint), abort_at_(abort_after_block()) {}
  void put(const BlockResult& r, const Block& block, const ActivationPlan& act) override {
    checkpoint_.put(r, block, act);
    log_.append_block(run_id_, r.linears, r.row);
    if (r.block == abort_at_) std::_Exit(86);
  }

 private:
  ExperimentLog& log_;
  const std::string& run_id_;
  BlockCheckpoint& checkpoint_;
  int64_t abort_at_;
};

// The run's [export] checkpoints, each evaluated back through its loader with the run's
// evaluation data; a failed export is recorded beside the run (which stays done).
void export_and_evaluate(const RunConfig& run, const Tokenizer& tok, const RunOptions& opt, const std::string& log_path,
                         ExperimentLog& log) {
  const ExportSpec& spec = run.exports;
  if (!spec.runs.empty() && std::find(spec.runs.begin(), spec.runs.end(), run.run_id) == spec.runs.end()) return;
  for (const std::string& format : spec.formats) {
    ExportRequest request{log_path, run.run_id, format, "", spec.checkpoint_format, spec.float_dtype, "", spec.requantize, true};
    const std::string dir = spec.dir.empty() ? log_path + ".exports" : spec.dir;
    request.out = fmt::format("{}/{}-{}{}", dir, run.run_id, format, format == "gguf" ? ".gguf" : "");
    std::filesystem::create_directories(dir);
    try {
      const ExportResult exported = export_run(request, log);
      if (opt.progress) fmt::print(stderr, "{}: exported {} to {}\n{}", run.run_id, format, exported.path, exported.report.table().render());
      const std::unique_ptr<WeightSource> back = open_weight_source(exported.path);
      const std::string group = fmt::format("runs/{}/exports/{}", run.run_id, format);
      for (const std::string& spec_text : run.eval_data) log.write_eval(group, evaluate(*back, tok, spec_text, run, opt));
      evaluate_tasks_into(log, group, *back, tok, run, opt);
    } catch (const Error& e) {
      log.write_export(run.run_id, format, {request.out, 0, 0, e.what()});
      fmt::print(stderr, "qlab: run {}: export {} failed: {}\n", run.run_id, format, e.what());
    }
  }
}

}  // namespace

namespace {
// A marker left by a run that died (run/crash_marker.h) becomes that run's `crashed` status.
void record_crash(ExperimentLog& log, const std::string& log_path) {
  const std::optional<CrashRecord> crash = read_crash_marker(log_path);
  if (!crash) return;
  if (log.run_status(crash->run_id) == "running")
    log.finish_run(crash->run_id, "crashed",
                   fmt::format("the process died during this run: {}; the other runs went on. Retry it with --resume --only {}",
                               crash->cause, crash->run_id));
  std::filesystem::remove(crash_marker_path(log_path));
}
}  // namespace

ExperimentSummary run_experiment(const Experiment& ex, const RunOptions& opt) {
  // Everything that can be checked without weights is checked first.
  PluginRegistry registry = PluginRegistry::discover(opt.plugin_dirs);
  for (const RunConfig& run : ex.runs) {
    validate_pipeline(run, registry);
    if (!std::filesystem::exists(run.model_path)) fail("{}: model.path {} does not exist", ex.path, run.model_path);
    if (run.calibration.data.empty()) fail("{}: [calibration] data is required to quantize", ex.path);
    if (run.eval_data.empty() && run.tasks.names.empty()) fail("{}: [eval] needs data (perplexity) or tasks (zero-shot)", ex.path);
    for (const std::string& id : run.exports.runs)
      if (std::none_of(ex.runs.begin(), ex.runs.end(), [&](const RunConfig& r) { return r.run_id == id; }) && ex.runs.size() == ex.grid_points)
        fail("{}: export.runs names {}, which is not a run of this experiment (r0000 … r{:04})", ex.path, id, ex.grid_points - 1);
  }
  set_watch_limit(opt.hook_timeout_s);
  // Absolute, so a plugin that changes the working directory cannot misplace checkpoints.
  const std::string log_path = std::filesystem::absolute(opt.log_path).string();
  refuse_output_among_inputs(log_path, ex, registry);
  const RunInputs inputs = collect_run_inputs(ex, registry, thread_count());
  ExperimentLog log = opt.resume ? ExperimentLog::resume(log_path, ex.config_text, inputs)
                                 : ExperimentLog::create(log_path, ex.name, ex.config_text, inputs, opt.overwrite);
  if (opt.device)
    log.write_backend(opt.device->name(), opt.device->description(), kPrecisions.name(opt.device->linear_precision()));
  if (!opt.resume) std::filesystem::remove(crash_marker_path(log_path));
  log.set_grid_points(static_cast<int64_t>(ex.grid_points));
  record_crash(log, log_path);
  std::string loaded_model;
  std::unique_ptr<WeightSource> source;
  std::unique_ptr<Tokenizer> tok;
  std::string calibration_key;
  CalibrationSet calibration;
  // Statistics shared across grid points: at most 2 GiB, and a quarter of the memory budget.
  const uint64_t budget = opt.max_memory > 0 ? opt.max_memory : default_memory_budget();
  StatsCache stats_cache(static_cast<int64_t>(std::min<uint64_t>(uint64_t{2} << 30, budget / 4)));
  const std::string spill_dir = spill_dir_of(opt);

  for (const RunConfig& run : ex.runs) {
    const std::string status = log.run_status(run.run_id);
    if (status == "done") continue;  // --resume: finished earlier
    if (status == "crashed" && !opt.retry_crashed) {
      fmt::print(stderr, "{}: skipped: it crashed in an earlier process; retry it with --resume --only {}\n", run.run_id, run.run_id);
      continue;
    }
    if (run.model_path != loaded_model) {
      source = open_weight_source(run.model_path);
      Model names;  // what the tokenizer is matched against: no weight
      names.config = source->config();
      names.source = source->path();
      tok = load_tokenizer_for(names, run.tokenizer_path);
      loaded_model = run.model_path;
    }
    check_overrides(run, *source);
    check_calibration_fits(run, source->config());
    // Calibration segments: drawn once for every run that shares the same recipe and tokenizer,
    // before the float evaluation, so calibration text that is too short fails at once.
    const std::string key = fmt::format("{}|{}|{}|{}|{}|{}", run.calibration.data, kSamplers.name(run.calibration.sampler),
                                        run.calibration.n_segments, run.calibration.seq_len, run.calibration.seed, tok->source());
    if (key != calibration_key) {
      calibration = sample_calibration(run.calibration, *tok);
      calibration_key = key;
      log.write_calibration(calibration.provenance, kSamplers.name(run.calibration.sampler), static_cast<int64_t>(calibration.segments.size()),
                            run.calibration.seq_len, run.calibration.seed, calibration.document, calibration.start);
    }
    const auto model_index = std::find(ex.model_paths.begin(), ex.model_paths.end(), run.model_path) - ex.model_paths.begin();
    const std::string float_group = model_index == 0 ? "float" : fmt::format("float_m{}", model_index);
    // The float model: evaluated once per model and dataset, one block at a time from the source.
    for (const std::string& spec : run.eval_data) {
      if (!log.has_eval(float_group, spec)) {
        EvalRecord e = evaluate(*source, *tok, spec, run, opt);
        log.write_eval(float_group, e);
        log.write_float_identity(float_group, run.model_path);
      }
    }
    if (!run.tasks.names.empty() && !has_task_results(log, float_group, run.tasks.names.front())) {
      evaluate_tasks_into(log, float_group, *source, *tok, run, opt);
      log.write_float_identity(float_group, run.model_path);
    }

    const int64_t finished = log.begin_run(run.run_id, run.sweep_point);
    // A budgeted run is its own series in plots and pairs with no uniform published row.
    log.write_run_identity(run.run_id, {run.model_path, method_name(run, registry) + (run.allocate ? "+allocate" : ""), run.format.bits, run.act.enabled() ? run.act.bits : 16, run.format.group_size});
    log.write_activation_quant(run.run_id, run.act.bits, act_scheme_name(run.act.scheme), run.act.clip_ratio, run.act.kv_bits,
                               run.act.kv_clip_ratio);
    std::string error;
    try {
      const CrashGuard guard(log_path, run.run_id);
      Pipeline pipeline = build_pipeline(run, registry);
      log.write_plugin(pipeline.quantizer->name(), pipeline.quantizer->plugin().path, pipeline.quantizer->descriptor().version,
                       pipeline.quantizer->plugin().sha256, pipeline.quantizer->params().describe());
      log.write_run_provenance(run.run_id, {std::filesystem::absolute(run.model_path).string(),
                                            std::filesystem::absolute(tok->source()).string(), pipeline.quantizer->name(),
                                            pipeline.quantizer->params().describe()});
      for (const auto& t : pipeline.transforms)
        log.write_plugin(t->name(), t->plugin().path, t->descriptor().version, t->plugin().sha256, t->params().describe());
      // A model-scope transform (rotate) changes what the run walks: the source read through it.
      const std::optional<ModelTransform> model_transform = run_model_transform(pipeline, *source);
      if (model_transform) write_model_transform(log, run.run_id, *model_transform);
      const std::unique_ptr<WeightSource> rotated = model_transform ? transformed_source(*source, *model_transform) : nullptr;
      const WeightSource& walked = rotated ? *rotated : *source;
      // [allocate]: a first pass picks each linear's format; the walk then follows those overrides.
      RunConfig effective = run;
      if (run.allocate) {
        const AllocationResult a = run_allocation(run, ex.settings_toml, walked, calibration.segments, registry, opt.progress,
                                                  {opt.max_memory, spill_dir, opt.device, opt.max_device_memory});
        effective.overrides.insert(effective.overrides.end(), a.overrides.begin(), a.overrides.end());
        effective.allocate.reset();
        write_allocation(log, log_path, run, a);
      }
      const LayerPlan plan = resolve_plan(effective, walked.config(), walked.linears(), pipeline.needs());
      // The quantized model goes block by block to its packed checkpoint, which --resume
      // restores finished blocks from.
      BlockCheckpoint checkpoint(log_path, run.run_id);
      ActivationPlan act{run.act, {}};
      const FinishedBlocks restored{finished, [&](int64_t b, ActivationPlan& ranges) {
                                      Block block = walked.load_block(b);
                                      checkpoint.restore(b, block, ranges);
                                      return block;
                                    }};
      if (opt.progress) fmt::print(stderr, "{}: {}\n", run.run_id, run.sweep_point.empty() ? ex.name : setting_text(run.sweep_point));
      RunSink sink(log, run.run_id, checkpoint);
      LayerPlan executed = walk_layers(walked, plan, calibration.segments, pipeline, act, sink, opt.progress,
                                       ex.runs.size() > 1 ? &stats_cache : nullptr,  // nothing to share with one run
                                       restored, {opt.max_memory, spill_dir, opt.device, opt.max_device_memory});
      // Blocks restored by --resume were walked by an earlier process under the same
      // configuration (resume refuses any other); they stand as planned.
      executed.blocks.insert(executed.blocks.begin(), plan.blocks.begin(), plan.blocks.begin() + finished);
      log.write_plan(run.run_id, plan_text(executed));
      // Evaluation reads the quantized model back from its packed blocks, one block at a time.
      const PackedBlockSource quantized(walked, checkpoint);
      for (const std::string& spec : run.eval_data)
        log.write_eval("runs/" + run.run_id, evaluate(quantized, *tok, spec, run, opt, &act));
      evaluate_tasks_into(log, "runs/" + run.run_id, quantized, *tok, run, opt, &act);
    } catch (const Error& e) {
      error = e.what();
    } catch (const std::exception& e) {  // a failure we did not foresee still fails only this run
      error = fmt::format("internal error: {}", e.what());
    }
    if (!error.empty()) {
      log.finish_run(run.run_id, "failed", error);
      fmt::print(stderr, "qlab: run {} failed: {}\n", run.run_id, error);
      continue;
    }
    log.finish_run(run.run_id, "done");
    export_and_evaluate(run, *tok, opt, log_path, log);
    std::error_code ec;
    if (!opt.keep_quantized) std::filesystem::remove_all(log_path + ".blocks/" + run.run_id, ec);
  }
  if (opt.progress && stats_cache.hits() > 0)
    fmt::print(stderr, "statistics reused across grid points: {} block captures\n", stats_cache.hits());
  std::error_code ec;
  if (std::filesystem::is_empty(log_path + ".blocks", ec)) std::filesystem::remove(log_path + ".blocks", ec);
  return read_summary(ExperimentLog::open_read(log_path));
}

}  // namespace qlab
