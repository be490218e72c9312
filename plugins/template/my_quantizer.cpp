// my_quantizer: a template to copy. Round-to-nearest after clipping each weight group to a
// percentile of its magnitudes (a cheap, data-free alternative to a clip search).
// Rename the class and `name`, declare your parameters, fill `quantize`.
#include <qlab/grid.hpp>
#include <qlab/plugin.hpp>

#include <algorithm>
#include <vector>

namespace {

class MyQuantizer {
 public:
  static constexpr const char* name = "my_quantizer";  // unique: libqlab_my_quantizer.so
  static constexpr const char* version = "0.1.0";
  static constexpr const char* summary = "RTN after clipping each group at a percentile of |w| (template plugin)";
  // Each parameter once: its name, default, help and range; p.get(percentile) reads it back.
  static constexpr auto percentile =
      qlab::sdk::float_param("percentile", 0.99, "fraction of |w| kept unclipped in each group").range(0.5, 1.0);
  static constexpr qlab_param_decl params[] = {percentile};
  // Optional declarations: the statistics you need, the formats you accept (checked before
  // any weight loads).
  // static constexpr uint32_t stats = QLAB_STAT_HESSIAN;
  // static constexpr qlab_support support = qlab::sdk::Support().bits({4, 8}).group_size_multiple(32);

  explicit MyQuantizer(const qlab::sdk::Params& p) : percentile_(p.get(percentile)) {}

  // The host allocated every output and prefilled g_idx with the contiguous groups that
  // for_each_group visits; write codes, scales, zeros and the dequantized weight.
  void quantize(const qlab_linear_in& in, qlab_quantize_out& out) {
    const qlab::sdk::ConstMap w = qlab::sdk::map(in.weight);
    qlab::sdk::MutableMap dequant = qlab::sdk::map(out.dequant);
    const int32_t maxq = qlab::grid::max_code(in.format.bits);
    qlab::sdk::for_each_group(in, [&](const qlab::sdk::Group& g) {
      const auto x = w.row(g.row).segment(g.begin, g.size);
      std::vector<float> magnitudes(static_cast<size_t>(g.size));
      Eigen::Map<Eigen::RowVectorXf>(magnitudes.data(), g.size) = x.cwiseAbs();
      const auto k = static_cast<size_t>(percentile_ * static_cast<double>(g.size - 1));
      std::nth_element(magnitudes.begin(), magnitudes.begin() + k, magnitudes.end());
      const float limit = magnitudes[k];
      const Eigen::RowVectorXf clipped = x.cwiseMax(-limit).cwiseMin(limit);
      const qlab::grid::GroupParams p = qlab::grid::fit(clipped.data(), g.size, 1, in.format.bits, in.format.sym, in.format.range);
      out.scales[g.at] = p.scale;
      out.zeros[g.at] = p.zero;
      qlab::grid::quantize_group(x.data(), g.size, p, maxq, out.codes + g.flat, &dequant(g.row, g.begin));
    });
  }

 private:
  double percentile_;
};

}  // namespace

QLAB_PLUGIN(MyQuantizer)
