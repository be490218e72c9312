// Orthonormal Hadamard transforms for rotations (QuaRot): x ← x·H on rows of width n in
// O(n·(log n + m)), every entry of H ±1/√n, built as H_m ⊗ H_{2^k} for n = m·2^k:
//   m = 1            Sylvester (the fast Walsh–Hadamard transform alone)
//   m = q + 1        Paley I, q ≡ 3 (mod 4) a prime power (12, 20, 24, 28, 44, 48, 60, …, 344)
//   m = 2(q + 1)     Paley II, q ≡ 1 (mod 4) a prime power (36, 52, 76, …)
// (LLaMA's 14336 = 28·512 and 11008 = 344·32 are covered; so is every power of two.)
// QuaRot ships tables for the rest (its had_172 for LLaMA's 11008 = 172·64); without them
// qlab's alternative for a width no Paley form covers is H_{2^k} times a seeded random
// orthogonal matrix on the remaining odd part o ≤ 1024 (entries not ±1/√n, still dense and
// incoherent; cost n·o instead of n·m per row). Other widths are refused naming the forms.
#pragma once
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace qlab {

struct HadamardPlan {
  enum class Kind { sylvester, paley1, paley2, random_orthogonal };
  int64_t n = 0, pow2 = 1, base = 1;  // n = base · pow2
  Kind kind = Kind::sylvester;
  Matrix base_matrix;                 // base × base, orthonormal (Paley I is not symmetric: transpose explicitly)
  std::string describe() const;       // "172 = 43 × 4: random orthogonal 43 ⊗ Sylvester 4"
};

// The plan for width n; `seed` draws the random orthogonal part when one is needed. Fails for
// n < 1 or an odd part no form covers, naming n and the supported forms.
HadamardPlan plan_hadamard(int64_t n, uint64_t seed = 0);

// Every row of x (cols = plan.n) ← row · H.
void hadamard_rows(const HadamardPlan& plan, Matrix& x);
// Every plan.n-wide slice of every row of x (a head of q, k or v) ← slice · H.
void hadamard_heads(const HadamardPlan& plan, Matrix& x);
// H itself (n × n), for tests and for folding into weights.
Matrix hadamard_matrix(const HadamardPlan& plan);
// QuaRot's randomized Hadamard Q = diag(s)·H, s a seeded ±1 vector: orthogonal, n × n.
Matrix randomized_hadamard(int64_t n, uint64_t seed);

}  // namespace qlab
