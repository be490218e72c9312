#include "walk/layer_walker.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <map>
#include <optional>

#include "backend/device_activation_store.h"
#include "backend/linalg.h"
#include "data/memory_budget.h"
#include "forward/block_forward.h"
#include "forward/device_block.h"
#include "forward/forward.h"
#include "util/error.h"
#include "util/progress.h"
#include "tensor/activation_store.h"
#include "walk/activation_range.h"
#include "walk/capture.h"
#include "walk/group_transforms.h"
#include "walk/linear_hooks.h"
#include "walk/measure.h"
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

// What every block's walk reads.
struct Walk {
  const ModelConfig& config;
  const LayerPlan& plan;
  Pipeline& pipeline;
  ActivationPlan& act;
  StatsCache* cache;
  const qlab_linalg* la;  // the quantizer's table: its gptq_solve runs on the run's device
  int64_t total_tokens = 0;
};

template <typename B>
auto& linear_named(B& block, const std::string& id) {
  for (auto* l : block.linears())
    if (l->name == id) return *l;
  fail("block {}: the plan names linear {}, which the block lacks", block.index, id);
}

// Non-finite activations (overflow, a NaN weight) would otherwise flow on into NaN errors
// logged as done; the first block where they appear fails the run, named.
void check_finite(const Matrix& m, int64_t block, const char* what) {
  if (first_non_finite(m.data(), m.size()) >= 0) fail("block {}: {} has a non-finite value (activations overflow)", block, what);
}

// transform (linear scope): each quantized linear of the stage, in pipeline order.
void transform_linears(Block& block, const std::vector<const LinearPlan*>& stage, Walk& w, BlockStats& stats, LinearMetrics& metrics) {
  for (auto& t : w.pipeline.transforms) {
    if (!t->descriptor().transform || t->descriptor().scope != QLAB_SCOPE_LINEAR) continue;
    for (const LinearPlan* p : stage) {
      if (!p->format) continue;
      const size_t g = stats.group_of.at(p->id);
      transform_linear(linear_named(block, p->id), block.index, *p->format, *t, stats.collectors[g]->view(stats.hessian(g)),
                       metrics[p->id]);
    }
  }
}

// measure (per linear): the quantized weight against the float one (with the block's scales
// folded in) on the calibration inputs.
LinearRow measure_linear(int32_t block, const Linear& original, const QuantizedLinear& q, const qlab_format& f, double seconds,
                         const Matrix& hessian, const std::map<std::string, double>& metrics) {
  LinearRow row;
  row.id = q.name;
  row.block = block;
  row.bits = f.bits;
  row.group_size = f.group_size;
  row.n_rows = original.out_features();
  row.n_cols = original.in_features();
  row.rel_output_error = relative_output_error(original.weight, q.dequant, hessian);
  row.weight_mse = weight_mse(original.weight, q.dequant);
  row.hessian_trace = hessian.trace();
  row.time_quantize_s = seconds;
  row.bits_per_weight = q.bits_per_weight;
  row.metrics = metrics;
  for (const auto& [k, v] : q.metrics) row.metrics[k] = v;
  return row;
}

// quantize: each linear of the stage the plan gives a format, with the stage's statistics
// (null when the stage quantizes nothing); what was handed to the quantizer is recorded as
// executed.
void quantize_stage(Block& block, const Block& reference, const std::vector<const LinearPlan*>& stage, int32_t stage_index, uint32_t mask,
                    Walk& w, BlockStats* stats, LinearMetrics& metrics, BlockResult& result) {
  for (const LinearPlan* p : stage) {
    LinearPlan done = *p;
    Linear& l = linear_named(block, p->id);
    done.out_features = l.out_features();
    done.in_features = l.in_features();
    done.stage = stage_index;
    done.stats = 0;
    done.format.reset();
    if (p->format) {
      const size_t g = stats->group_of.at(p->id);
      const auto t0 = Clock::now();
      QuantizedLinear q = quantize_linear(l, block.index, *p->format, *w.pipeline.quantizer, stats->collectors[g]->view(stats->hessian(g)),
                                          w.plan.fp16_scales, w.la);
      const double seconds = since(t0);
      result.linears.push_back(measure_linear(block.index, linear_named(reference, p->id), q, *p->format, seconds,
                                              stats->hessian(g), metrics[p->id]));
      l.weight = q.dequant;
      result.quantized.push_back(std::move(q));
      done.format = p->format;
      done.stats = mask | QLAB_STAT_HESSIAN;
    }
    result.executed.linears.push_back(std::move(done));
  }
}

// Static activation ranges (act_scheme = "static"): each linear's input histogram from the
// float block with this block's scales folded in (as SmoothQuant calibrates the smoothed
// model), turned into one clipping threshold per linear of `block`.
void calibrate_input_ranges(const Block& block, const Block& reference, const ActivationStore& x, Walk& w) {
  std::map<std::string, AbsHistogram> histograms;
  LinearInputHook hook = [&](const Linear& l, const Matrix& input) {
    if (!histograms[l.name].add(input.data(), input.size()))
      fail("block {}: the input of {} holds NaN or infinite values; static ranges cannot be calibrated", block.index, l.name);
  };
  for (size_t i = 0; i < x.size(); ++i) {
    Matrix h = x.get(i);
    block_forward(reference, w.config, h, 0, nullptr, &hook);
  }
  for (const Linear* l : block.linears()) {
    const float absmax = static_cast<float>(calibrate_range(histograms.at(l->name), w.plan.act_calibration, w.plan.act.bits));
    w.act.input_absmax[l->name] = absmax;
    if (!(absmax > 0))
      fail("block {}: every calibration input of {} is zero; a static activation range cannot be calibrated from it", block.index, l->name);
  }
}

// propagate: X_{b+1}, and the block's output error (quantized against float) on the way.
double propagate(const Block& block, const Block& float_block, ActivationStore& x, Walk& w) {
  double err_num = 0, err_den = 0;
  if (auto* dx = dynamic_cast<DeviceActivationStore*>(&x)) {  // on the device: only two sums come back
    Backend& be = dx->backend();
    const DeviceBlock quantized(be, block), reference(be, float_block);
    for (size_t i = 0; i < x.size(); ++i)
      dx->on_device(i, [&](DeviceBuffer& input) {
        DeviceBuffer yq = be.alloc(input.rows(), input.cols()), yf = be.alloc(input.rows(), input.cols());
        be.copy(input, yq);
        be.copy(input, yf);
        device_block_forward(quantized, w.config, yq, nullptr, &w.act);
        device_block_forward(reference, w.config, yf);
        const double num = be.squared_distance(yq, yf), den = be.squared_norm(yf);
        // A sum over a non-finite value is non-finite: the host check, without copying back.
        if (!std::isfinite(den)) fail("block {}: the float block's output has a non-finite value (activations overflow)", block.index);
        if (!std::isfinite(num)) fail("block {}: the quantized block's output has a non-finite value (activations overflow)", block.index);
        err_num += num;
        err_den += den;
        be.copy(w.plan.float_propagation ? yf : yq, input);
      }, true);
    return err_den > 0 ? err_num / err_den : 0.0;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    Matrix input = x.get(i);
    Matrix yq = input, yf = input;
    block_forward(block, w.config, yq, 0, nullptr, nullptr, &w.act);
    block_forward(float_block, w.config, yf);
    check_finite(yf, block.index, "the float block's output");
    check_finite(yq, block.index, "the quantized block's output");
    err_num += (yq - yf).cast<double>().squaredNorm();
    err_den += yf.cast<double>().squaredNorm();
    x.set(i, w.plan.float_propagation ? yf : yq);
  }
  return err_den > 0 ? err_num / err_den : 0.0;
}

// x ← through(x) for every segment, where the activations are (a resumed run's finished blocks).
void forward_all(const Block& through, ActivationStore& x, const ModelConfig& config, const ActivationPlan* act) {
  if (auto* dx = dynamic_cast<DeviceActivationStore*>(&x)) {
    const DeviceBlock resident(dx->backend(), through);
    for (size_t i = 0; i < x.size(); ++i)
      dx->on_device(i, [&](DeviceBuffer& h) { device_block_forward(resident, config, h, nullptr, act); }, true);
    return;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    Matrix h = x.get(i);
    block_forward(through, config, h, 0, nullptr, nullptr, act);
    x.set(i, h);
  }
}

// One block through every stage; `block` starts as the float block and leaves quantized.
BlockResult walk_block(Block& block, const Block& float_block, const BlockPlan& bp, ActivationStore& x, Walk& w) {
  BlockResult result;
  result.block = block.index;
  result.row.block = block.index;
  result.executed.index = bp.index;
  result.executed.stages = bp.stages;
  for (const auto& group : block.input_groups()) {
    std::vector<std::string> names;
    for (const Linear* l : group) names.push_back(l->name);
    result.executed.input_groups.push_back(names);
  }
  LinearMetrics metrics;
  // The float weights with the same scales folded in: a copy only when something may be scaled.
  std::optional<Block> folded;
  if (!bp.offered_groups.empty()) folded = float_block;
  const Block& reference = folded ? *folded : float_block;
  auto t0 = Clock::now();
  result.executed.offered_groups = transform_groups(block, folded ? &*folded : nullptr, w.config, bp, w.plan.group_stats, x,
                                                    w.pipeline, w.total_tokens, metrics);
  result.row.time_transform_s += since(t0);

  const uint64_t x_hash = w.cache ? StatsCache::activations_hash(x) : 0;  // shared by the block's stages
  for (size_t s = 0; s < bp.stages.size(); ++s) {
    std::vector<const LinearPlan*> stage;
    uint32_t mask = 0;
    for (const LinearPlan& p : bp.linears)
      if (bp.stages[s].empty() || p.input_group == bp.stages[s][0]) {
        stage.push_back(&p);
        mask |= p.stats;
      }
    if (mask == 0) {  // nothing in this stage is quantized: nothing to capture
      quantize_stage(block, reference, stage, static_cast<int32_t>(s), mask, w, nullptr, metrics, result);
      continue;
    }
    mask &= ~static_cast<uint32_t>(QLAB_STAT_HESSIAN);  // capture adds it
    t0 = Clock::now();
    BlockStats stats = capture(block, w.config, x, mask, w.total_tokens, bp.stages[s], w.cache, x_hash);
    result.row.time_capture_s += since(t0);
    t0 = Clock::now();
    transform_linears(block, stage, w, stats, metrics);
    result.row.time_transform_s += since(t0);
    t0 = Clock::now();
    quantize_stage(block, reference, stage, static_cast<int32_t>(s), mask, w, &stats, metrics, result);
    result.row.time_quantize_s += since(t0);
  }

  t0 = Clock::now();
  if (w.plan.act.enabled() && w.plan.act.scheme == ActScheme::static_range) {
    calibrate_input_ranges(block, reference, x, w);
    for (LinearRow& row : result.linears) row.metrics["act_input_absmax"] = w.act.absmax_of(row.id);
  }
  result.row.rel_block_output_error = propagate(block, float_block, x, w);
  result.row.time_propagate_s = since(t0);
  result.row.peak_rss_bytes = peak_rss_bytes();
  return result;
}

// The calibration activations between blocks: what is left of the memory budget after the
// float block, the block being quantized and the reference a walk holds (3 blocks in
// float32), in the plan's precision; beyond it they spill to a file. With a device, the
// segments that fit its budget beside two blocks, one stage's Hessians and a forward's work
// space stay there.
std::unique_ptr<ActivationStore> calibration_store(const WeightSource& source, const LayerPlan& plan,
                                                   const std::vector<std::vector<int32_t>>& calibration, const WalkMemory& memory) {
  const ModelConfig& c = source.config();
  int64_t longest = 0;
  for (const auto& segment : calibration) longest = std::max(longest, static_cast<int64_t>(segment.size()));
  const double block_bytes = largest_block_bytes(source.linears());
  const uint64_t budget = memory.memory_bytes > 0 ? memory.memory_bytes : default_memory_budget();
  const double held = 3 * block_bytes, one = static_cast<double>(ActivationStore::segment_bytes(plan.activations, longest, c.dim));
  if (static_cast<double>(budget) < held + one)
    fail("--max-memory {:.1f} MiB is too small to quantize {}: at least {:.1f} MiB is needed (3 blocks in float32, "
         "{:.1f} MiB, plus one calibration segment of {}×{} activations)",
         static_cast<double>(budget) / (1 << 20), source.path(), (held + one) / (1 << 20), held / (1 << 20), longest, c.dim);
  const auto n = static_cast<int64_t>(calibration.size());
  const uint64_t host_bytes = budget - static_cast<uint64_t>(held);
  if (!memory.device) return std::make_unique<ActivationStore>(plan.activations, n, longest, c.dim, host_bytes, memory.spill_dir);
  const double attn = static_cast<double>(c.n_heads * c.head_dim), d = static_cast<double>(c.dim), f = static_cast<double>(c.hidden_dim);
  const double hessians = 4.0 * (2 * d * d + attn * attn + f * f);
  const double pinned = 2 * block_bytes + hessians + device_forward_work_bytes(c, longest) + 3.0 * 4 * static_cast<double>(longest) * d;
  const uint64_t device_bytes = device_memory_budget(*memory.device, memory.max_device_memory, pinned + 4.0 * longest * d,
                                                     fmt::format("quantizing {}", source.path()));
  return std::make_unique<DeviceActivationStore>(*memory.device, device_bytes - static_cast<uint64_t>(pinned), plan.activations, n,
                                                 longest, c.dim, host_bytes, memory.spill_dir);
}

}  // namespace

LayerPlan walk_layers(const WeightSource& source, const LayerPlan& plan, const std::vector<std::vector<int32_t>>& calibration,
                      Pipeline& pipeline, ActivationPlan& act, BlockSink& sink, bool show_progress, StatsCache* cache,
                      const FinishedBlocks& finished, const WalkMemory& memory) {
  const int64_t n_blocks = source.n_blocks(), start_block = finished.count;
  if (static_cast<int64_t>(plan.blocks.size()) != n_blocks)
    fail("{}: the plan has {} block(s), the model {}", source.path(), plan.blocks.size(), n_blocks);
  const ModelConfig& config = source.config();
  Walk w{config, plan, pipeline, act, cache, linalg_for(memory.device)};
  const std::unique_ptr<ActivationStore> store = calibration_store(source, plan, calibration, memory);
  ActivationStore& x = *store;
  if (const auto* dx = dynamic_cast<const DeviceActivationStore*>(store.get())) {
    if (memory.device_resident_segments) *memory.device_resident_segments = dx->resident_segments();
    if (show_progress)
      fmt::print(stderr, "{}: {} of {} calibration segments resident\n", memory.device->name(), dx->resident_segments(), x.size());
  }
  {
    const Model outer = source.load_outer();
    const VocabRows rows = [&](VocabTable t, std::span<const int32_t> ids) { return source.vocab_rows(t, ids); };
    for (size_t i = 0; i < calibration.size(); ++i) {
      x.set(i, embed(outer, rows, calibration[i]));
      w.total_tokens += static_cast<int64_t>(calibration[i].size());
    }
  }
  // A resumed run recomputes X_start through the blocks it already finished.
  for (int64_t b = 0; b < start_block; ++b) {
    const Block walked = finished.block(b, act);
    const Block through = plan.float_propagation ? source.load_block(b) : walked;
    forward_all(through, x, config, plan.float_propagation ? nullptr : &act);
  }
  // Checked once here; every later block's input is an output checked at propagation.
  for (size_t i = 0; i < x.size(); ++i) check_finite(x.get(i), start_block, "the calibration input");
  LayerPlan executed = plan;
  executed.act = act.scheme;
  executed.blocks.clear();
  Progress progress("quantize", n_blocks, "blocks", show_progress);
  progress.advance(start_block);
  for (int64_t b = start_block; b < n_blocks; ++b) {
    const Block float_block = source.load_block(b);
    Block block = float_block;
    BlockResult result = walk_block(block, float_block, plan.blocks[b], x, w);
    executed.blocks.push_back(result.executed);
    sink.put(result, block, act);
    progress.advance();
  }
  progress.finish();
  return executed;
}

}  // namespace qlab
