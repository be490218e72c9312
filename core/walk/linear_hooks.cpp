#include "walk/linear_hooks.h"

#include "tensor/half.h"

#include <algorithm>

#include "backend/linalg.h"
#include "plugin_host/linear_tensor_service.h"
#include "qlab/groups.hpp"
#include "qlab/plugin.hpp"
#include "util/error.h"
#include "util/parallel.h"
#include "walk/quantize_output_checks.h"

namespace qlab {

using sdk::cview;
using sdk::view;

void take_metrics(const PluginInstance& p, const qlab_metric* metrics, int32_t n, std::map<std::string, double>& into) {
  if (n < 0 || n > QLAB_MAX_METRICS) fail("plugin '{}' returned {} metrics; at most {} fit", p.name(), n, QLAB_MAX_METRICS);
  for (int32_t i = 0; i < n; ++i)
    if (metrics[i].name) into[std::string(p.name()) + "." + sanitized_metric_name(metrics[i].name)] = metrics[i].value;
}

void take_metrics(const PluginInstance& p, const qlab_transform_out& out, std::map<std::string, double>& into) {
  take_metrics(p, out.metrics, out.n_metrics, into);
  if (out.declined) into[std::string(p.name()) + ".fallback_unscaled"] = 1.0;
}

bool transform_linear(Linear& l, int block, const qlab_format& format, PluginInstance& t, const qlab_stats& stats,
                      std::map<std::string, double>& metrics) {
  const char* names[1] = {l.name.c_str()};
  qlab_cview weights[1] = {cview(l.weight)};
  qlab_group_in in{};
  in.name = l.name.c_str();
  in.block = block;
  in.n_linears = 1;
  in.linear_names = names;
  in.weights = weights;
  in.stats = stats;
  in.format = format;
  in.la = cpu_linalg();
  in.producer_kind = QLAB_PRODUCER_NONE;
  Matrix edited = l.weight;
  Vector scale = Vector::Ones(l.in_features());
  qlab_view out_weights[1] = {view(edited)};
  qlab_transform_out out{};
  out.scale = scale.data();
  out.weights = out_weights;
  t.transform(in, out);
  if (out.wrote_scale) fail("plugin '{}' returned a scale for linear {}: only group-scope transforms may scale", t.name(), l.name);
  take_metrics(t, out, metrics);
  if (!out.wrote_weights) return false;
  if (first_non_finite(edited.data(), edited.size()) >= 0) fail("plugin '{}' returned non-finite weights for {}", t.name(), l.name);
  l.weight = edited;
  return true;
}

QuantizedLinear quantize_linear(const Linear& l, int block, const qlab_format& f, PluginInstance& quantizer, const qlab_stats& stats,
                                bool fp16_scales, const qlab_linalg* la) {
  QuantizedLinear q;
  q.name = l.name;
  q.bits = f.bits;
  q.group_size = f.group_size;
  q.sym = f.sym != 0;
  const int64_t rows = l.out_features(), cols = l.in_features();
  q.n_groups = sdk::n_groups(cols, f.group_size);
  q.dequant = Matrix::Zero(rows, cols);
  q.codes.assign(static_cast<size_t>(rows * cols), 0);
  q.scales = Matrix::Zero(rows, q.n_groups);
  q.zeros = Matrix::Zero(rows, q.n_groups);
  // Prefilled with the SDK's contiguous grouping, as scale with 1.0: most quantizers keep it.
  q.g_idx.resize(static_cast<size_t>(cols));
  sdk::for_each_group_in_row(0, cols, f.group_size, [&](const sdk::Group& g) {
    std::fill_n(q.g_idx.begin() + g.begin, g.size, static_cast<int32_t>(g.index));
  });
  if (quantizer.descriptor().uses_codebook) q.codebook.assign(static_cast<size_t>(rows * q.n_groups * (int64_t(1) << f.bits)), 0.0f);
  qlab_linear_in in{};
  in.name = l.name.c_str();
  in.block = block;
  in.weight = cview(l.weight);
  in.stats = stats;
  in.format = f;
  in.la = la ? la : cpu_linalg();
  in.n_threads = thread_count();
  LinearTensorService files(l.name, rows, cols);
  files.attach(in);
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
  check_quantized_output(q, quantizer.name());
  if (fp16_scales && q.codebook.empty()) {
    for (int64_t i = 0; i < q.scales.size(); ++i) q.scales.data()[i] = f16_to_f32(f32_to_f16(q.scales.data()[i]));
    q.dequant = q.dequantize();
  }
  if (!q.codebook.empty()) {
    // A codebook quantizer's dequantized weight is a table lookup; where it differs from its
    // codes' lookup the plugin kept the weight exact (dense-and-sparse): the sparse part.
    const Matrix rebuilt = q.dequantize();
    for (int64_t i = 0; i < rebuilt.size(); ++i)
      if (rebuilt.data()[i] != q.dequant.data()[i]) q.sparse.push_back({i, q.dequant.data()[i]});
  }
  q.bits_per_weight = checked_bits_per_weight(out.bits_per_weight, uniform_bits_per_weight(f.bits, f.group_size, q.sym, cols),
                                             quantizer.name(), l.name);
  std::map<std::string, double> m;
  take_metrics(quantizer, out.metrics, out.n_metrics, m);
  q.metrics.assign(m.begin(), m.end());
  return q;
}


}  // namespace qlab
