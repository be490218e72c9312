#include "run/experiment_runner.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>

#include "cli/table.h"
#include "data/calibration.h"
#include "data/data_spec.h"
#include "eval/perplexity.h"
#include "log/experiment_log.h"
#include "model/model_loader.h"
#include "model/safetensors.h"
#include "model/tokenizer_loader.h"
#include "plugin_host/plugin_loader.h"
#include "util/error.h"
#include "walk/layer_walker.h"
#include "walk/pipeline.h"

namespace qlab {

namespace {

std::string checkpoint_file(const std::string& log_path, const std::string& run_id, int64_t block) {
  return fmt::format("{}.blocks/{}/block_{:04}.safetensors", log_path, run_id, block);
}

void save_block(const std::string& path, const Block& block) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::vector<TensorToWrite> tensors;
  for (const Linear* l : block.linears()) tensors.push_back(f32_tensor(l->name, {l->weight.rows(), l->weight.cols()}, l->weight.data()));
  write_safetensors(path, tensors);
}

void restore_block(const std::string& path, Block& block) {
  if (!std::filesystem::exists(path))
    fail("{}: --resume: the finished block's weights are missing; start the run afresh without --resume", path);
  auto f = SafetensorsFile::open(path);
  for (Linear* l : block.linears()) l->weight = f->to_matrix(l->name);
}

void check_overrides(const RunConfig& run, Model& model) {
  for (const OverrideRule& o : run.overrides) {
    bool any = false;
    for (Linear* l : model.linears()) any = any || glob_match(o.match, l->name);
    if (!any) fail("{}: override match '{}' matches no linear of {} (ids look like 0.self_attn.q_proj, 3.mlp.down_proj, lm_head)", o.where, o.match, model.source);
    if (glob_match(o.match, "lm_head") && o.skip && !*o.skip)
      fail("{}: quantizing lm_head is not supported; the references keep it in float", o.where);
  }
}

EvalRecord evaluate(const Model& model, const Tokenizer& tok, const std::string& spec, const RunConfig& run, bool progress) {
  TokenData d = load_eval_tokens(spec, tok, run.eval_seq_len);
  EvalRecord e;
  e.dataset = spec;
  e.provenance = d.provenance;
  try {
    e.result = perplexity(model, d.tokens, {run.eval_seq_len, run.eval_max_segments, progress});
  } catch (const Error& err) {
    fail("{}: {}", d.provenance.path, err.what());
  }
  return e;
}

// "quant.bits=4 quant.group_size=32" for a sweep point.
std::string setting_text(const std::vector<std::pair<std::string, std::string>>& point) {
  std::string out;
  for (const auto& [axis, value] : point) out += (out.empty() ? "" : " ") + axis + "=" + value;
  return out;
}

int64_t abort_after_block() {  // testing hook: die like a killed process after this block is logged
  const char* v = std::getenv("QLAB_TEST_ABORT_AFTER_BLOCK");
  return v ? std::atoll(v) : -1;
}

}  // namespace

ExperimentSummary run_experiment(const Experiment& ex, const RunOptions& opt) {
  // Everything that can be checked without weights is checked first.
  PluginRegistry registry = PluginRegistry::discover(opt.plugin_dirs);
  for (const RunConfig& run : ex.runs) {
    validate_pipeline(run, registry);
    if (!std::filesystem::exists(run.model_path)) fail("{}: model.path {} does not exist", ex.path, run.model_path);
    if (run.calibration.data.empty()) fail("{}: [calibration] data is required to quantize", ex.path);
    if (run.eval_data.empty()) fail("{}: [eval] data is required", ex.path);
  }
  ExperimentLog log = opt.resume ? ExperimentLog::resume(opt.log_path, ex.config_text)
                                 : ExperimentLog::create(opt.log_path, ex.name, ex.config_text);
  ExperimentSummary summary;
  std::map<std::string, int> model_index;
  std::string loaded_model;
  std::unique_ptr<Model> float_model;
  std::unique_ptr<Tokenizer> tok;
  std::string calibration_key;
  CalibrationSet calibration;

  for (const RunConfig& run : ex.runs) {
    if (run.model_path != loaded_model) {
      float_model = std::make_unique<Model>(load_model(run.model_path));
      tok = load_tokenizer_for(*float_model, run.tokenizer_path);
      loaded_model = run.model_path;
      const int index = static_cast<int>(model_index.size());
      model_index.emplace(run.model_path, index);
    }
    check_overrides(run, *float_model);
    const std::string float_group = model_index.size() == 1 && model_index.begin()->first == run.model_path
                                        ? "float" : fmt::format("float_m{}", model_index.at(run.model_path));
    // The float model: evaluated once per model and dataset.
    for (const std::string& spec : run.eval_data) {
      if (!log.has_eval(float_group, spec)) {
        EvalRecord e = evaluate(*float_model, *tok, spec, run, opt.progress);
        log.write_eval(float_group, e);
      }
      if (summary.float_ppl.size() < run.eval_data.size() && float_group == "float")
        summary.float_ppl.emplace_back(spec, log.read_eval(float_group, spec).result.ppl);
    }
    // Calibration segments: drawn once for every run that shares the same recipe and tokenizer.
    const std::string key = fmt::format("{}|{}|{}|{}|{}|{}", run.calibration.data, run.calibration.sampler,
                                        run.calibration.n_segments, run.calibration.seqlen, run.calibration.seed, tok->source());
    if (key != calibration_key) {
      calibration = sample_calibration(run.calibration, *tok);
      calibration_key = key;
      if (!h5::exists(log.file(), "calibration"))
        log.write_calibration(calibration.provenance, run.calibration.sampler, static_cast<int64_t>(calibration.segments.size()),
                              run.calibration.seqlen, run.calibration.seed, calibration.document, calibration.start);
    }

    RunSummary rs;
    rs.run_id = run.run_id;
    rs.sweep_point = run.sweep_point;
    auto started = std::chrono::steady_clock::now();
    if (log.run_status(run.run_id) == "done") {
      rs.status = "done (logged)";
      for (const std::string& spec : run.eval_data) rs.ppl.emplace_back(spec, log.read_eval("runs/" + run.run_id, spec).result.ppl);
      summary.runs.push_back(rs);
      continue;
    }
    const int64_t finished = log.begin_run(run.run_id, run.sweep_point);
    try {
      Pipeline pipeline = build_pipeline(run, registry);
      for (const auto* inst : {pipeline.quantizer.get()})
        log.write_plugin(inst->name(), inst->plugin().path, inst->descriptor().version, inst->plugin().sha256, inst->params().describe());
      for (const auto& t : pipeline.transforms)
        log.write_plugin(t->name(), t->plugin().path, t->descriptor().version, t->plugin().sha256, t->params().describe());
      Model model = *float_model;
      for (int64_t b = 0; b < finished; ++b) restore_block(checkpoint_file(opt.log_path, run.run_id, b), model.blocks[b]);
      double weights = 0, bits = 0, rel = 0;
      int64_t n_linears = 0;
      const int64_t abort_at = abort_after_block();
      if (opt.progress) fmt::print(stderr, "{}: {}\n", run.run_id, run.sweep_point.empty() ? ex.name : setting_text(run.sweep_point));
      walk_layers(model, *float_model, calibration.segments, pipeline, run, finished,
                  [&](const BlockResult& r) {
                    save_block(checkpoint_file(opt.log_path, run.run_id, r.block), model.blocks[r.block]);
                    log.append_block(run.run_id, r.linears, r.row);
                    if (r.block == abort_at) std::_Exit(86);
                  },
                  opt.progress);
      // Summaries come from the log, so a resumed run counts its earlier blocks too.
      h5::Handle lin = h5::open_group(log.file(), "runs/" + run.run_id + "/linears");
      std::vector<double> rows = h5::read_numbers(lin.id(), "n_rows"), cols = h5::read_numbers(lin.id(), "n_cols"),
                          bpw = h5::read_numbers(lin.id(), "bits_per_weight"), err = h5::read_numbers(lin.id(), "rel_output_error");
      for (size_t i = 0; i < rows.size(); ++i) {
        weights += rows[i] * cols[i];
        bits += rows[i] * cols[i] * bpw[i];
        rel += err[i];
        ++n_linears;
      }
      rs.bits_per_weight = weights > 0 ? bits / weights : 0;
      rs.mean_rel_output_error = n_linears ? rel / static_cast<double>(n_linears) : 0;
      for (const std::string& spec : run.eval_data) {
        EvalRecord e = evaluate(model, *tok, spec, run, opt.progress);
        log.write_eval("runs/" + run.run_id, e);
        rs.ppl.emplace_back(spec, e.result.ppl);
      }
      log.finish_run(run.run_id, "done");
      std::error_code ec;
      std::filesystem::remove_all(opt.log_path + ".blocks/" + run.run_id, ec);
      rs.status = "done";
    } catch (const Error& e) {
      log.finish_run(run.run_id, "failed", e.what());
      rs.status = "failed";
      rs.error = e.what();
      fmt::print(stderr, "qlab: run {} failed: {}\n", run.run_id, e.what());
    }
    rs.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    summary.runs.push_back(rs);
  }
  std::error_code ec;
  if (std::filesystem::is_empty(opt.log_path + ".blocks", ec)) std::filesystem::remove(opt.log_path + ".blocks", ec);
  return summary;
}

std::string summary_table(const ExperimentSummary& s) {
  std::vector<std::string> header = {"run", "setting", "avg bits"};
  for (const auto& [spec, ppl] : s.float_ppl) header.push_back("ppl " + eval_group_name(spec));
  header.insert(header.end(), {"mean rel err", "status", "time"});
  cli::Table t(header);
  std::vector<std::string> first = {"float", "-", "32"};
  for (const auto& [spec, ppl] : s.float_ppl) first.push_back(fmt::format("{:.4f}", ppl));
  first.insert(first.end(), {"-", "done", "-"});
  t.add_row(first);
  for (const RunSummary& r : s.runs) {
    const std::string setting = setting_text(r.sweep_point);
    std::vector<std::string> row = {r.run_id, setting.empty() ? "-" : setting,
                                    r.bits_per_weight > 0 ? fmt::format("{:.3f}", r.bits_per_weight) : "-"};
    for (size_t i = 0; i < s.float_ppl.size(); ++i) row.push_back(i < r.ppl.size() ? fmt::format("{:.4f}", r.ppl[i].second) : "-");
    row.push_back(r.mean_rel_output_error > 0 ? fmt::format("{:.3e}", r.mean_rel_output_error) : "-");
    row.push_back(r.status);
    row.push_back(r.seconds > 0 ? fmt::format("{:.1f} s", r.seconds) : "-");
    t.add_row(row);
  }
  return t.render();
}

}  // namespace qlab
