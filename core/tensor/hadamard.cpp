#include "tensor/hadamard.h"

#include <Eigen/QR>
#include <cmath>
#include <random>
#include <vector>

#include "util/error.h"

namespace qlab {

namespace {
// q = p^k with p prime, or 0.
struct PrimePower {
  int64_t p = 0, k = 0;
};
PrimePower prime_power(int64_t q) {
  if (q < 2) return {};
  int64_t p = 2;
  while (p * p <= q && q % p != 0) ++p;
  if (q % p != 0) p = q;  // q itself is prime
  int64_t k = 0, r = q;
  while (r % p == 0) r /= p, ++k;
  return r == 1 ? PrimePower{p, k} : PrimePower{};
}

// GF(p^k): elements 0..q−1 read as k base-p digits (polynomial coefficients, lowest first),
// products reduced by a monic irreducible of degree k found by search. Only what Paley needs:
// differences and the quadratic character.
class FiniteField {
 public:
  explicit FiniteField(PrimePower pk) : p_(pk.p), k_(pk.k) {
    q_ = 1;
    for (int64_t i = 0; i < k_; ++i) q_ *= p_;
    modulus_ = find_irreducible();
    square_.assign(static_cast<size_t>(q_), false);
    for (int64_t x = 1; x < q_; ++x) square_[static_cast<size_t>(mul(x, x))] = true;
  }
  int64_t size() const { return q_; }
  int64_t sub(int64_t a, int64_t b) const {
    int64_t out = 0, scale = 1;
    for (int64_t i = 0; i < k_; ++i, a /= p_, b /= p_, scale *= p_) out += ((a % p_ - b % p_ + p_) % p_) * scale;
    return out;
  }
  int chi(int64_t a) const { return a == 0 ? 0 : square_[static_cast<size_t>(a)] ? 1 : -1; }

 private:
  std::vector<int64_t> digits(int64_t a) const {
    std::vector<int64_t> d(static_cast<size_t>(k_));
    for (auto& x : d) x = a % p_, a /= p_;
    return d;
  }
  // a·b mod the modulus (coefficients lowest first, modulus monic of degree k).
  int64_t mul(int64_t a, int64_t b) const { return mul_mod(a, b, modulus_); }
  int64_t mul_mod(int64_t a, int64_t b, const std::vector<int64_t>& m) const {
    const std::vector<int64_t> x = digits(a), y = digits(b);
    std::vector<int64_t> prod(static_cast<size_t>(2 * k_), 0);
    for (int64_t i = 0; i < k_; ++i)
      for (int64_t j = 0; j < k_; ++j) prod[static_cast<size_t>(i + j)] = (prod[static_cast<size_t>(i + j)] + x[size_t(i)] * y[size_t(j)]) % p_;
    for (int64_t d = 2 * k_ - 1; d >= k_; --d) {  // subtract prod[d]·x^(d−k)·m
      const int64_t c = prod[static_cast<size_t>(d)];
      if (c == 0) continue;
      for (int64_t i = 0; i <= k_; ++i) {
        int64_t& t = prod[static_cast<size_t>(d - k_ + i)];
        t = ((t - c * m[static_cast<size_t>(i)]) % p_ + p_) % p_;
      }
    }
    int64_t out = 0, scale = 1;
    for (int64_t i = 0; i < k_; ++i, scale *= p_) out += prod[static_cast<size_t>(i)] * scale;
    return out;
  }
  // A monic polynomial of degree k with no factor of degree ≤ k/2: it has no root of any
  // extension of that degree, checked by trying every monic divisor candidate.
  std::vector<int64_t> find_irreducible() const {
    if (k_ == 1) return {0, 1};
    for (int64_t low = 0;; ++low) {
      std::vector<int64_t> m = digits(low);
      m.push_back(1);
      if (m[0] != 0 && !has_factor(m)) return m;
    }
  }
  bool has_factor(const std::vector<int64_t>& m) const {
    for (int64_t deg = 1; deg <= k_ / 2; ++deg) {
      int64_t count = 1;
      for (int64_t i = 0; i < deg; ++i) count *= p_;
      for (int64_t low = 0; low < count; ++low) {
        std::vector<int64_t> f(static_cast<size_t>(deg), 0);
        for (int64_t i = 0, r = low; i < deg; ++i, r /= p_) f[size_t(i)] = r % p_;
        f.push_back(1);
        if (remainder_is_zero(m, f)) return true;
      }
    }
    return false;
  }
  bool remainder_is_zero(std::vector<int64_t> a, const std::vector<int64_t>& f) const {  // f monic
    const size_t df = f.size() - 1;
    for (size_t d = a.size() - 1; d >= df && d < a.size(); --d) {
      const int64_t c = a[d];
      if (c != 0)
        for (size_t i = 0; i <= df; ++i) a[d - df + i] = ((a[d - df + i] - c * f[i]) % p_ + p_) % p_;
      if (d == 0) break;
    }
    for (size_t i = 0; i < df; ++i)
      if (a[i] != 0) return false;
    return true;
  }

  int64_t p_, k_, q_ = 1;
  std::vector<int64_t> modulus_;
  std::vector<bool> square_;
};

// Jacobsthal matrix Q[a][b] = χ(a − b) over GF(q).
Eigen::MatrixXd jacobsthal(const FiniteField& f) {
  const int64_t q = f.size();
  Eigen::MatrixXd m(q, q);
  for (int64_t a = 0; a < q; ++a)
    for (int64_t b = 0; b < q; ++b) m(a, b) = f.chi(f.sub(a, b));
  return m;
}

// Paley I, q ≡ 3 (mod 4): I + [[0, 1ᵀ], [−1, Q]], order q + 1.
Eigen::MatrixXd paley1(int64_t q) {
  const Eigen::MatrixXd jq = jacobsthal(FiniteField(prime_power(q)));
  Eigen::MatrixXd h = Eigen::MatrixXd::Identity(q + 1, q + 1);
  h.block(0, 1, 1, q).array() += 1.0;
  h.block(1, 0, q, 1).array() -= 1.0;
  h.block(1, 1, q, q) += jq;
  return h;
}

// Paley II, q ≡ 1 (mod 4): S = [[0, 1ᵀ], [1, Q]] with 0 → [[1, −1], [−1, −1]] and
// ±1 → ±[[1, 1], [1, −1]], order 2(q + 1).
Eigen::MatrixXd paley2(int64_t q) {
  const Eigen::MatrixXd jq = jacobsthal(FiniteField(prime_power(q)));
  Eigen::MatrixXd s = Eigen::MatrixXd::Zero(q + 1, q + 1);
  s.block(0, 1, 1, q).setOnes();
  s.block(1, 0, q, 1).setOnes();
  s.block(1, 1, q, q) = jq;
  Eigen::MatrixXd h(2 * (q + 1), 2 * (q + 1));
  for (int64_t i = 0; i <= q; ++i)
    for (int64_t j = 0; j <= q; ++j) {
      const double v = s(i, j);
      if (v == 0)
        h.block<2, 2>(2 * i, 2 * j) << 1, -1, -1, -1;
      else
        h.block<2, 2>(2 * i, 2 * j) << v, v, v, -v;
    }
  return h;
}

bool paley1_order(int64_t m) {
  const PrimePower pk = prime_power(m - 1);
  return m % 4 == 0 && pk.p > 0 && (m - 1) % 4 == 3;
}
bool paley2_order(int64_t m) {
  const PrimePower pk = prime_power(m / 2 - 1);
  return m % 4 == 0 && pk.p > 0 && (m / 2 - 1) % 4 == 1;
}

constexpr int64_t kMaxRandomOrthogonal = 1024;

const char* kind_name(HadamardPlan::Kind k) {
  switch (k) {
    case HadamardPlan::Kind::sylvester: return "Sylvester";
    case HadamardPlan::Kind::paley1: return "Paley I";
    case HadamardPlan::Kind::paley2: return "Paley II";
    case HadamardPlan::Kind::random_orthogonal: return "random orthogonal";
  }
  return "?";
}

// In place on n = 2^a contiguous values: the unnormalised Walsh–Hadamard butterflies.
void fwht(float* x, int64_t n) {
  for (int64_t h = 1; h < n; h *= 2)
    for (int64_t i = 0; i < n; i += 2 * h)
      for (int64_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
}
}  // namespace

std::string HadamardPlan::describe() const {
  if (base == 1) return fmt::format("{}: Sylvester", n);
  return fmt::format("{} = {} × {}: {} {} ⊗ Sylvester {}", n, base, pow2, kind_name(kind), base, pow2);
}

HadamardPlan plan_hadamard(int64_t n, uint64_t seed) {
  if (n < 1) fail("a Hadamard rotation of width {} cannot be built (the width must be positive)", n);
  int64_t odd = n, twos = 1;
  while (odd % 2 == 0) odd /= 2, twos *= 2;
  HadamardPlan plan;
  plan.n = n;
  if (odd == 1) {
    plan.pow2 = n;
    plan.base_matrix = Matrix::Ones(1, 1);
    return plan;
  }
  for (int64_t m = odd * 2; m <= n; m *= 2) {  // the smallest Paley base: the cheapest transform
    const bool one = paley1_order(m), two = !one && paley2_order(m);
    if (!one && !two) continue;
    plan.base = m;
    plan.pow2 = n / m;
    plan.kind = one ? HadamardPlan::Kind::paley1 : HadamardPlan::Kind::paley2;
    const Eigen::MatrixXd h = one ? paley1(m - 1) : paley2(m / 2 - 1);
    plan.base_matrix = (h / std::sqrt(static_cast<double>(m))).cast<float>();
    return plan;
  }
  if (odd > kMaxRandomOrthogonal)
    fail("a Hadamard rotation of width {} = {} × {} cannot be built: supported are 2^k, m·2^k with m = q + 1 (q ≡ 3 mod 4 "
         "a prime power) or m = 2(q + 1) (q ≡ 1 mod 4 a prime power), and otherwise an odd part up to {} (a random orthogonal "
         "factor)",
         n, odd, twos, kMaxRandomOrthogonal);
  plan.base = odd;
  plan.pow2 = twos;
  plan.kind = HadamardPlan::Kind::random_orthogonal;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd g(odd, odd);
  for (int64_t i = 0; i < g.size(); ++i) g.data()[i] = normal(rng);
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
  Eigen::MatrixXd q = qr.householderQ();
  const Eigen::MatrixXd r = qr.matrixQR().triangularView<Eigen::Upper>();
  for (int64_t j = 0; j < odd; ++j)
    if (r(j, j) < 0) q.col(j) *= -1.0;  // Haar-distributed, one matrix per seed
  plan.base_matrix = q.cast<float>();
  return plan;
}

void hadamard_rows(const HadamardPlan& plan, Matrix& x) {
  if (x.cols() != plan.n) fail("hadamard: rows of width {}, the transform is {} wide", x.cols(), plan.n);
  const float norm = 1.0f / std::sqrt(static_cast<float>(plan.pow2));
  const Matrix base_t = plan.base_matrix.transpose();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < x.rows(); ++r) {
    float* row = x.data() + r * plan.n;
    // The row as base × pow2 (X[b][j] = row[b·pow2 + j]): X ← H_baseᵀ · (X · H_pow2).
    for (int64_t b = 0; b < plan.base; ++b) fwht(row + b * plan.pow2, plan.pow2);
    Eigen::Map<Matrix> m(row, plan.base, plan.pow2);
    if (plan.base > 1)
      m = (base_t * m * norm).eval();
    else
      m *= norm;
  }
}

void hadamard_heads(const HadamardPlan& plan, Matrix& x) {
  const int64_t rows = x.rows(), cols = x.cols();
  if (cols % plan.n != 0) fail("a per-head Hadamard of width {} on rows of width {}", plan.n, cols);
  Matrix heads = Eigen::Map<Matrix>(x.data(), rows * cols / plan.n, plan.n);
  hadamard_rows(plan, heads);
  x = Eigen::Map<Matrix>(heads.data(), rows, cols);
}

Matrix hadamard_matrix(const HadamardPlan& plan) {
  Matrix h = Matrix::Identity(plan.n, plan.n);
  hadamard_rows(plan, h);
  return h;
}

Matrix randomized_hadamard(int64_t n, uint64_t seed) {
  Matrix h = hadamard_matrix(plan_hadamard(n, seed));
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);  // the signs independent of a random orthogonal base
  for (int64_t i = 0; i < n; ++i)
    if (rng() & 1) h.row(i) *= -1.0f;
  return h;
}

}  // namespace qlab
