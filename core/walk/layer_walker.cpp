#include "walk/layer_walker.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>

#include "backend/linalg.h"
#include "model/block_forward.h"
#include "model/forward.h"
#include "util/error.h"
#include "util/parallel.h"
#include "util/progress.h"
#include "walk/activation_store.h"
#include "walk/measure.h"
#include "walk/stats.h"

namespace qlab {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

qlab_cview cview(const Matrix& m) { return {m.data(), m.rows(), m.cols(), m.cols()}; }
qlab_view view(Matrix& m) { return {m.data(), m.rows(), m.cols(), m.cols()}; }

void take_metrics(const PluginInstance& p, const qlab_metric* metrics, int32_t n, std::map<std::string, double>& into) {
  for (int32_t i = 0; i < n && i < 16; ++i)
    if (metrics[i].name) into[std::string(p.name()) + "." + metrics[i].name] = metrics[i].value;
}

// Per-input-group statistics of one block: captured once, read by every hook.
struct BlockStats {
  std::vector<std::unique_ptr<StatsCollector>> collectors;
  std::vector<Matrix> hessians;  // 2/S · Σ x xᵀ, built on first use
  std::map<std::string, size_t> group_of;

  const Matrix& hessian(size_t g) {
    if (hessians[g].size() == 0) hessians[g] = collectors[g]->hessian();
    return hessians[g];
  }
};

BlockStats capture(Block& block, const ModelConfig& config, const ActivationStore& x, uint32_t mask, int64_t total_tokens) {
  BlockStats s;
  auto groups = block.input_groups();
  s.hessians.resize(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].empty()) continue;
    s.collectors.push_back(std::make_unique<StatsCollector>(mask | QLAB_STAT_HESSIAN, groups[g][0]->in_features(), total_tokens));
    for (Linear* l : groups[g]) s.group_of[l->name] = s.collectors.size() - 1;
  }
  s.hessians.resize(s.collectors.size());
  std::vector<bool> seen(s.collectors.size());
  LinearInputHook hook = [&](const Linear& l, const Matrix& input) {
    size_t g = s.group_of.at(l.name);
    if (!seen[g]) {
      seen[g] = true;
      s.collectors[g]->add_sequence(input);
    }
  };
  for (size_t i = 0; i < x.size(); ++i) {
    std::fill(seen.begin(), seen.end(), false);
    Matrix h = x.get(i);
    block_forward(block, config, h, 0, nullptr, &hook);
  }
  return s;
}

void apply_linear_transforms(Block& block, Pipeline& pipeline, BlockStats& stats, const RunConfig& run,
                             std::map<std::string, std::map<std::string, double>>& metrics) {
  for (auto& t : pipeline.transforms) {
    if (!t->descriptor().transform) continue;
    if (t->descriptor().scope != QLAB_SCOPE_LINEAR)
      fail("plugin '{}': group-scope transforms need the model's scalable groups, which this walker does not offer yet", t->name());
    for (Linear* l : block.linears()) {
      std::optional<qlab_format> f = format_for(run, l->name);
      if (!f) continue;
      const size_t g = stats.group_of.at(l->name);
      const Matrix& h = stats.hessian(g);
      const char* names[1] = {l->name.c_str()};
      qlab_cview weights[1] = {cview(l->weight)};
      qlab_group_in in{};
      in.name = l->name.c_str();
      in.block = block.index;
      in.n_linears = 1;
      in.linear_names = names;
      in.weights = weights;
      in.stats = stats.collectors[g]->view(h);
      in.format = *f;
      in.la = cpu_linalg();
      Matrix edited = l->weight;
      Vector scale = Vector::Ones(l->in_features());
      qlab_view out_weights[1] = {view(edited)};
      qlab_transform_out out{};
      out.scale = scale.data();
      out.weights = out_weights;
      t->transform(in, out);
      if (out.wrote_scale) fail("plugin '{}' returned a scale for linear {}: only group-scope transforms may scale", t->name(), l->name);
      if (out.wrote_weights) {
        if (first_non_finite(edited.data(), edited.size()) >= 0) fail("plugin '{}' returned non-finite weights for {}", t->name(), l->name);
        l->weight = edited;
      }
      take_metrics(*t, out.metrics, out.n_metrics, metrics[l->name]);
    }
  }
}

QuantizedLinear quantize_linear(Linear& l, int block, const qlab_format& f, PluginInstance& quantizer,
                                const StatsCollector& collector, const Matrix& hessian) {
  QuantizedLinear q;
  q.name = l.name;
  q.bits = f.bits;
  q.group_size = f.group_size;
  q.sym = f.sym != 0;
  const int64_t rows = l.out_features(), cols = l.in_features();
  q.n_groups = f.group_size > 0 ? (cols + f.group_size - 1) / f.group_size : 1;
  q.dequant = Matrix::Zero(rows, cols);
  q.codes.assign(static_cast<size_t>(rows * cols), 0);
  q.scales = Matrix::Zero(rows, q.n_groups);
  q.zeros = Matrix::Zero(rows, q.n_groups);
  q.g_idx.assign(static_cast<size_t>(cols), 0);
  if (quantizer.descriptor().uses_codebook) q.codebook.assign(static_cast<size_t>(rows * q.n_groups * (int64_t(1) << f.bits)), 0.0f);
  qlab_linear_in in{};
  in.name = l.name.c_str();
  in.block = block;
  in.weight = cview(l.weight);
  in.stats = collector.view(hessian);
  in.format = f;
  in.la = cpu_linalg();
  in.n_threads = thread_count();
  qlab_quantize_out out{};
  out.dequant = view(q.dequant);
  out.codes = q.codes.data();
  out.scales = q.scales.data();
  out.zeros = q.zeros.data();
  out.g_idx = q.g_idx.data();
  out.codebook = q.codebook.empty() ? nullptr : q.codebook.data();
  out.n_groups = q.n_groups;
  quantizer.quantize(in, out);
  if (long long bad = first_non_finite(q.dequant.data(), q.dequant.size()); bad >= 0)
    fail("plugin '{}' produced a non-finite dequantized weight for {} at flat index {}", quantizer.name(), l.name, bad);
  q.bits_per_weight = out.bits_per_weight > 0 ? out.bits_per_weight : uniform_bits_per_weight(f.bits, f.group_size, q.sym, cols);
  std::map<std::string, double> m;
  take_metrics(quantizer, out.metrics, out.n_metrics, m);
  q.metrics.assign(m.begin(), m.end());
  return q;
}

}  // namespace

void walk_layers(Model& model, const Model& float_model, const std::vector<std::vector<int32_t>>& calibration,
                 Pipeline& pipeline, const RunConfig& run, int64_t start_block, const BlockDone& on_block,
                 bool show_progress) {
  const ModelConfig& config = model.config;
  ActivationStore x(ActivationStore::parse_precision(run.activations), calibration.size());
  int64_t total_tokens = 0;
  for (size_t i = 0; i < calibration.size(); ++i) {
    x.set(i, embed(model, calibration[i]));
    total_tokens += static_cast<int64_t>(calibration[i].size());
  }
  const bool float_propagation = run.propagate == "float";
  // A resumed run recomputes X_start through the blocks it already finished.
  for (int64_t b = 0; b < start_block; ++b) {
    const Block& through = float_propagation ? float_model.blocks[b] : model.blocks[b];
    for (size_t i = 0; i < x.size(); ++i) {
      Matrix h = x.get(i);
      block_forward(through, config, h);
      x.set(i, h);
    }
  }
  const int64_t n_blocks = static_cast<int64_t>(model.blocks.size());
  Progress progress("quantize", n_blocks, "blocks", show_progress);
  progress.advance(start_block);
  for (int64_t b = start_block; b < n_blocks; ++b) {
    Block& block = model.blocks[b];
    const Block& float_block = float_model.blocks[b];
    BlockResult result;
    result.block = static_cast<int>(b);
    result.row.block = static_cast<int32_t>(b);

    auto t0 = Clock::now();
    BlockStats stats = capture(block, config, x, pipeline.stats_mask, total_tokens);
    result.row.time_capture_s = since(t0);

    t0 = Clock::now();
    std::map<std::string, std::map<std::string, double>> metrics;
    apply_linear_transforms(block, pipeline, stats, run, metrics);
    result.row.time_transform_s = since(t0);

    t0 = Clock::now();
    for (Linear* l : block.linears()) {
      std::optional<qlab_format> f = format_for(run, l->name);
      if (!f) continue;
      const size_t g = stats.group_of.at(l->name);
      auto tq = Clock::now();
      QuantizedLinear q = quantize_linear(*l, static_cast<int>(b), *f, *pipeline.quantizer, *stats.collectors[g], stats.hessian(g));
      const double seconds = since(tq);
      const Linear* original = nullptr;
      for (const Linear* fl : float_block.linears())
        if (fl->name == l->name) original = fl;
      LinearRow row;
      row.id = l->name;
      row.block = static_cast<int32_t>(b);
      row.bits = f->bits;
      row.group_size = f->group_size;
      row.n_rows = l->out_features();
      row.n_cols = l->in_features();
      row.rel_output_error = relative_output_error(original->weight, q.dequant, stats.collectors[g]->hessian_sum());
      row.weight_mse = weight_mse(original->weight, q.dequant);
      row.time_quantize_s = seconds;
      row.bits_per_weight = q.bits_per_weight;
      row.metrics = metrics[l->name];
      for (const auto& [k, v] : q.metrics) row.metrics[k] = v;
      l->weight = q.dequant;
      result.linears.push_back(std::move(row));
      result.quantized.push_back(std::move(q));
    }
    result.row.time_quantize_s = since(t0);

    t0 = Clock::now();
    double err_num = 0, err_den = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      Matrix input = x.get(i);
      Matrix yq = input, yf = input;
      block_forward(block, config, yq);
      block_forward(float_block, config, yf);
      err_num += (yq - yf).cast<double>().squaredNorm();
      err_den += yf.cast<double>().squaredNorm();
      x.set(i, float_propagation ? yf : yq);
    }
    result.row.rel_block_output_error = err_den > 0 ? err_num / err_den : 0.0;
    result.row.time_propagate_s = since(t0);
    result.row.peak_rss_bytes = peak_rss_bytes();
    on_block(result);
    progress.advance();
  }
  progress.finish();
}

}  // namespace qlab
