// `qlab layer`: one linear quantized outside any model, on identical inputs to other tools.
// The input file holds `weight` (out × in) and `inputs` (tokens × in) or `hessian` (in × in);
// the output holds the dequantized `weight`, `codes`, `scales`, `zeros`, `g_idx` (and
// `codebook`), with the metrics in its metadata and, with --json, on stdout.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "backend/linalg.h"
#include "cli/commands.h"
#include "cli/device_args.h"
#include "config/experiment.h"
#include "config/format_rules.h"
#include "format/safetensors.h"
#include "plugin_host/params.h"
#include "util/error.h"
#include "util/parallel.h"
#include "util/split.h"
#include "walk/linear_hooks.h"
#include "walk/measure.h"
#include "walk/pipeline.h"
#include "walk/stats.h"

namespace qlab::cli {

namespace {
struct LayerArgs {
  std::string weights, pipeline, out;
  std::vector<std::string> sets, plugin_dirs;
  bool json = false;
  DeviceArgs device;
};

void check_finite(const Matrix& m, const std::string& file, const char* tensor) {
  if (long long bad = first_non_finite(m.data(), m.size()); bad >= 0)
    fail("{}: '{}' has a non-finite value at flat index {}", file, tensor, bad);
}

// A Hessian is Σ x xᵀ: symmetric with a non-negative diagonal. Asymmetry is judged against
// the largest diagonal entry, which bounds every entry of such a matrix.
void check_hessian(const Matrix& h, const std::string& file) {
  check_finite(h, file, "hessian");
  const double scale = h.rows() > 0 ? static_cast<double>(h.diagonal().cwiseAbs().maxCoeff()) : 0.0;
  for (int64_t i = 0; i < h.rows(); ++i) {
    if (h(i, i) < 0) fail("{}: 'hessian' has a negative diagonal entry [{}, {}] = {}; it is not Σ x xᵀ", file, i, i, h(i, i));
    for (int64_t j = i + 1; j < h.cols(); ++j)
      if (std::fabs(static_cast<double>(h(i, j)) - h(j, i)) > 1e-5 * scale)
        fail("{}: 'hessian' is not symmetric: [{}, {}] = {}, [{}, {}] = {}", file, i, j, h(i, j), j, i, h(j, i));
  }
}

}  // namespace

Command add_layer(CLI::App& app) {
  auto a = std::make_shared<LayerArgs>();
  CLI::App* cmd = app.add_subcommand("layer", "quantize one linear from a safetensors file (weight + inputs or hessian)");
  cmd->add_option("--weights", a->weights, "input .safetensors with 'weight' and 'inputs' or 'hessian'")->required();
  cmd->add_option("--pipeline", a->pipeline, "plugins, comma-separated, quantizer last (e.g. rtn, clip,rtn)")->required();
  cmd->add_option("--set", a->sets, "format (bits, group_size, sym, range) or <plugin>.<param> = value");
  cmd->add_option("--out", a->out, "output .safetensors")->required();
  cmd->add_option("--plugin-path", a->plugin_dirs, "extra plugin directories");
  cmd->add_flag("--json", a->json, "print the metrics as one JSON object");
  a->device.add_to(*cmd);
  return [a]() {
    RunConfig run;
    run.format = {4, 0, 0, QLAB_RANGE_GPTQ};
    for (const std::string& plugin : split(a->pipeline, ',', EmptyParts::skip)) run.pipeline.push_back({plugin, {}, "--pipeline"});
    for (const std::string& set : a->sets) {
      const size_t eq = set.find('=');
      if (eq == std::string::npos) fail("--set '{}': expected key=value", set);
      const std::string key = set.substr(0, eq), value = set.substr(eq + 1), where = "--set " + set;
      ParamValue v = parse_set_value(value, where);
      if (!set_format_key(run.format, key, v, where)) {
        const size_t dot = key.find('.');
        auto it = std::find_if(run.pipeline.begin(), run.pipeline.end(), [&](const PipelineEntry& e) { return dot != std::string::npos && e.plugin == key.substr(0, dot); });
        if (it == run.pipeline.end()) fail("{}: '{}' is neither a format key (bits, group_size, sym, range) nor <plugin>.<param> of the pipeline", where, key);
        it->params[key.substr(dot + 1)] = v;
      }
    }
    const std::unique_ptr<Backend> device = a->device.open();
    PluginRegistry registry = PluginRegistry::discover(a->plugin_dirs);
    Pipeline pipeline = build_pipeline(run, registry);  // validates names, params and order

    auto file = SafetensorsFile::open(a->weights);
    if (!file->has("weight")) fail("{}: no tensor 'weight' (out × in)", a->weights);
    Linear linear{"weight", file->to_matrix("weight"), {}};
    const int64_t in = linear.in_features();
    const uint32_t mask = pipeline.stats_mask;
    Matrix hessian, hessian_sum;
    std::unique_ptr<StatsCollector> collector;
    if (file->has("inputs")) {
      Matrix x = file->to_matrix("inputs");
      if (x.cols() != in) fail("{}: 'inputs' has {} columns, 'weight' has {} inputs", a->weights, x.cols(), in);
      check_finite(x, a->weights, "inputs");
      collector = std::make_unique<StatsCollector>(mask | QLAB_STAT_HESSIAN, in, x.rows());
      if (device)
        collector->add_sequence(device->upload(x));  // Σ x xᵀ by SYRK on the device
      else
        collector->add_sequence(x);
      hessian = collector->hessian();
      hessian_sum = collector->hessian_sum();
    } else if (file->has("hessian")) {
      hessian = file->to_matrix("hessian");
      if (hessian.rows() != in || hessian.cols() != in) fail("{}: 'hessian' must be {} × {}", a->weights, in, in);
      check_hessian(hessian, a->weights);
      if (mask & (QLAB_STAT_ROWS | QLAB_STAT_ABS_MEAN | QLAB_STAT_ABS_MAX))
        fail("{}: the pipeline needs input rows or channel statistics; give 'inputs', not only 'hessian'", a->weights);
      hessian_sum = hessian;
      collector = std::make_unique<StatsCollector>(0, in, 1);
    } else {
      fail("{}: needs 'inputs' (tokens × in) or 'hessian' (in × in) beside 'weight'", a->weights);
    }
    qlab_stats stats = collector->view(hessian);
    if (file->has("hessian")) stats.hessian = {hessian.data(), in, in, in};

    const Matrix original = linear.weight;
    std::map<std::string, double> metrics;
    for (auto& t : pipeline.transforms) transform_linear(linear, 0, run.format, *t, stats, metrics);
    QuantizedLinear q = quantize_linear(linear, 0, run.format, *pipeline.quantizer, stats, false, linalg_for(device.get()));
    for (const auto& [k, v] : q.metrics) metrics[k] = v;
    metrics["rel_output_error"] = relative_output_error(original, q.dequant, hessian_sum);
    metrics["weight_mse"] = weight_mse(original, q.dequant);
    metrics["bits_per_weight"] = q.bits_per_weight;

    std::vector<TensorToWrite> out = {
        f32_tensor("weight", {q.dequant.rows(), q.dequant.cols()}, q.dequant.data()),
        f32_tensor("scales", {q.scales.rows(), q.scales.cols()}, q.scales.data()),
        f32_tensor("zeros", {q.zeros.rows(), q.zeros.cols()}, q.zeros.data()),
        i32_tensor("g_idx", {in}, q.g_idx.data())};
    TensorToWrite codes{"codes", Dtype::u8, {q.dequant.rows(), q.dequant.cols()}, q.codes};
    out.push_back(codes);
    if (!q.codebook.empty())
      out.push_back(f32_tensor("codebook", {q.dequant.rows(), q.n_groups, int64_t(1) << q.bits}, q.codebook.data()));
    std::vector<int32_t> sparse_index;  // row · in + column (a 7B layer has < 2^31 weights)
    std::vector<float> sparse_value;
    for (const auto& e : q.sparse) {
      sparse_index.push_back(static_cast<int32_t>(e.index));
      sparse_value.push_back(e.value);
    }
    if (!q.sparse.empty()) {
      out.push_back(i32_tensor("sparse_index", {static_cast<int64_t>(q.sparse.size())}, sparse_index.data()));
      out.push_back(f32_tensor("sparse_value", {static_cast<int64_t>(q.sparse.size())}, sparse_value.data()));
    }
    std::map<std::string, std::string> meta;
    nlohmann::json j = metrics;
    meta["qlab_metrics"] = j.dump();
    meta["qlab_pipeline"] = a->pipeline;
    write_safetensors(a->out, out, meta);
    if (a->json) fmt::print("{}\n", j.dump());
    else for (const auto& [k, v] : metrics) fmt::print("{:<24} {}\n", k, v);
    return 0;
  };
}

}  // namespace qlab::cli
