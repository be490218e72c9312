// GPTQ (Frantar et al. 2022) as IST-DASLab/gptq's fasterquant computes it: dead columns,
// optional act-order permutation, dampening, the upper Cholesky factor of H⁻¹, column
// blocks with lazy batch updates, per-channel / grouped / static-group parameters, and the
// reference's loss. Pure math on host memory; the linear algebra goes through qlab_linalg.
#pragma once
#include <qlab/grid.hpp>
#include <qlab/plugin.h>

namespace qlab::gptq {

struct Options {
  int32_t block_size = 128;
  double damp_frac = 0.01;
  bool act_order = false;
  bool static_groups = false;
  bool fit_on_updated = false;  // false: the reference (group params from W before the block's in-block updates)
  bool mse = false;             // GPTQ's MSE shrink search for every row/group's range
  grid::MseSearch mse_search;
  int32_t max_damp_retries = 6;  // ×10 dampening steps when H + damp·I is not positive definite
};

struct Result {
  double loss = 0;        // Σ over weights of (w − q)² / Hinv_jj² / 2, the reference's printed error
  double damp = 0;        // dampening actually added to the diagonal
  int32_t damp_retries = 0;
  int32_t n_dead = 0;     // columns with H_jj = 0 (zeroed)
  double time_factor_s = 0, time_solve_s = 0;
  bool on_device = false;  // solved by the host's gptq_solve on its compute backend
};

// Quantizes in.weight with in.stats.hessian into out (dequant, codes, scales, zeros, g_idx):
// through the host's gptq_solve (in.la) when it has one for these options, else on the host.
// Throws sdk::Failure when H stays not positive definite after the retries.
Result quantize(const qlab_linear_in& in, qlab_quantize_out& out, const Options& opt);

}  // namespace qlab::gptq
