// awq: activation-aware scaling (llm-awq auto_scale), a transform on a scalable group. For
// ratio r in {0, 1/n_grid, …}: s = mean|x|^r (or, with duo_scaling, mean|x|^r / (w̄^(1−r) + 1e-4)
// as AutoAWQ), clamped at 1e-4 and normalised by sqrt(max(s)·min(s)); the consumers'
// weights become Q(W·s); the host runs the inspected module on x/s with them and returns the
// output MSE against the float module; the best s is folded into the group by the host.
#include <qlab/grid.hpp>
#include <qlab/plugin.hpp>

#include <cmath>
#include <limits>
#include <vector>

namespace {

class Awq {
 public:
  static constexpr const char* name = "awq";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary = "AWQ activation-aware per-channel scaling (transform on scalable groups)";
  static constexpr uint32_t stats = QLAB_STAT_ABS_MEAN;
  static constexpr uint32_t scope = QLAB_SCOPE_GROUP;
  static constexpr auto n_grid = qlab::sdk::int_param("n_grid", 20, "ratios tried: 0, 1/n_grid, …, (n_grid−1)/n_grid").range(1, 1000);
  static constexpr auto duo_scaling =
      qlab::sdk::bool_param("duo_scaling", false, "AutoAWQ/llm-compressor: divide by the weight magnitude w̄^(1−r)");
  static constexpr qlab_param_decl params[] = {n_grid, duo_scaling};

  explicit Awq(const qlab::sdk::Params& p) : n_grid_(static_cast<int32_t>(p.get(n_grid))), duo_(p.get(duo_scaling)) {}

  void transform(const qlab_group_in& in, qlab_transform_out& out) {
    if (!in.measure) throw qlab::sdk::Failure(std::string("group ") + in.name + " has no inspected module to measure");
    if (!in.stats.abs_mean) throw qlab::sdk::Failure("awq needs the per-channel mean |x| (ABS_MEAN statistic)");
    const int64_t cols = in.weights[0].n_cols;
    std::vector<float> w_mean(static_cast<size_t>(cols), 0.0f);
    if (duo_) weight_magnitude(in, w_mean);
    std::vector<float> s(static_cast<size_t>(cols)), best(static_cast<size_t>(cols), 1.0f);
    std::vector<qlab::sdk::RowMatrix> candidates(static_cast<size_t>(in.n_linears));
    std::vector<qlab_cview> views(static_cast<size_t>(in.n_linears));
    double best_loss = std::numeric_limits<double>::infinity();
    int32_t best_ratio = -1;
    for (int32_t i = 0; i < n_grid_; ++i) {
      const double ratio = static_cast<double>(i) / n_grid_;
      float lo = std::numeric_limits<float>::infinity(), hi = 0.0f;
      for (int64_t j = 0; j < cols; ++j) {
        double v = std::pow(static_cast<double>(in.stats.abs_mean[j]), ratio);
        if (duo_) v /= std::pow(static_cast<double>(w_mean[j]), 1.0 - ratio) + 1e-4;
        s[j] = std::max(static_cast<float>(v), 1e-4f);
        lo = std::min(lo, s[j]);
        hi = std::max(hi, s[j]);
      }
      const float norm = std::sqrt(hi * lo);
      for (float& v : s) v /= norm;
      for (int32_t l = 0; l < in.n_linears; ++l) {
        const qlab_cview w = in.weights[l];
        qlab::sdk::RowMatrix scaled = qlab::sdk::map(w);
        for (int64_t r = 0; r < w.n_rows; ++r)
          for (int64_t j = 0; j < cols; ++j) scaled(r, j) *= s[j];
        candidates[l].resize(w.n_rows, cols);
        qlab::grid::quantize_rows(scaled.data(), w.n_rows, cols, cols, in.format, candidates[l].data(), cols);
        views[l] = {candidates[l].data(), w.n_rows, cols, cols};
      }
      double loss = 0;
      qlab_error err{};
      if (in.measure(in.host, views.data(), s.data(), &loss, &err) != 0)
        throw qlab::sdk::Failure(std::string("the host could not run the inspected module: ") + err.message);
      if (std::isfinite(loss) && loss < best_loss) {
        best_loss = loss;
        best_ratio = i;
        best = s;
      }
    }
    using qlab::sdk::add_metric;
    if (best_ratio < 0) {  // no finite loss at any ratio (users' NaN reports): keep s = 1 and say so
      out.declined = 1;
      return;
    }
    std::copy(best.begin(), best.end(), out.scale);
    out.wrote_scale = 1;
    add_metric(out.metrics, out.n_metrics, "ratio", static_cast<double>(best_ratio) / n_grid_);
    add_metric(out.metrics, out.n_metrics, "loss", best_loss);
  }

 private:
  // AutoAWQ's w_mean: |W| over each group's max |W|, averaged over every consumer row.
  void weight_magnitude(const qlab_group_in& in, std::vector<float>& w_mean) const {
    const int64_t cols = in.weights[0].n_cols;
    int64_t total_rows = 0;
    std::vector<double> sum(static_cast<size_t>(cols), 0.0);
    for (int32_t l = 0; l < in.n_linears; ++l) {
      const qlab_cview w = in.weights[l];
      qlab::sdk::for_each_group(w.n_rows, cols, in.format.group_size, [&](const qlab::sdk::Group& g) {
        const float* x = w.data + g.row * w.row_stride + g.begin;
        float mx = 0;
        for (int64_t c = 0; c < g.size; ++c) mx = std::max(mx, std::fabs(x[c]));
        for (int64_t c = 0; c < g.size; ++c) sum[g.begin + c] += mx > 0 ? std::fabs(x[c]) / mx : 0.0;
      });
      total_rows += w.n_rows;
    }
    for (int64_t j = 0; j < cols; ++j) w_mean[j] = static_cast<float>(sum[j] / static_cast<double>(total_rows));
  }

  int32_t n_grid_;
  bool duo_;
};

}  // namespace

QLAB_PLUGIN(Awq)
