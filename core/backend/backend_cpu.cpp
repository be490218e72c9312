#include "backend/backend_cpu.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/linalg.h"
#include "data/memory_budget.h"
#include "forward/block_forward.h"
#include "forward/rope.h"
#include "qlab/grid.hpp"
#include "tensor/gemm.h"
#include "tensor/half.h"
#include "util/error.h"

namespace qlab {

namespace {

struct HostStorage final : DeviceBuffer::Storage {
  HostStorage(int64_t rows, int64_t cols) : m(rows, cols) {}
  float* data() override { return m.data(); }
  // Same element count: Eigen keeps the allocation, and row-major order keeps every value.
  void reshape(int64_t rows, int64_t cols) override { m.resize(rows, cols); }
  // A Matrix, so the forward kernels (which take Matrix&) run on it in place, with the
  // alignment, hence the summation order, they have everywhere else.
  Matrix m;
};

Matrix& mat(const DeviceBuffer& b) { return static_cast<HostStorage*>(b.storage())->m; }

Vector vec(const DeviceBuffer& b) { return b.empty() ? Vector() : Vector(Eigen::Map<const Vector>(b.data(), b.size())); }

float* at(const DeviceBuffer& b, Window w) { return b.data() + w.row * b.cols() + w.col; }

qlab_view view(const DeviceBuffer& b) { return {b.data(), b.rows(), b.cols(), b.cols()}; }
qlab_cview cview(const DeviceBuffer& b) { return {b.data(), b.rows(), b.cols(), b.cols()}; }

// What the GPU's tensor cores see of an fp32 input at a reduced precision: the same GEMM
// on the CPU then differs from the GPU's only by accumulation order.
float round_to(Precision p, float x) {
  switch (p) {
    case Precision::fp32: return x;
    case Precision::fp16: return f16_to_f32(f32_to_f16(x));
    case Precision::bf16: return bf16_to_f32(f32_to_bf16(x));
    case Precision::tf32: {
      uint32_t u;
      std::memcpy(&u, &x, 4);
      if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;  // nearest even, 10-bit mantissa
      std::memcpy(&x, &u, 4);
      return x;
    }
  }
  return x;
}

Matrix rounded(const Matrix& m, Precision p) { return m.unaryExpr([p](float x) { return round_to(p, x); }); }

class CpuBackend final : public Backend {
 public:
  DeviceKind kind() const override { return DeviceKind::cpu; }
  std::string name() const override { return "cpu"; }
  std::string description() const override {
    return fmt::format("host CPU, {} OpenMP threads, OpenBLAS + Eigen", omp_get_max_threads());
  }
  DeviceMemory memory() const override {
    return {static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)), available_memory_bytes()};
  }

 protected:
  std::unique_ptr<DeviceBuffer::Storage> allocate(int64_t rows, int64_t cols) override {
    return std::make_unique<HostStorage>(rows, cols);
  }
  void write(DeviceBuffer& dst, const float* host) override { std::memcpy(dst.data(), host, sizeof(float) * dst.size()); }
  void read(const DeviceBuffer& src, float* host) override { std::memcpy(host, src.data(), sizeof(float) * src.size()); }

  void gemm_impl(const DeviceBuffer& a, bool ta, const DeviceBuffer& b, bool tb, float alpha, float beta, DeviceBuffer& c,
                 Precision p) override {
    const int64_t m = c.rows(), n = c.cols(), k = ta ? a.rows() : a.cols();
    if (p == Precision::fp32) {
      qlab::gemm(ta, tb, m, n, k, alpha, a.data(), a.cols(), b.data(), b.cols(), beta, c.data(), c.cols());
      return;
    }
    const Matrix ar = rounded(mat(a), p), br = rounded(mat(b), p);
    qlab::gemm(ta, tb, m, n, k, alpha, ar.data(), a.cols(), br.data(), b.cols(), beta, c.data(), c.cols());
  }
  void syrk_accumulate_impl(const DeviceBuffer& x, float scale, DeviceBuffer& h) override {
    syrk_upper_tn(x.cols(), x.rows(), scale, x.data(), x.cols(), h.data(), h.cols());
  }
  void rms_norm_impl(const DeviceBuffer& x, const DeviceBuffer& w, float eps, DeviceBuffer& out) override {
    qlab::rms_norm(mat(x), vec(w), eps, mat(out));
  }
  void layer_norm_impl(const DeviceBuffer& x, const DeviceBuffer& w, const DeviceBuffer& bias, float eps,
                       DeviceBuffer& out) override {
    qlab::layer_norm(mat(x), vec(w), vec(bias), eps, mat(out));
  }
  void rope_impl(DeviceBuffer& x, int64_t n_heads, int64_t head_dim, int64_t pos0, const std::vector<float>& inv_freq) override {
    apply_rope(mat(x), n_heads, head_dim, pos0, inv_freq);
  }
  void rope_at_impl(DeviceBuffer& x, int64_t n_heads, int64_t head_dim, const std::vector<int32_t>& pos,
                    const std::vector<float>& inv_freq) override {
    apply_rope(mat(x), n_heads, head_dim, pos, inv_freq);
  }
  void packed_attention_impl(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v, int64_t n_heads,
                             int64_t n_kv_heads, int64_t head_dim, const PackedLayout& layout, DeviceBuffer& out) override {
    qlab::packed_attention(mat(q), mat(k), mat(v), n_heads, n_kv_heads, head_dim, layout, mat(out));
  }
  void causal_attention_impl(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v, int64_t n_heads,
                             int64_t n_kv_heads, int64_t head_dim, int64_t pos0, DeviceBuffer& out) override {
    qlab::causal_attention(mat(q), mat(k), mat(v), n_heads, n_kv_heads, head_dim, pos0, mat(out));
  }
  void hadamard_impl(DeviceBuffer& x, const HadamardPlan& plan) override { hadamard_rows(plan, mat(x)); }
  void silu_mul_impl(DeviceBuffer& a, const DeviceBuffer& gate) override { qlab::silu_mul(mat(a), mat(gate)); }
  void relu_impl(DeviceBuffer& a) override { mat(a) = mat(a).cwiseMax(0.0f); }
  void add_impl(DeviceBuffer& x, const DeviceBuffer& y) override { mat(x) += mat(y); }
  void add_row_impl(DeviceBuffer& x, const DeviceBuffer& v) override { mat(x).rowwise() += mat(v).row(0); }
  void copy_impl(const DeviceBuffer& src, DeviceBuffer& dst) override { mat(dst) = mat(src); }
  double squared_distance_impl(const DeviceBuffer& a, const DeviceBuffer* b) override {
    if (!b) return mat(a).cast<double>().squaredNorm();
    return Matrix(mat(a) - mat(*b)).cast<double>().squaredNorm();
  }
  void round_to_storage_impl(DeviceBuffer& x, StoragePrecision p) override {
    float* v = x.data();
    for (int64_t i = 0; i < x.size(); ++i)
      v[i] = p == StoragePrecision::f16 ? f16_to_f32(f32_to_f16(v[i])) : bf16_to_f32(f32_to_bf16(v[i]));
  }

  void gemm_window_impl(const DeviceBuffer& a, Window wa, bool ta, const DeviceBuffer& b, Window wb, bool tb, float alpha,
                        float beta, DeviceBuffer& c, Window wc) override {
    qlab::gemm(ta, tb, wc.rows, wc.cols, ta ? wa.rows : wa.cols, alpha, at(a, wa), a.cols(), at(b, wb), b.cols(), beta,
               at(c, wc), c.cols());
  }
  // The gptq plugin's loop (algorithms/gptq/gptq_solve.cpp) in its operation order, with
  // grid.hpp's math: on this backend the solve computes what the plugin computes.
  void gptq_block_impl(const DeviceBuffer& w, const DeviceBuffer& hinv, int64_t i1, int64_t i2, const GptqGrid& g,
                       const DeviceBuffer& col_group, DeviceBuffer& scales, DeviceBuffer& zeros, DeviceBuffer& dequant,
                       DeviceBuffer& codes, DeviceBuffer& err1, DeviceBuffer& loss) override {
    const int64_t cols = w.cols(), count = i2 - i1, gs = g.group_size, n_groups = scales.cols();
    const int32_t maxq = grid::max_code(g.bits);
    const float* h = hinv.data();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < w.rows(); ++r) {
      const float* wr = w.data() + r * cols;
      std::vector<float> w1(wr + i1, wr + i2);  // the block's columns with the in-block updates
      float* s = scales.data() + r * n_groups;
      float* z = zeros.data() + r * n_groups;
      grid::GroupParams p;
      int64_t held = -1;  // the group whose parameters p holds
      double row_loss = 0.0;
      for (int64_t i = 0; i < count; ++i) {
        const int64_t col = i1 + i;
        const int64_t group = gs > 0 ? col / gs : static_cast<int64_t>(col_group.data()[col]);
        if (gs > 0 && col % gs == 0) {
          p = grid::fit(wr + col, std::min(gs, cols - col), 1, g.bits, g.sym, g.range);
          s[group] = p.scale;
          z[group] = p.zero;
        } else if (group != held) {
          p = {s[group], z[group]};
        }
        held = group;
        const float x = w1[i];
        const float code = grid::code_of(x, p, maxq);
        const float q = grid::dequant(code, p);
        const float d = h[col * cols + col];
        const float e = (x - q) / d;
        row_loss += static_cast<double>((x - q) * (x - q)) / (static_cast<double>(d) * d) / 2.0;
        for (int64_t j = i + 1; j < count; ++j) w1[j] -= e * h[col * cols + i1 + j];
        err1.data()[r * err1.cols() + i] = e;
        dequant.data()[r * cols + col] = q;
        codes.data()[r * cols + col] = code;
      }
      loss.data()[r] += static_cast<float>(row_loss);
    }
  }

  int potrf_impl(DeviceBuffer& a, bool upper) override {
    const int32_t info = cpu_linalg()->potrf(nullptr, view(a), upper ? 1 : 0);
    if (info < 0) fail("potrf: LAPACK rejected its arguments ({}×{})", a.rows(), a.cols());
    return info;
  }
  void cholesky_inverse_impl(DeviceBuffer& a, bool upper) override {
    if (const int32_t info = cpu_linalg()->potri(nullptr, view(a), upper ? 1 : 0); info != 0)
      fail("cholesky_inverse: the factor is singular (LAPACK spotri info {})", info);
  }
  void trsm_impl(const DeviceBuffer& t, DeviceBuffer& b, bool upper, bool left) override {
    cpu_linalg()->trsm(nullptr, cview(t), view(b), upper ? 1 : 0, left ? 1 : 0);
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace qlab
