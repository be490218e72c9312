// cluster: SqueezeLLM-style non-uniform quantization. Per output row (or per group along
// the input dimension) 2^bits centroids fitted by sensitivity-weighted k-means; codes plus
// a lookup table per row/group. Dense-and-sparse: a fraction of the weights (by magnitude
// or by sensitivity) stays exact in a sparse matrix and is left out of the clustering.
#include <qlab/groups.hpp>
#include <qlab/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "weighted_kmeans.h"

namespace {

class Cluster {
 public:
  static constexpr const char* name = "cluster";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary = "sensitivity-weighted k-means codebooks per row or group (SqueezeLLM), optional dense-and-sparse";
  static constexpr uint32_t stats = QLAB_STAT_HESSIAN;
  static constexpr int32_t uses_codebook = 1;
  static constexpr auto sensitivity =
      qlab::sdk::string_param("sensitivity", "hessian_diag", "per-weight k-means weight: hessian_diag (H_jj of the column), uniform, or file")
          .choices("hessian_diag|uniform|file");
  static constexpr auto sensitivity_file = qlab::sdk::string_param(
      "sensitivity_file", "", "safetensors with one rows×cols tensor per linear (e.g. Fisher information), for sensitivity = \"file\"");
  static constexpr auto seed = qlab::sdk::int_param("seed", 0, "k-means++ seed (each row/group draws from seed, row, group)").range(0, 2147483647);
  static constexpr auto max_iter = qlab::sdk::int_param("max_iter", 50, "Lloyd iterations cap (scikit-learn's in SqueezeLLM: 50)").range(1, 100000);
  static constexpr auto sparse_fraction =
      qlab::sdk::float_param("sparse_fraction", 0.0, "fraction of weights kept exact in a sparse matrix (SqueezeLLM: 0.0045)").range(0.0, 0.5);
  static constexpr auto sparse_by =
      qlab::sdk::string_param("sparse_by", "magnitude", "which weights stay sparse: the largest |w| or the largest sensitivities")
          .choices("magnitude|sensitivity");
  static constexpr qlab_param_decl params[] = {sensitivity, sensitivity_file, seed, max_iter, sparse_fraction, sparse_by};

  // Published tables name it after SqueezeLLM, with "-sparse" for dense-and-sparse.
  static const char* method_name(const qlab::sdk::Params& p) { return p.get(sparse_fraction) > 0 ? "squeezellm-sparse" : "squeezellm"; }

  explicit Cluster(const qlab::sdk::Params& p)
      : source_(p.get(sensitivity)),
        file_(p.get(sensitivity_file)),
        seed_(static_cast<uint64_t>(p.get(seed))),
        max_iter_(static_cast<int32_t>(p.get(max_iter))),
        sparse_fraction_(p.get(sparse_fraction)),
        sparse_by_sensitivity_(p.get(sparse_by) == "sensitivity") {
    if (source_ == "file" && file_.empty()) throw qlab::sdk::Failure("sensitivity = \"file\" needs sensitivity_file = \"path.safetensors\"");
    if (source_ != "file" && !file_.empty()) throw qlab::sdk::Failure("sensitivity_file is read only with sensitivity = \"file\"");
  }

  void quantize(const qlab_linear_in& in, qlab_quantize_out& out) {
    const int64_t rows = in.weight.n_rows, cols = in.weight.n_cols;
    const int32_t k = 1 << in.format.bits;
    const Sensitivity sens = sensitivities(in);
    const std::vector<char> sparse = sparse_mask(in, sens);
    const qlab::sdk::ConstMap w = qlab::sdk::map(in.weight);
    qlab::sdk::MutableMap dequant = qlab::sdk::map(out.dequant);
    int64_t n_sparse = 0, iterations = 0, relocated = 0, unconverged = 0;
    for (char s : sparse) n_sparse += s;
#pragma omp parallel for schedule(dynamic, 4) num_threads(std::max(1, in.n_threads)) reduction(+ : iterations, relocated, unconverged)
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> weight(static_cast<size_t>(cols));
      qlab::sdk::for_each_group_in_row(r, cols, in.format.group_size, [&](const qlab::sdk::Group& g) {
        for (int64_t j = 0; j < g.size; ++j) weight[j] = sparse[g.flat + j] ? 0.0f : sens.at(r, g.begin + j);
        // All of a group's weights sparse or insensitive: cluster it unweighted (SqueezeLLM's fallback).
        const uint64_t stream = seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(r) * 1000003ull + static_cast<uint64_t>(g.index);
        qlab::cluster::KMeansResult km = qlab::cluster::weighted_kmeans_1d(w.row(r).segment(g.begin, g.size).data(), weight.data(), g.size, k, stream, max_iter_);
        iterations += km.iterations;
        relocated += km.relocated;
        unconverged += !km.converged;
        float* book = out.codebook + g.at * k;
        std::copy(km.centroids.begin(), km.centroids.end(), book);
        for (int64_t j = 0; j < g.size; ++j) {
          const uint8_t code = km.labels[static_cast<size_t>(j)];
          out.codes[g.flat + j] = code;
          dequant(r, g.begin + j) = sparse[g.flat + j] ? w(r, g.begin + j) : book[code];
        }
      });
    }
    // Storage: the codes, an fp16 lookup table per row/group, and the sparse part as CSR
    // (fp16 value + int32 column per entry, int32 row pointers), as SqueezeLLM counts it.
    const double numel = static_cast<double>(rows * cols);
    const double groups = static_cast<double>(rows * out.n_groups);
    double bits = in.format.bits + groups * k * 16.0 / numel;
    if (n_sparse > 0) bits += (static_cast<double>(n_sparse) * (16 + 32) + static_cast<double>(rows + 1) * 32) / numel;
    out.bits_per_weight = bits;
    using qlab::sdk::add_metric;
    add_metric(out.metrics, out.n_metrics, "sparse_fraction", static_cast<double>(n_sparse) / numel);
    add_metric(out.metrics, out.n_metrics, "mean_iterations", static_cast<double>(iterations) / groups);
    add_metric(out.metrics, out.n_metrics, "unconverged_groups", static_cast<double>(unconverged));
    add_metric(out.metrics, out.n_metrics, "relocated_clusters", static_cast<double>(relocated));
  }

 private:
  // The k-means weight of each weight: one value per column (the Hessian diagonal, or
  // uniform) or one per weight (a sensitivity file). A column's value is not copied per row.
  struct Sensitivity {
    std::vector<float> values;
    int64_t cols = 0;
    bool per_weight = false;
    float at(int64_t r, int64_t c) const { return values[static_cast<size_t>(per_weight ? r * cols + c : c)]; }
  };

  Sensitivity sensitivities(const qlab_linear_in& in) const {
    const int64_t cols = in.weight.n_cols;
    if (source_ == "file") return from_file(in);
    Sensitivity s{std::vector<float>(static_cast<size_t>(cols), 1.0f), cols, false};
    if (source_ == "hessian_diag") {
      if (!in.stats.hessian.data) throw qlab::sdk::Failure("sensitivity = \"hessian_diag\" needs the Hessian statistic");
      for (int64_t c = 0; c < cols; ++c) s.values[static_cast<size_t>(c)] = in.stats.hessian.data[c * in.stats.hessian.row_stride + c];
    }
    return s;
  }

  // Read by the host (name lookup, shape, dtype, finiteness); negative values are this
  // plugin's business: a k-means weight must not be negative.
  Sensitivity from_file(const qlab_linear_in& in) const {
    qlab_cview t{};
    qlab_error err{};
    if (in.read_linear_tensor(in.host, file_.c_str(), &t, &err) != 0) throw qlab::sdk::Failure(err.message);
    Sensitivity s{std::vector<float>(static_cast<size_t>(t.n_rows * t.n_cols)), t.n_cols, true};
    qlab::sdk::RowMatrix::Map(s.values.data(), t.n_rows, t.n_cols) = qlab::sdk::map(t);
    if (std::any_of(s.values.begin(), s.values.end(), [](float v) { return v < 0.0f; }))
      throw qlab::sdk::Failure(file_ + ": the sensitivity tensor for " + in.name + " holds a negative value");
    return s;
  }

  // The weights kept exact: the top sparse_fraction of the layer by |w| or by sensitivity.
  std::vector<char> sparse_mask(const qlab_linear_in& in, const Sensitivity& sens) const {
    const int64_t rows = in.weight.n_rows, cols = in.weight.n_cols;
    std::vector<char> mask(static_cast<size_t>(rows * cols), 0);
    const auto n_sparse = static_cast<int64_t>(std::llround(sparse_fraction_ * static_cast<double>(rows * cols)));
    if (n_sparse == 0) return mask;
    std::vector<std::pair<float, int64_t>> score(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const size_t at = static_cast<size_t>(r * cols + c);
        score[at] = {sparse_by_sensitivity_ ? sens.at(r, c) : std::fabs(in.weight.data[r * in.weight.row_stride + c]), static_cast<int64_t>(at)};
      }
    std::nth_element(score.begin(), score.begin() + n_sparse, score.end(), std::greater<>());
    for (int64_t i = 0; i < n_sparse; ++i) mask[static_cast<size_t>(score[i].second)] = 1;
    return mask;
  }

  std::string source_, file_;
  uint64_t seed_;
  int32_t max_iter_;
  double sparse_fraction_;
  bool sparse_by_sensitivity_;
};

}  // namespace

QLAB_PLUGIN(Cluster)
