#include "walk/layer_walker.h"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>

#include "backend/linalg.h"
#include "forward/block_forward.h"
#include "qlab/plugin.hpp"
#include "tensor/gemm.h"
#include "forward/forward.h"
#include "util/error.h"
#include "util/parallel.h"
#include "util/progress.h"
#include "walk/activation_range.h"
#include "walk/activation_store.h"
#include "walk/fold.h"
#include "walk/linear_hooks.h"
#include "walk/measure.h"
#include "walk/stats.h"
#include "walk/stats_cache.h"

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
  std::vector<std::shared_ptr<StatsCollector>> collectors;
  std::vector<Matrix> hessians;  // 2/S · Σ x xᵀ, built on first use
  std::map<std::string, size_t> group_of;

  const Matrix& hessian(size_t g) {
    if (hessians[g].size() == 0) hessians[g] = collectors[g]->hessian();
    return hessians[g];
  }
};

// Statistics of the input groups listed in `wanted` (all when empty), from one pass of the
// calibration activations through the block as it stands, or from `cache` when an earlier
// grid point captured exactly the same thing.
BlockStats capture(Block& block, const ModelConfig& config, const ActivationStore& x, uint32_t mask, int64_t total_tokens,
                   const std::vector<size_t>& wanted, StatsCache* cache, uint64_t x_hash) {
  BlockStats s;
  auto groups = block.input_groups();
  s.hessians.resize(groups.size());
  const uint64_t key = cache ? StatsCache::key(block, x_hash, mask | QLAB_STAT_HESSIAN, wanted) : 0;
  if (const CapturedStats* hit = cache ? cache->find(key) : nullptr) {
    s.collectors = hit->collectors;
    s.group_of = hit->group_of;
    return s;
  }
  s.collectors.resize(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    for (Linear* l : groups[g]) s.group_of[l->name] = g;
    if (wanted.empty() || std::find(wanted.begin(), wanted.end(), g) != wanted.end())
      s.collectors[g] = std::make_shared<StatsCollector>(mask | QLAB_STAT_HESSIAN, groups[g][0]->in_features(), total_tokens);
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
  if (cache) cache->insert(key, {s.collectors, s.group_of});
  return s;
}

void apply_linear_transforms(Block& block, const std::vector<Linear*>& linears, Pipeline& pipeline, BlockStats& stats,
                             const RunConfig& run, std::map<std::string, std::map<std::string, double>>& metrics) {
  for (auto& t : pipeline.transforms) {
    if (!t->descriptor().transform) continue;
    if (t->descriptor().scope != QLAB_SCOPE_LINEAR) continue;  // group scope: apply_group_transforms
    for (Linear* l : linears) {
      std::optional<qlab_format> f = format_for(run, l->name);
      if (!f) continue;
      const size_t g = stats.group_of.at(l->name);
      transform_linear(*l, block.index, *f, *t, stats.collectors[g]->view(stats.hessian(g)), metrics[l->name]);
    }
  }
}

// The host side of AWQ's module2inspect: the inspected module's output on x/s with candidate
// consumer weights, against its float output on x.
struct MeasureContext {
  Block* block;
  const ModelConfig* config;
  ScalableGroup* group;
  const std::vector<Matrix>* inputs;  // the group's input, per calibration segment
  std::vector<Matrix> reference;      // the module's output with the current weights

  Matrix run(const Matrix& h) const {
    if (group->inspect == Inspect::attention) return attention_output(*block, *config, h);
    if (group->inspect == Inspect::mlp) return mlp_output(*block, *config, h);
    Matrix y;
    linear_forward(h, group->consumers[0]->weight, group->consumers[0]->bias, y);
    return y;
  }
};

// Called from plugin code through a C pointer: nothing may throw across it, and the
// consumers get their own weights back whatever happens.
int32_t measure_module(void* host, const qlab_cview* candidates, const float* s, double* mse) {
  auto* c = static_cast<MeasureContext*>(host);
  std::vector<Matrix> saved;
  int32_t rc = 0;
  try {
    for (size_t i = 0; i < c->group->consumers.size(); ++i) {
      Linear* l = c->group->consumers[i];
      saved.push_back(l->weight);
      l->weight = sdk::map(candidates[i]);
    }
    double sum = 0, count = 0;
    const Eigen::Map<const Eigen::RowVectorXf> scale(s, c->group->consumers[0]->in_features());
    for (size_t seg = 0; seg < c->inputs->size(); ++seg) {
      Matrix h = (*c->inputs)[seg];
      h.array().rowwise() /= scale.array();
      const Matrix y = c->run(h);
      sum += (y - c->reference[seg]).cast<double>().squaredNorm();
      count += static_cast<double>(y.size());
    }
    *mse = count > 0 ? sum / count : 0.0;
  } catch (const std::exception&) {
    rc = 1;
  }
  // Copied back into the same buffers: the plugin holds views of the consumers' weights for
  // the whole transform call, so a moved-in buffer would leave it reading freed memory.
  for (size_t i = 0; i < saved.size(); ++i) c->group->consumers[i]->weight = saved[i];
  return rc;
}

// Group-scope transforms (AWQ, SmoothQuant): each scalable group's scale is searched on the
// block's inputs and folded into the block and into `reference` (the float weights the
// host measures quantization error against).
void apply_group_transforms(Block& block, Block& reference, const ModelConfig& config, const ActivationStore& x,
                            Pipeline& pipeline, const RunConfig& run, int64_t total_tokens,
                            std::map<std::string, std::map<std::string, double>>& metrics) {
  std::vector<ScalableGroup> groups = block.scalable_groups(config), ref_groups = reference.scalable_groups(config);
  std::map<std::string, size_t> first_consumer;
  for (size_t g = 0; g < groups.size(); ++g) first_consumer[groups[g].consumers[0]->name] = g;
  for (auto& t : pipeline.transforms) {
    if (!t->descriptor().transform || t->descriptor().scope != QLAB_SCOPE_GROUP) continue;
    if (groups.empty()) fail("plugin '{}' scales groups, but block {} of this architecture declares none", t->name(), block.index);
    // The inputs of every group, from the block as it stands.
    std::vector<std::vector<Matrix>> inputs(groups.size(), std::vector<Matrix>(x.size()));
    std::vector<std::unique_ptr<StatsCollector>> stats;
    for (const ScalableGroup& g : groups)
      stats.push_back(std::make_unique<StatsCollector>(t->descriptor().stats, g.consumers[0]->in_features(), total_tokens));
    size_t seg = 0;
    LinearInputHook hook = [&](const Linear& l, const Matrix& input) {
      auto it = first_consumer.find(l.name);
      if (it == first_consumer.end()) return;
      inputs[it->second][seg] = input;
      stats[it->second]->add_sequence(input);
    };
    for (seg = 0; seg < x.size(); ++seg) {
      Matrix h = x.get(seg);
      block_forward(block, config, h, 0, nullptr, &hook);
    }
    bool scaled_any = false, offered_any = false;
    for (size_t g = 0; g < groups.size(); ++g) {
      ScalableGroup& group = groups[g];
      std::optional<qlab_format> f = format_for(run, group.consumers[0]->name);
      if (!f) continue;
      offered_any = true;
      MeasureContext ctx{&block, &config, &group, &inputs[g], {}};
      for (const Matrix& in : inputs[g]) ctx.reference.push_back(ctx.run(in));
      std::vector<const char*> names;
      std::vector<qlab_cview> weights;
      std::vector<Matrix> edited;
      for (Linear* l : group.consumers) {
        names.push_back(l->name.c_str());
        weights.push_back({l->weight.data(), l->weight.rows(), l->weight.cols(), l->weight.cols()});
        edited.push_back(l->weight);
      }
      std::vector<qlab_view> edited_views;
      for (Matrix& m : edited) edited_views.push_back({m.data(), m.rows(), m.cols(), m.cols()});
      const Matrix no_hessian;
      qlab_group_in in{};
      in.name = group.name.c_str();
      in.block = block.index;
      in.n_linears = static_cast<int32_t>(group.consumers.size());
      in.linear_names = names.data();
      in.weights = weights.data();
      in.stats = stats[g]->view(no_hessian);
      in.format = *f;
      in.la = cpu_linalg();
      in.measure = measure_module;
      in.host = &ctx;
      Vector scale = Vector::Ones(group.consumers[0]->in_features());
      qlab_transform_out out{};
      out.scale = scale.data();
      out.weights = edited_views.data();
      t->transform(in, out);
      if (out.wrote_scale) {
        scaled_any = true;
        fold_scale(group, scale);
        fold_scale(ref_groups[g], scale);
      }
      if (out.wrote_weights)
        for (size_t i = 0; i < group.consumers.size(); ++i) group.consumers[i]->weight = edited[i];
      std::map<std::string, double> m;
      take_metrics(*t, out.metrics, out.n_metrics, m);
      for (Linear* l : group.consumers)
        for (const auto& [k, v] : m) metrics[l->name][k] = v;
      scaled_any = scaled_any || m.count(std::string(t->name()) + ".fallback_unscaled") > 0;  // declined on purpose, and logged
    }
    // A scaling plugin that finds nothing it can scale would otherwise be a silent no-op
    // (SmoothQuant on OPT-350M's post-LayerNorm blocks, where no norm feeds the linears).
    if (offered_any && !scaled_any) {
      std::string offered;
      for (const ScalableGroup& g : groups) offered += fmt::format("{}{} → {} linear(s)", offered.empty() ? "" : ", ", g.name, g.consumers.size());
      fail("plugin '{}' scaled none of block {}'s groups ({}): this architecture offers it nothing it can scale", t->name(),
           block.index, offered);
    }
  }
}

// Static activation ranges (act_scheme = "static"): each linear's input histogram from the
// float block with this block's scales folded in (as SmoothQuant calibrates the smoothed
// model), turned into one clipping threshold per linear of `block`.
void calibrate_input_ranges(const Block& block, const Block& reference, const ModelConfig& float_config, const ActivationStore& x,
                            const RunConfig& run, ActivationPlan& act) {
  std::map<std::string, AbsHistogram> histograms;
  LinearInputHook hook = [&](const Linear& l, const Matrix& input) {
    if (!histograms[l.name].add(input.data(), input.size()))
      fail("block {}: the input of {} holds NaN or infinite values; static ranges cannot be calibrated", block.index, l.name);
  };
  for (size_t i = 0; i < x.size(); ++i) {
    Matrix h = x.get(i);
    block_forward(reference, float_config, h, 0, nullptr, &hook);
  }
  for (const Linear* l : block.linears()) {
    const float absmax = static_cast<float>(calibrate_range(histograms.at(l->name), run.act_calibration, run.act.bits));
    act.input_absmax[l->name] = absmax;
    if (!(absmax > 0))
      fail("block {}: every calibration input of {} is zero; a static activation range cannot be calibrated from it", block.index, l->name);
  }
}

// Non-finite activations (overflow, a NaN weight) would otherwise flow on into NaN errors
// logged as done; the first block where they appear fails the run, named.
void check_finite(const Matrix& m, int64_t block, const char* what) {
  if (first_non_finite(m.data(), m.size()) >= 0)
    fail("block {}: {} has a non-finite value (activations overflow)", block, what);
}

}  // namespace

void walk_layers(Model& model, const Model& float_model, const std::vector<std::vector<int32_t>>& calibration,
                 Pipeline& pipeline, const RunConfig& run, ActivationPlan& act, int64_t start_block, const BlockDone& on_block,
                 bool show_progress, StatsCache* cache) {
  const ModelConfig& config = model.config;
  ActivationStore x(run.activations, calibration.size());
  int64_t total_tokens = 0;
  for (size_t i = 0; i < calibration.size(); ++i) {
    x.set(i, embed(model, calibration[i]));
    total_tokens += static_cast<int64_t>(calibration[i].size());
  }
  const bool float_propagation = run.propagate == Propagation::float_reference;
  // A resumed run recomputes X_start through the blocks it already finished.
  for (int64_t b = 0; b < start_block; ++b) {
    const Block& through = float_propagation ? float_model.blocks[b] : model.blocks[b];
    for (size_t i = 0; i < x.size(); ++i) {
      Matrix h = x.get(i);
      block_forward(through, config, h, 0, nullptr, nullptr, float_propagation ? nullptr : &act);
      x.set(i, h);
    }
  }
  // Checked once here; every later block's input is an output checked at propagation.
  for (size_t i = 0; i < x.size(); ++i) check_finite(x.get(i), start_block, "the calibration input");
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
    Block reference = float_block;  // the float weights, with the same scales folded in
    {
      auto t0 = Clock::now();
      apply_group_transforms(block, reference, config, x, pipeline, run, total_tokens, metrics);
      result.row.time_transform_s += since(t0);
    }
    const uint64_t x_hash = cache ? StatsCache::activations_hash(x) : 0;  // shared by the block's stages
    for (const std::vector<size_t>& stage : stages) {
      auto t0 = Clock::now();
      BlockStats stats = capture(block, config, x, pipeline.stats_mask, total_tokens, stage, cache, x_hash);
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
        for (const Linear* fl : reference.linears())
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
    if (run.act.enabled() && run.act.scheme == ActScheme::static_range) {
      calibrate_input_ranges(block, reference, config, x, run, act);
      for (LinearRow& row : result.linears) row.metrics["act_input_absmax"] = act.absmax_of(row.id);
    }
    double err_num = 0, err_den = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      Matrix input = x.get(i);
      Matrix yq = input, yf = input;
      block_forward(block, config, yq, 0, nullptr, nullptr, &act);
      block_forward(float_block, config, yf);
      check_finite(yf, b, "the float block's output");
      check_finite(yq, b, "the quantized block's output");
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
