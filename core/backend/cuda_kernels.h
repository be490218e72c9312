// The CUDA backend's own kernels (what cuBLAS and cuSOLVER do not offer), behind plain
// launchers so only cuda_kernels.cu goes through nvcc. Pointers are device memory, matrices
// row-major and dense; each launcher enqueues on `stream` and returns the launch's error.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace qlab::cuda {

cudaError_t round_to_fp16(const float* in, void* out, int64_t n, cudaStream_t stream);  // out: __half[n]
cudaError_t round_to_bf16(const float* in, void* out, int64_t n, cudaStream_t stream);  // out: __nv_bfloat16[n]

cudaError_t rms_norm(const float* x, const float* weight, float eps, float* out, int64_t rows, int64_t cols,
                     cudaStream_t stream);
// bias may be null.
cudaError_t layer_norm(const float* x, const float* weight, const float* bias, float eps, float* out, int64_t rows,
                       int64_t cols, cudaStream_t stream);
// Row r at position pos[r] when pos is given, else pos0 + r.
cudaError_t rope(float* x, int64_t rows, int64_t n_heads, int64_t head_dim, int64_t pos0, const int32_t* pos, const float* inv_freq,
                 cudaStream_t stream);
// Causal over keys [0, pos0 + r] for query r; with tree_start/subtree_end (a PackedLayout in
// device memory), over query r's path in its prefix tree.
cudaError_t causal_attention(const float* q, const float* k, const float* v, float* out, int64_t n_q, int64_t n_heads,
                             int64_t n_kv_heads, int64_t head_dim, int64_t pos0, const int32_t* tree_start,
                             const int32_t* subtree_end, cudaStream_t stream);
// scores: n_heads slabs of rows × ld (head h's row i at (h·rows + i)·ld); row i keeps a
// softmax over its first first_visible + i entries and zeros after them (causal mask).
cudaError_t causal_softmax(float* scores, int64_t n_heads, int64_t rows, int64_t ld, int64_t first_visible, cudaStream_t stream);
// In place on n_blocks contiguous blocks of pow2 (a power of two ≤ 2^14) values: the
// Walsh–Hadamard butterflies, then × norm.
cudaError_t fwht_blocks(float* x, int64_t n_blocks, int64_t pow2, float norm, cudaStream_t stream);
cudaError_t silu_mul(float* a, const float* gate, int64_t n, cudaStream_t stream);
cudaError_t relu(float* a, int64_t n, cudaStream_t stream);
// *sum ← Σ (a − b)² over n values (b null: Σ a²), the differences in float, the sum in double.
cudaError_t squared_distance(const float* a, const float* b, int64_t n, double* sum, cudaStream_t stream);
// x ← fp16(x) (to_fp16) or bf16(x), nearest even, back in float.
cudaError_t round_in_place(float* x, int64_t n, bool to_fp16, cudaStream_t stream);
cudaError_t add(float* x, const float* y, int64_t n, cudaStream_t stream);                       // x += y
cudaError_t add_row(float* x, const float* v, int64_t rows, int64_t cols, cudaStream_t stream);  // x[r] += v

// n × n: zero the strict lower (lower = true) or strict upper triangle.
cudaError_t zero_strict_triangle(float* a, int64_t n, bool lower, cudaStream_t stream);
// n × n: copy the upper triangle onto the lower (from_upper = true), or the lower onto the upper.
cudaError_t mirror_triangle(float* a, int64_t n, bool from_upper, cudaStream_t stream);

// Backend::gptq_block's operands (backend.h states the semantics), device pointers.
struct GptqBlockArgs {
  const float* w;              // rows × cols, read only
  const float* hinv;           // cols × cols, upper Cholesky factor of H⁻¹
  const float* col_group;      // 1 × cols, used when group_size == 0
  float *scales, *zeros;       // rows × n_groups
  float *dequant, *codes;      // rows × cols
  float* err1;                 // rows × err1_ld
  float* loss;                 // rows
  int64_t rows, cols, i1, i2, group_size, n_groups, err1_ld;
  int32_t bits, range;
  bool sym;
};
// One warp per row; i2 − i1 ≤ 128 (the block's H⁻¹ in shared memory, four columns per lane).
cudaError_t gptq_block(const GptqBlockArgs& a, cudaStream_t stream);

}  // namespace qlab::cuda
