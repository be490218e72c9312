#include "walk/layer_walker.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>

#include "model/block_forward.h"
#include "model/forward.h"
#include "util/error.h"
#include "util/parallel.h"
#include "util/progress.h"
#include "walk/activation_store.h"
#include "walk/linear_hooks.h"
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

// Statistics of the input groups listed in `wanted` (all when empty), from one pass of the
// calibration activations through the block as it stands.
BlockStats capture(Block& block, const ModelConfig& config, const ActivationStore& x, uint32_t mask, int64_t total_tokens,
                   const std::vector<size_t>& wanted) {
  BlockStats s;
  auto groups = block.input_groups();
  s.collectors.resize(groups.size());
  s.hessians.resize(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    for (Linear* l : groups[g]) s.group_of[l->name] = g;
    if (wanted.empty() || std::find(wanted.begin(), wanted.end(), g) != wanted.end())
      s.collectors[g] = std::make_unique<StatsCollector>(mask | QLAB_STAT_HESSIAN, groups[g][0]->in_features(), total_tokens);
  }
  std::vector<bool> seen(groups.size());
  LinearInputHook hook = [&](const Linear& l, const Matrix& input) {
    const size_t g = s.group_of.at(l.name);
    if (s.collectors[g] && !seen[g]) {
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

void apply_linear_transforms(Block& block, const std::vector<Linear*>& linears, Pipeline& pipeline, BlockStats& stats,
                             const RunConfig& run, std::map<std::string, std::map<std::string, double>>& metrics) {
  for (auto& t : pipeline.transforms) {
    if (!t->descriptor().transform) continue;
    if (t->descriptor().scope != QLAB_SCOPE_LINEAR)
      fail("plugin '{}': group-scope transforms need the model's scalable groups, which this walker does not offer yet", t->name());
    for (Linear* l : linears) {
      std::optional<qlab_format> f = format_for(run, l->name);
      if (!f) continue;
      const size_t g = stats.group_of.at(l->name);
      transform_linear(*l, block.index, *f, *t, stats.collectors[g]->view(stats.hessian(g)), metrics[l->name]);
    }
  }
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

    // One stage per input group with true_sequential (GPTQ's llama.py: [q,k,v], [o], [gate,up],
    // [down], each captured after the earlier ones are quantized); otherwise one stage.
    std::vector<std::vector<size_t>> stages;
    const size_t n_groups = block.input_groups().size();
    if (run.true_sequential)
      for (size_t g = 0; g < n_groups; ++g) stages.push_back({g});
    else
      stages.push_back({});
    std::map<std::string, std::map<std::string, double>> metrics;
    for (const std::vector<size_t>& stage : stages) {
      auto t0 = Clock::now();
      BlockStats stats = capture(block, config, x, pipeline.stats_mask, total_tokens, stage);
      result.row.time_capture_s += since(t0);
      std::vector<Linear*> linears;
      for (Linear* l : block.linears())
        if (stage.empty() || stats.group_of.at(l->name) == stage[0]) linears.push_back(l);

      t0 = Clock::now();
      apply_linear_transforms(block, linears, pipeline, stats, run, metrics);
      result.row.time_transform_s += since(t0);

      t0 = Clock::now();
      for (Linear* l : linears) {
        std::optional<qlab_format> f = format_for(run, l->name);
        if (!f) continue;
        const size_t g = stats.group_of.at(l->name);
        auto tq = Clock::now();
        QuantizedLinear q = quantize_linear(*l, static_cast<int>(b), *f, *pipeline.quantizer, stats.collectors[g]->view(stats.hessian(g)));
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
      result.row.time_quantize_s += since(t0);
    }

    auto t0 = Clock::now();
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
