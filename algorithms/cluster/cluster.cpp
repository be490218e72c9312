// cluster: SqueezeLLM-style non-uniform quantization. Per output row (or per group along
// the input dimension) 2^bits centroids fitted by sensitivity-weighted k-means; codes plus
// a lookup table per row/group. Dense-and-sparse: a fraction of the weights (by magnitude
// or by sensitivity) stays exact in a sparse matrix and is left out of the clustering.
#include <qlab/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "sensitivity_file.h"
#include "weighted_kmeans.h"

namespace {

class Cluster {
 public:
  static constexpr const char* name = "cluster";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary = "sensitivity-weighted k-means codebooks per row or group (SqueezeLLM), optional dense-and-sparse";
  static constexpr uint32_t stats = QLAB_STAT_HESSIAN;
  static constexpr int32_t uses_codebook = 1;
  static constexpr qlab_param_decl params[] = {
      {"sensitivity", QLAB_PARAM_STRING, "\"hessian_diag\"", "per-weight k-means weight: hessian_diag (H_jj of the column), uniform, or file", 0, 0, 0, "hessian_diag|uniform|file"},
      {"sensitivity_file", QLAB_PARAM_STRING, "\"\"", "safetensors with one rows×cols tensor per linear (e.g. Fisher information), for sensitivity = \"file\"", 0, 0, 0, nullptr},
      {"seed", QLAB_PARAM_INT, "0", "k-means++ seed (each row/group draws from seed, row, group)", 1, 0, 2147483647, nullptr},
      {"max_iter", QLAB_PARAM_INT, "50", "Lloyd iterations cap (scikit-learn's in SqueezeLLM: 50)", 1, 1, 100000, nullptr},
      {"sparse_fraction", QLAB_PARAM_FLOAT, "0.0", "fraction of weights kept exact in a sparse matrix (SqueezeLLM: 0.0045)", 1, 0.0, 0.5, nullptr},
      {"sparse_by", QLAB_PARAM_STRING, "\"magnitude\"", "which weights stay sparse: the largest |w| or the largest sensitivities", 0, 0, 0, "magnitude|sensitivity"},
  };

  explicit Cluster(const qlab::sdk::Params& p)
      : source_(p.get_string("sensitivity")),
        seed_(static_cast<uint64_t>(p.get_int("seed"))),
        max_iter_(static_cast<int32_t>(p.get_int("max_iter"))),
        sparse_fraction_(p.get_float("sparse_fraction")),
        sparse_by_sensitivity_(p.get_string("sparse_by") == "sensitivity") {
    const std::string file = p.get_string("sensitivity_file");
    if (source_ == "file" && file.empty()) throw qlab::sdk::Failure("sensitivity = \"file\" needs sensitivity_file = \"path.safetensors\"");
    if (source_ != "file" && !file.empty()) throw qlab::sdk::Failure("sensitivity_file is read only with sensitivity = \"file\"");
    if (!file.empty()) file_ = std::make_unique<qlab::cluster::SensitivityFile>(file);
  }

  void quantize(const qlab_linear_in& in, qlab_quantize_out& out) {
    const int64_t rows = in.weight.n_rows, cols = in.weight.n_cols;
    const int32_t k = 1 << in.format.bits;
    const int64_t gs = in.format.group_size > 0 ? in.format.group_size : cols;
    const Sensitivity sens = sensitivities(in);
    const std::vector<char> sparse = sparse_mask(in, sens);
    int64_t n_sparse = 0, iterations = 0, relocated = 0, unconverged = 0;
    for (char s : sparse) n_sparse += s;
#pragma omp parallel for schedule(dynamic, 4) num_threads(std::max(1, in.n_threads)) reduction(+ : iterations, relocated, unconverged)
    for (int64_t r = 0; r < rows; ++r) {
      const float* w = in.weight.data + r * in.weight.row_stride;
      std::vector<float> weight(static_cast<size_t>(gs));
      for (int64_t g0 = 0, g = 0; g0 < cols; g0 += gs, ++g) {
        const int64_t n = std::min(gs, cols - g0);
        for (int64_t j = 0; j < n; ++j) {
          const size_t at = static_cast<size_t>(r * cols + g0 + j);
          weight[j] = sparse[at] ? 0.0f : sens.at(r, g0 + j);
        }
        // All of a group's weights sparse or insensitive: cluster it unweighted (SqueezeLLM's fallback).
        const uint64_t stream = seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(r) * 1000003ull + static_cast<uint64_t>(g);
        qlab::cluster::KMeansResult km = qlab::cluster::weighted_kmeans_1d(w + g0, weight.data(), n, k, stream, max_iter_);
        iterations += km.iterations;
        relocated += km.relocated;
        unconverged += !km.converged;
        float* book = out.codebook + (r * out.n_groups + g) * k;
        std::copy(km.centroids.begin(), km.centroids.end(), book);
        for (int64_t j = 0; j < n; ++j) {
          const size_t at = static_cast<size_t>(r * cols + g0 + j);
          out.codes[at] = km.labels[static_cast<size_t>(j)];
          out.dequant.data[r * out.dequant.row_stride + g0 + j] = sparse[at] ? w[g0 + j] : book[km.labels[static_cast<size_t>(j)]];
        }
      }
    }
    for (int64_t c = 0; c < cols; ++c) out.g_idx[c] = static_cast<int32_t>(c / gs);
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
    const int64_t rows = in.weight.n_rows, cols = in.weight.n_cols;
    if (source_ == "file") return {file_->read(in.name, rows, cols), cols, true};
    Sensitivity s{std::vector<float>(static_cast<size_t>(cols), 1.0f), cols, false};
    if (source_ == "hessian_diag") {
      if (!in.stats.hessian.data) throw qlab::sdk::Failure("sensitivity = \"hessian_diag\" needs the Hessian statistic");
      for (int64_t c = 0; c < cols; ++c) s.values[static_cast<size_t>(c)] = in.stats.hessian.data[c * in.stats.hessian.row_stride + c];
    }
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

  std::string source_;
  uint64_t seed_;
  int32_t max_iter_;
  double sparse_fraction_;
  bool sparse_by_sensitivity_;
  std::unique_ptr<qlab::cluster::SensitivityFile> file_;
};

}  // namespace

QLAB_PLUGIN(Cluster)
