// The compute seam (core/backend/backend.h). The CPU backend against naive loops in double on
// hand-sized cases; the CUDA backend against the CPU one (the reference), skipped with the
// reason when this build has no CUDA or no GPU is visible; --device parsing and its errors.
//
// Tolerances: an fp32 dot product of K terms is within about K·2⁻²⁴ of its exact value,
// relative to Σ|terms|. The cases here have K ≤ 64 and terms of one sign scale, so 1e-5
// relative covers the CPU against double; CPU against GPU (two fp32 summation orders) is held
// to the 1e-5 for GEMM/SYRK and to 1e-5 elsewhere.
#include <catch2/catch.hpp>
#include <Eigen/Cholesky>
#include <Eigen/LU>
#include <cmath>
#include <random>

#include "backend/backend_select.h"
#include "support/compare.h"
#include "support/skip.h"
#include "tensor/half.h"
#include "util/error.h"

using namespace qlab;
using qlab::test::max_rel;

namespace {
Matrix random_matrix(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  Matrix m(rows, cols);
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
  return m;
}

Matrix spd(int64_t n, uint32_t seed) {
  const Matrix x = random_matrix(2 * n, n, seed);
  return x.transpose() * x / float(n);
}

Eigen::MatrixXd dbl(const Matrix& m) { return m.cast<double>(); }

// max |got − want| / max |want| against a double reference.
double rel(const Matrix& got, const Eigen::MatrixXd& want) {
  return (got.cast<double>() - want).cwiseAbs().maxCoeff() / want.cwiseAbs().maxCoeff();
}

Matrix row(const Vector& v) { return v.transpose(); }

Eigen::MatrixXd naive_attention(const Matrix& q, const Matrix& k, const Matrix& v, int64_t n_heads, int64_t n_kv,
                                int64_t hd, int64_t pos0) {
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(q.rows(), n_heads * hd);
  for (int64_t h = 0; h < n_heads; ++h) {
    const int64_t kvh = h / (n_heads / n_kv);
    for (int64_t r = 0; r < q.rows(); ++r) {
      const int64_t n_keys = pos0 + r + 1;
      std::vector<double> s(static_cast<size_t>(n_keys));
      double m = -1e300, sum = 0;
      for (int64_t j = 0; j < n_keys; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < hd; ++d) dot += double(q(r, h * hd + d)) * k(j, kvh * hd + d);
        s[size_t(j)] = dot / std::sqrt(double(hd));
        m = std::max(m, s[size_t(j)]);
      }
      for (double& x : s) sum += (x = std::exp(x - m));
      for (int64_t j = 0; j < n_keys; ++j)
        for (int64_t d = 0; d < hd; ++d) out(r, h * hd + d) += s[size_t(j)] / sum * v(j, kvh * hd + d);
    }
  }
  return out;
}

// rotate-half with the angle in float (as the runtime computes it), cos/sin in double.
Eigen::MatrixXd naive_rope(const Matrix& x, int64_t n_heads, int64_t hd, int64_t pos0, const std::vector<float>& inv_freq) {
  Eigen::MatrixXd out = dbl(x);
  for (int64_t r = 0; r < x.rows(); ++r)
    for (int64_t h = 0; h < n_heads; ++h)
      for (int64_t j = 0; j < hd / 2; ++j) {
        const double angle = float(pos0 + r) * inv_freq[size_t(j)];
        const double a = x(r, h * hd + j), b = x(r, h * hd + j + hd / 2);
        out(r, h * hd + j) = a * std::cos(angle) - b * std::sin(angle);
        out(r, h * hd + j + hd / 2) = b * std::cos(angle) + a * std::sin(angle);
      }
  return out;
}

std::vector<float> some_inv_freq(int64_t hd) {
  std::vector<float> f;
  for (int64_t j = 0; j < hd / 2; ++j) f.push_back(float(std::pow(10000.0, -2.0 * double(j) / double(hd))));
  return f;
}

float bf16_round(float x) { return bf16_to_f32(f32_to_bf16(x)); }
}  // namespace

TEST_CASE("cpu backend: GEMM in every transpose form, with alpha and beta", "[backend]") {
  auto cpu = make_backend("cpu");
  const Matrix a = random_matrix(7, 5, 1), b = random_matrix(5, 6, 2), c0 = random_matrix(7, 6, 3);
  const Eigen::MatrixXd want = 0.5 * dbl(a) * dbl(b) + 2.0 * dbl(c0);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const Matrix ah = ta ? Matrix(a.transpose()) : a, bh = tb ? Matrix(b.transpose()) : b;
      DeviceBuffer ad = cpu->upload(ah), bd = cpu->upload(bh), cd = cpu->upload(c0);
      cpu->gemm(ad, ta, bd, tb, 0.5f, 2.0f, cd);
      INFO("trans_a " << ta << " trans_b " << tb);
      CHECK(rel(cd.download(), want) < 1e-5);
    }
}

TEST_CASE("cpu backend: reduced-precision GEMM rounds its inputs and accumulates in fp32", "[backend]") {
  auto cpu = make_backend("cpu");
  const Matrix a = random_matrix(8, 64, 4), b = random_matrix(64, 3, 5);
  DeviceBuffer ad = cpu->upload(a), bd = cpu->upload(b), cd = cpu->alloc(8, 3);
  cpu->gemm(ad, false, bd, false, 1.0f, 0.0f, cd, Precision::bf16);
  const Matrix ar = a.unaryExpr(&bf16_round), br = b.unaryExpr(&bf16_round);
  CHECK(rel(cd.download(), dbl(ar) * dbl(br)) < 1e-5);
  CHECK(rel(cd.download(), dbl(a) * dbl(b)) > 1e-4);  // bf16 keeps 8 bits: visibly not fp32
  cpu->gemm(ad, false, bd, false, 1.0f, 0.0f, cd, Precision::tf32);
  CHECK(rel(cd.download(), dbl(a) * dbl(b)) < 1e-2);  // a 10-bit mantissa: within 2⁻¹¹ per input
}

TEST_CASE("cpu backend: SYRK adds scale times xT x to the upper triangle only", "[backend]") {
  auto cpu = make_backend("cpu");
  const Matrix x = random_matrix(40, 6, 6), h0 = random_matrix(6, 6, 7);
  DeviceBuffer xd = cpu->upload(x), hd = cpu->upload(h0);
  cpu->syrk_accumulate(xd, 0.25f, hd);
  const Matrix h = hd.download();
  const Eigen::MatrixXd want = 0.25 * dbl(x).transpose() * dbl(x) + dbl(h0);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      if (j >= i) CHECK(std::abs(h(i, j) - want(i, j)) < 1e-5 * want.cwiseAbs().maxCoeff());
      else CHECK(h(i, j) == h0(i, j));
    }
}

TEST_CASE("cpu backend: RMSNorm, LayerNorm with and without bias", "[backend]") {
  auto cpu = make_backend("cpu");
  const Matrix x = random_matrix(5, 16, 8);
  const Vector w = Vector::LinSpaced(16, 0.5f, 2.0f), bias = Vector::LinSpaced(16, -1.0f, 1.0f);
  DeviceBuffer xd = cpu->upload(x), wd = cpu->upload(row(w)), bd = cpu->upload(row(bias)), out = cpu->alloc(5, 16);
  Eigen::MatrixXd rms(5, 16), ln(5, 16);
  for (int r = 0; r < 5; ++r) {
    const Eigen::VectorXd xr = dbl(x).row(r).transpose();
    const double ms = xr.squaredNorm() / 16, mean = xr.mean(), var = (xr.array() - mean).square().mean();
    for (int c = 0; c < 16; ++c) {
      rms(r, c) = xr(c) / std::sqrt(ms + 1e-5) * w(c);
      ln(r, c) = (xr(c) - mean) / std::sqrt(var + 1e-5) * w(c) + bias(c);
    }
  }
  cpu->rms_norm(xd, wd, 1e-5f, out);
  CHECK(rel(out.download(), rms) < 1e-5);
  cpu->layer_norm(xd, wd, bd, 1e-5f, out);
  CHECK(rel(out.download(), ln) < 1e-5);
  cpu->layer_norm(xd, wd, DeviceBuffer(), 1e-5f, out);  // no bias
  CHECK(rel(out.download(), ln - Eigen::VectorXd::Ones(5) * dbl(row(bias))) < 1e-5);
}

TEST_CASE("cpu backend: RoPE rotates each head's halves by position times frequency", "[backend]") {
  auto cpu = make_backend("cpu");
  const Matrix x = random_matrix(6, 2 * 8, 9);
  const std::vector<float> f = some_inv_freq(8);
  DeviceBuffer xd = cpu->upload(x);
  cpu->rope(xd, 2, 8, 5, f);
  CHECK(rel(xd.download(), naive_rope(x, 2, 8, 5, f)) < 1e-6);
}

TEST_CASE("cpu backend: causal grouped-query attention after earlier positions", "[backend]") {
  auto cpu = make_backend("cpu");
  const int64_t n_heads = 4, n_kv = 2, hd = 8, pos0 = 3, t = 5;
  const Matrix q = random_matrix(t, n_heads * hd, 10), k = random_matrix(pos0 + t, n_kv * hd, 11),
               v = random_matrix(pos0 + t, n_kv * hd, 12);
  DeviceBuffer qd = cpu->upload(q), kd = cpu->upload(k), vd = cpu->upload(v), out = cpu->alloc(t, n_heads * hd);
  cpu->causal_attention(qd, kd, vd, n_heads, n_kv, hd, pos0, out);
  CHECK(rel(out.download(), naive_attention(q, k, v, n_heads, n_kv, hd, pos0)) < 1e-5);
}

TEST_CASE("cpu backend: SiLU gate product and ReLU", "[backend]") {
  auto cpu = make_backend("cpu");
  const Matrix a = random_matrix(3, 10, 13), g = random_matrix(3, 10, 14);
  DeviceBuffer ad = cpu->upload(a), gd = cpu->upload(g);
  cpu->silu_mul(ad, gd);
  const Eigen::MatrixXd want = dbl(a).array() * dbl(g).array() / (1.0 + (-dbl(g).array()).exp());
  CHECK(rel(ad.download(), want) < 1e-6);
  DeviceBuffer rd = cpu->upload(a);
  cpu->relu(rd);
  CHECK(rd.download() == a.cwiseMax(0.0f));
}

TEST_CASE("cpu backend: Cholesky, inverse from the factor, triangular solves", "[backend]") {
  auto cpu = make_backend("cpu");
  const Matrix a = spd(24, 15);
  const Eigen::MatrixXd inv = dbl(a).inverse();
  for (bool upper : {false, true}) {
    DeviceBuffer f = cpu->upload(a);
    REQUIRE(cpu->potrf(f, upper) == 0);
    const Matrix fh = f.download();
    const Matrix product = upper ? Matrix(fh.transpose() * fh) : Matrix(fh * fh.transpose());
    CHECK(max_rel(product, a) < 1e-5);
    if (upper) CHECK(fh.triangularView<Eigen::StrictlyLower>().toDenseMatrix().isZero(0));
    else CHECK(fh.triangularView<Eigen::StrictlyUpper>().toDenseMatrix().isZero(0));
    const Matrix b = random_matrix(24, 5, 16);
    DeviceBuffer bd = cpu->upload(b);
    cpu->trsm(f, bd, upper, true);  // f·x = b
    CHECK(max_rel(fh * bd.download(), b) < 1e-4);
    const Matrix br = random_matrix(5, 24, 17);
    DeviceBuffer brd = cpu->upload(br);
    cpu->trsm(f, brd, upper, false);  // x·f = b
    CHECK(max_rel(brd.download() * fh, br) < 1e-4);
    cpu->cholesky_inverse(f, upper);
    // inverting amplifies rounding by the condition number (about 30 here)
    CHECK(rel(f.download(), inv) < 1e-4);
  }
  Matrix not_pd = a;
  not_pd(5, 5) = -1.0f;
  DeviceBuffer nd = cpu->upload(not_pd);
  CHECK(cpu->potrf(nd, false) == 6);  // 1 + the failing column, as qlab_linalg
}

TEST_CASE("backend ops refuse mismatched shapes naming the op", "[backend]") {
  auto cpu = make_backend("cpu");
  DeviceBuffer a = cpu->alloc(3, 4), b = cpu->alloc(5, 2), c = cpu->alloc(3, 2);
  CHECK_THROWS_WITH(cpu->gemm(a, false, b, false, 1.0f, 0.0f, c), "gemm: op(a) is 3×4, op(b) is 5×2");
  CHECK_THROWS_WITH(a.upload(Matrix(2, 2)), "upload: host matrix is 2×2, buffer is 3×4");
  DeviceBuffer h = cpu->alloc(3, 3);
  CHECK_THROWS_WITH(cpu->syrk_accumulate(a, 1.0f, h), "syrk_accumulate: h is 3×3, expected 4×4");
}

TEST_CASE("make_backend: unknown devices list the accepted forms", "[backend]") {
  CHECK_THROWS_WITH(make_backend("tpu"), "--device 'tpu' is not one of cpu, cuda, cuda:N");
  CHECK_THROWS_WITH(make_backend("cuda:x"), Catch::Contains("the CUDA device index must be a whole number"));
  CHECK(make_backend("cpu")->kind() == DeviceKind::cpu);
}

TEST_CASE("make_backend: --device cuda fails clearly without a CUDA build or a visible GPU", "[backend]") {
  std::string why;
  if (visible_cuda_devices(&why) > 0) QLAB_SKIP("a CUDA device is visible: the [cuda] parity tests cover it");
  if (built_with_cuda()) {
    CHECK_THROWS_WITH(make_backend("cuda"), Catch::StartsWith("--device cuda:0: no CUDA device visible (cudaGetDeviceCount found 0 devices"));
    CHECK_THROWS_WITH(make_backend("cuda:1"), Catch::Contains("no CUDA device visible"));
  } else {
    CHECK_THROWS_WITH(make_backend("cuda"),
                      "qlab was built without CUDA (QLAB_CUDA=OFF or no CUDA toolkit found): --device cuda is unavailable");
  }
}

// ---- CUDA against the CPU reference ----


TEST_CASE("cuda parity: GEMM fp32 in every transpose form, and reduced precisions", "[backend][cuda]") {
  QLAB_NEED_CUDA();
  const Matrix a = random_matrix(300, 257, 20), b = random_matrix(257, 130, 21), c0 = random_matrix(300, 130, 22);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const Matrix ah = ta ? Matrix(a.transpose()) : a, bh = tb ? Matrix(b.transpose()) : b;
      auto run = [&](Backend& be, Precision p) {
        DeviceBuffer ad = be.upload(ah), bd = be.upload(bh), cd = be.upload(c0);
        be.gemm(ad, ta, bd, tb, 0.5f, 2.0f, cd, p);
        return cd.download();
      };
      INFO("trans_a " << ta << " trans_b " << tb);
      CHECK(max_rel(run(*gpu, Precision::fp32), run(*cpu, Precision::fp32)) < 1e-5);
      // Same rounded inputs, fp32 accumulation in another order (bf16/fp16 products are exact in fp32).
      CHECK(max_rel(run(*gpu, Precision::bf16), run(*cpu, Precision::bf16)) < 1e-5);
      CHECK(max_rel(run(*gpu, Precision::fp16), run(*cpu, Precision::fp16)) < 1e-5);
      CHECK(max_rel(run(*gpu, Precision::tf32), run(*cpu, Precision::fp32)) < 1e-2);  // tensor cores' own rounding
    }
}

TEST_CASE("cuda parity: SYRK Hessian accumulation", "[backend][cuda]") {
  QLAB_NEED_CUDA();
  const Matrix x1 = random_matrix(200, 96, 23), x2 = random_matrix(77, 96, 24);
  auto run = [&](Backend& be) {
    DeviceBuffer h = be.upload(Matrix::Zero(96, 96)), a = be.upload(x1), b = be.upload(x2);
    be.syrk_accumulate(a, 1.0f, h);
    be.syrk_accumulate(b, 0.5f, h);
    return Matrix(h.download().triangularView<Eigen::Upper>());
  };
  CHECK(max_rel(run(*gpu), run(*cpu)) < 1e-5);
}

TEST_CASE("cuda parity: norms, RoPE, SiLU, ReLU", "[backend][cuda]") {
  QLAB_NEED_CUDA();
  const Matrix x = random_matrix(33, 320, 25), g = random_matrix(33, 320, 26);
  const Matrix w = random_matrix(1, 320, 27), bias = random_matrix(1, 320, 28);
  const std::vector<float> f = some_inv_freq(64);
  auto run = [&](Backend& be, int op) {
    DeviceBuffer xd = be.upload(x), gd = be.upload(g), wd = be.upload(w), bd = be.upload(bias), out = be.alloc(33, 320);
    if (op == 0) be.rms_norm(xd, wd, 1e-6f, out);
    if (op == 1) be.layer_norm(xd, wd, bd, 1e-5f, out);
    if (op == 2) be.rope(xd, 5, 64, 1000, f);
    if (op == 3) be.silu_mul(xd, gd);
    if (op == 4) be.relu(xd);
    return op <= 1 ? out.download() : xd.download();
  };
  for (int op = 0; op < 5; ++op) {
    INFO("op " << op << " (rms_norm, layer_norm, rope, silu_mul, relu)");
    CHECK(max_rel(run(*gpu, op), run(*cpu, op)) < 1e-5);
  }
}

TEST_CASE("cuda parity: causal grouped-query attention", "[backend][cuda]") {
  QLAB_NEED_CUDA();
  const int64_t n_heads = 8, n_kv = 2, hd = 64, pos0 = 40, t = 150;
  const Matrix q = random_matrix(t, n_heads * hd, 29), k = random_matrix(pos0 + t, n_kv * hd, 30),
               v = random_matrix(pos0 + t, n_kv * hd, 31);
  auto run = [&](Backend& be) {
    DeviceBuffer qd = be.upload(q), kd = be.upload(k), vd = be.upload(v), out = be.alloc(t, n_heads * hd);
    be.causal_attention(qd, kd, vd, n_heads, n_kv, hd, pos0, out);
    return out.download();
  };
  CHECK(max_rel(run(*gpu), run(*cpu)) < 1e-5);
}

TEST_CASE("cuda parity: Cholesky, inverse, triangular solves, and the failing column", "[backend][cuda]") {
  QLAB_NEED_CUDA();
  const Matrix a = spd(200, 32), b = random_matrix(200, 17, 33), br = random_matrix(17, 200, 34);
  for (bool upper : {false, true}) {
    auto run = [&](Backend& be, Matrix& factor, Matrix& left, Matrix& right) {
      DeviceBuffer f = be.upload(a), bd = be.upload(b), brd = be.upload(br);
      REQUIRE(be.potrf(f, upper) == 0);
      factor = f.download();
      be.trsm(f, bd, upper, true);
      be.trsm(f, brd, upper, false);
      left = bd.download();
      right = brd.download();
      be.cholesky_inverse(f, upper);
      return f.download();
    };
    Matrix fc, lc, rc, fg, lg, rg;
    const Matrix inv_c = run(*cpu, fc, lc, rc), inv_g = run(*gpu, fg, lg, rg);
    INFO("upper " << upper);
    CHECK(max_rel(fg, fc) < 1e-5);
    CHECK(max_rel(lg, lc) < 1e-4);  // solves amplify rounding by the condition number
    CHECK(max_rel(rg, rc) < 1e-4);
    CHECK(max_rel(inv_g, inv_c) < 1e-4);
  }
  Matrix not_pd = a;
  not_pd(5, 5) = -1.0f;
  DeviceBuffer nd = gpu->upload(not_pd);
  CHECK(gpu->potrf(nd, true) == 6);
}
