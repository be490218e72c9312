// clip: AWQ's output-aware clipping search (llm-awq auto_clip_layer), a transform on one
// linear. For each output row and input group it tries max |w| · (1 − i/n_grid), i <
// max_shrink·n_grid, clamps the weights there, quantizes them with the run's format, and
// keeps the threshold whose group-wise partial outputs x_g·Q(w_g) on the sampled calibration
// rows are closest (mean squared) to x_g·w_g. q/k projections are skipped, as the reference does.
#include <qlab/grid.hpp>
#include <qlab/plugin.hpp>
#include <string>
#include <vector>

namespace {

class Clip {
 public:
  static constexpr const char* name = "clip";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary = "AWQ output-aware weight clipping search (transform on one linear)";
  static constexpr uint32_t stats = QLAB_STAT_ROWS;
  static constexpr uint32_t scope = QLAB_SCOPE_LINEAR;
  static constexpr int32_t naming = QLAB_NAMING_SILENT;  // part of AWQ's own pipeline: "awq" stays "awq"
  static constexpr auto n_grid = qlab::sdk::int_param("n_grid", 20, "shrink grid size").range(1, 1000);
  static constexpr auto max_shrink = qlab::sdk::float_param("max_shrink", 0.5, "largest fraction of max |w| cut off").range(0.0, 1.0);
  static constexpr auto skip = qlab::sdk::string_param("skip", "q_|k_|query|key|Wqkv", "'|'-separated substrings of linear names left unclipped");
  static constexpr qlab_param_decl params[] = {n_grid, max_shrink, skip};

  explicit Clip(const qlab::sdk::Params& p)
      : n_grid_(static_cast<int32_t>(p.get(n_grid))), max_shrink_(p.get(max_shrink)), skip_(qlab::sdk::split(p.get(skip), '|')) {}

  void transform(const qlab_group_in& in, qlab_transform_out& out) {
    for (const std::string& s : skip_)
      if (std::string(in.name).find(s) != std::string::npos) return;  // wrote nothing: the weights stay
    if (in.stats.rows.n_rows == 0) throw qlab::sdk::Failure("clip needs sampled input rows (ROWS statistic)");
    for (int32_t l = 0; l < in.n_linears; ++l) clip_one(in.weights[l], in.stats.rows, in.format, out.weights[l], out);
    out.wrote_weights = 1;
  }

 private:
  void clip_one(qlab_cview w, qlab_cview x, qlab_format f, qlab_view dst, qlab_transform_out& out) {
    const int64_t rows = w.n_rows, cols = w.n_cols, tokens = x.n_rows;
    const int64_t groups = qlab::sdk::n_groups(cols, f.group_size);
    const int32_t maxq = qlab::grid::max_code(f.bits);
    const int32_t steps = static_cast<int32_t>(max_shrink_ * n_grid_);
    // Per row, summed in row order below: a reduction clause would add the threads' partial
    // sums in arrival order, and the logged metric would change from run to run.
    std::vector<double> row_shrink(static_cast<size_t>(rows), 0.0);
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t r = 0; r < rows; ++r) {
      const float* wr = w.data + r * w.row_stride;
      float* dr = dst.data + r * dst.row_stride;
      std::vector<float> clipped(static_cast<size_t>(cols));
      std::vector<double> reference(static_cast<size_t>(tokens));
      qlab::sdk::for_each_group_in_row(r, cols, f.group_size, [&](const qlab::sdk::Group& g) {
        const int64_t c0 = g.begin, n = g.size;
        float org_max = 0;
        for (int64_t c = 0; c < n; ++c) org_max = std::max(org_max, std::fabs(wr[c0 + c]));
        for (int64_t t = 0; t < tokens; ++t) {
          double s = 0;
          for (int64_t c = 0; c < n; ++c) s += double(x.data[t * x.row_stride + c0 + c]) * wr[c0 + c];
          reference[t] = s;
        }
        float best_max = org_max;
        double best_err = 1e9;  // the reference's initial min_errs
        for (int32_t i = 0; i < steps; ++i) {
          const float max_val = org_max * static_cast<float>(1.0 - static_cast<double>(i) / n_grid_);
          for (int64_t c = 0; c < n; ++c) clipped[c] = std::min(std::max(wr[c0 + c], -max_val), max_val);
          qlab::grid::GroupParams p = qlab::grid::fit(clipped.data(), n, 1, f.bits, f.sym, f.range);
          for (int64_t c = 0; c < n; ++c) clipped[c] = qlab::grid::quant_dequant(clipped[c], p, maxq);
          double err = 0;
          for (int64_t t = 0; t < tokens; ++t) {
            double s = 0;
            for (int64_t c = 0; c < n; ++c) s += double(x.data[t * x.row_stride + c0 + c]) * clipped[c];
            err += (s - reference[t]) * (s - reference[t]);
          }
          err /= static_cast<double>(tokens);
          if (err < best_err) {
            best_err = err;
            best_max = max_val;
          }
        }
        for (int64_t c = 0; c < n; ++c) dr[c0 + c] = std::min(std::max(wr[c0 + c], -best_max), best_max);
        row_shrink[static_cast<size_t>(r)] += org_max > 0 ? 1.0 - best_max / org_max : 0.0;
      });
    }
    double shrink_sum = 0;
    for (double v : row_shrink) shrink_sum += v;
    qlab::sdk::add_metric(out.metrics, out.n_metrics, "mean_shrink", shrink_sum / static_cast<double>(rows * groups));
  }

  int32_t n_grid_;
  double max_shrink_;
  std::vector<std::string> skip_;
};

}  // namespace

QLAB_PLUGIN(Clip)
