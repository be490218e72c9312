// Correctness first: one thread per element, one block per row for reductions, and one
// block per (query, head) for attention. Math mirrors the CPU code (forward/) so the parity
// tests hold at fp32 rounding: float exp, angles in float with cos/sin in double.
#include <algorithm>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda_kernels.h"

namespace qlab::cuda {

namespace {
constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// Sum (or max) over the block; every thread gets the result. `red` holds 32 floats.
template <bool kMax>
__device__ float block_reduce(float x, float* red) {
  for (int o = 16; o > 0; o >>= 1) {
    const float y = __shfl_xor_sync(0xffffffffu, x, o);
    x = kMax ? fmaxf(x, y) : x + y;
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = (blockDim.x + 31) / 32;
  __syncthreads();  // red may still be read from a previous reduction
  if (lane == 0) red[warp] = x;
  __syncthreads();
  x = lane < n_warps ? red[lane] : (kMax ? -INFINITY : 0.0f);
  for (int o = 16; o > 0; o >>= 1) {
    const float y = __shfl_xor_sync(0xffffffffu, x, o);
    x = kMax ? fmaxf(x, y) : x + y;
  }
  return x;
}

__global__ void to_fp16_kernel(const float* in, __half* out, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = __float2half_rn(in[i]);
}

__global__ void to_bf16_kernel(const float* in, __nv_bfloat16* out, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = __float2bfloat16_rn(in[i]);
}

__global__ void rms_norm_kernel(const float* x, const float* w, float eps, float* out, int64_t cols) {
  __shared__ float red[32];
  const float* row = x + blockIdx.x * cols;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) ss += row[c] * row[c];
  const float inv = 1.0f / sqrtf(block_reduce<false>(ss, red) / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) out[blockIdx.x * cols + c] = row[c] * inv * w[c];
}

__global__ void layer_norm_kernel(const float* x, const float* w, const float* bias, float eps, float* out, int64_t cols) {
  __shared__ float red[32];
  const float* row = x + blockIdx.x * cols;
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += row[c];
  const float mean = block_reduce<false>(s, red) / static_cast<float>(cols);
  float ss = 0.0f;  // two passes, as the CPU: the variance of centered values
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) ss += (row[c] - mean) * (row[c] - mean);
  const float inv = 1.0f / sqrtf(block_reduce<false>(ss, red) / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    out[blockIdx.x * cols + c] = (row[c] - mean) * inv * w[c] + (bias ? bias[c] : 0.0f);
}

// One thread per (row, head, j < head_dim/2): the rotate-half pair (j, j + half). Row r is at
// position pos[r], or pos0 + r without pos.
__global__ void rope_kernel(float* x, int64_t rows, int64_t n_heads, int64_t head_dim, int64_t pos0, const int32_t* pos,
                            const float* inv_freq) {
  const int64_t half = head_dim / 2, i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= rows * n_heads * half) return;
  const int64_t j = i % half, h = (i / half) % n_heads, r = i / (half * n_heads);
  const float angle = static_cast<float>(pos ? pos[r] : pos0 + r) * inv_freq[j];
  const float c = static_cast<float>(cos(static_cast<double>(angle))), s = static_cast<float>(sin(static_cast<double>(angle)));
  float* head = x + r * n_heads * head_dim + h * head_dim;
  const float a = head[j], b = head[j + half];
  head[j] = a * c - b * s;
  head[j + half] = b * c + a * s;
}

// Block (query r, head h). Shared memory: the query, 32 floats for reductions, the scores.
// Causal: keys [0, pos0 + r]. Packed (tree_start given): keys [tree_start[r], r], those whose
// subtree ended before r (off the row's path) masked out.
__global__ void attention_kernel(const float* q, const float* k, const float* v, float* out, int64_t n_heads,
                                 int64_t group, int64_t head_dim, int64_t pos0, const int32_t* tree_start,
                                 const int32_t* subtree_end, float scale) {
  extern __shared__ float smem[];
  float* qs = smem;
  float* red = qs + head_dim;
  float* s = red + 32;
  const int64_t r = blockIdx.x, h = blockIdx.y, kvh = h / group;
  const int64_t q_stride = n_heads * head_dim, kv_stride = n_heads / group * head_dim;
  const int64_t k0 = tree_start ? tree_start[r] : 0, n_keys = (tree_start ? r : pos0 + r) + 1 - k0;
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) qs[d] = q[r * q_stride + h * head_dim + d];
  __syncthreads();
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < n_keys; j += blockDim.x) {
    const float* kj = k + (k0 + j) * kv_stride + kvh * head_dim;
    float dot = 0.0f;
    for (int64_t d = 0; d < head_dim; ++d) dot += qs[d] * kj[d];
    s[j] = subtree_end && r >= subtree_end[k0 + j] ? -INFINITY : scale * dot;
    m = fmaxf(m, s[j]);
  }
  m = block_reduce<true>(m, red);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < n_keys; j += blockDim.x) {
    s[j] = expf(s[j] - m);
    sum += s[j];
  }
  const float inv = 1.0f / block_reduce<false>(sum, red);
  for (int64_t j = threadIdx.x; j < n_keys; j += blockDim.x) s[j] *= inv;
  __syncthreads();
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
    const float* vd = v + (k0 * kv_stride) + kvh * head_dim + d;
    float acc = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) acc += s[j] * vd[j * kv_stride];
    out[r * q_stride + h * head_dim + d] = acc;
  }
}

// Block (row i, head h) of a rows × ld score slab per head: softmax over the first
// first_visible + i keys (causal), zeros beyond.
__global__ void causal_softmax_kernel(float* s, int64_t rows, int64_t ld, int64_t first_visible) {
  __shared__ float red[32];
  const int64_t i = blockIdx.x, h = blockIdx.y, visible = first_visible + i;
  float* row = s + (h * rows + i) * ld;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x) m = fmaxf(m, row[j]);
  m = block_reduce<true>(m, red);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < visible; j += blockDim.x) {
    row[j] = expf(row[j] - m);
    sum += row[j];
  }
  const float inv = 1.0f / block_reduce<false>(sum, red);
  for (int64_t j = threadIdx.x; j < ld; j += blockDim.x) row[j] = j < visible ? row[j] * inv : 0.0f;
}

// One thread block per pow2-block, staged in shared memory; the butterflies of a stage pair
// index i (bit h clear) with i + h.
__global__ void fwht_kernel(float* x, int64_t pow2, float norm) {
  extern __shared__ float v[];
  float* block = x + blockIdx.x * pow2;
  for (int64_t i = threadIdx.x; i < pow2; i += blockDim.x) v[i] = block[i];
  __syncthreads();
  for (int64_t h = 1; h < pow2; h *= 2) {
    for (int64_t t = threadIdx.x; t < pow2 / 2; t += blockDim.x) {
      const int64_t i = (t / h) * 2 * h + t % h;
      const float a = v[i], b = v[i + h];
      v[i] = a + b;
      v[i + h] = a - b;
    }
    __syncthreads();
  }
  for (int64_t i = threadIdx.x; i < pow2; i += blockDim.x) block[i] = v[i] * norm;
}

__global__ void silu_mul_kernel(float* a, const float* g, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) a[i] *= g[i] / (1.0f + expf(-g[i]));
}

__global__ void relu_kernel(float* a, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) a[i] = fmaxf(a[i], 0.0f);
}

// One double partial per thread over a grid-stride loop, reduced in shared memory, one
// atomicAdd (double: sm_60+) per thread block.
__global__ void squared_distance_kernel(const float* a, const float* b, int64_t n, double* sum) {
  __shared__ double part[kThreads];
  double acc = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float d = b ? a[i] - b[i] : a[i];
    acc += double(d) * double(d);
  }
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(sum, part[0]);
}

__global__ void round_in_place_kernel(float* x, int64_t n, bool to_fp16) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) x[i] = to_fp16 ? __half2float(__float2half_rn(x[i])) : __bfloat162float(__float2bfloat16_rn(x[i]));
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void add_row_kernel(float* x, const float* v, int64_t n, int64_t cols) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) x[i] += v[i % cols];
}

__global__ void zero_triangle_kernel(float* a, int64_t n, bool lower) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * n) return;
  const int64_t r = i / n, c = i % n;
  if (lower ? c < r : c > r) a[i] = 0.0f;
}

__global__ void mirror_kernel(float* a, int64_t n, bool from_upper) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n * n) return;
  const int64_t r = i / n, c = i % n;
  if (from_upper ? c < r : c > r) a[i] = a[c * n + r];
}
// grid.hpp's uniform grid on the device, reproducing plugins/sdk/include/qlab/grid.hpp
// exactly (same float operations in the same order, IEEE division, nearbyintf = its
// round-half-to-even std::nearbyint, std::min/std::max's comparisons), so a code the GPU
// picks is the code the CPU picks for the same value. Keep the two in step.
struct GridParams {
  float scale, zero;
};

__device__ float min_of(float a, float b) { return b < a ? b : a; }  // std::min
__device__ float max_of(float a, float b) { return a < b ? b : a; }  // std::max

__device__ float code_of(float x, GridParams p, int maxq) {
  const float q = nearbyintf(x / p.scale) + p.zero;
  return min_of(max_of(q, 0.0f), static_cast<float>(maxq));
}

__device__ float dequant(float code, GridParams p) { return p.scale * (code - p.zero); }

__device__ GridParams params_for_range(float lo, float hi, int bits, bool sym, int range) {
  const int maxq = (1 << bits) - 1;
  GridParams p;
  if (range == 1) {  // QLAB_RANGE_MINMAX
    if (sym) {
      const float half = static_cast<float>((1 << (bits - 1)) - 1);
      p.scale = max_of(max_of(fabsf(lo), fabsf(hi)), 1e-5f) / half;
      p.zero = static_cast<float>(1 << (bits - 1));
    } else {
      p.scale = max_of(hi - lo, 1e-5f) / static_cast<float>(maxq);
      p.zero = min_of(max_of(-nearbyintf(lo / p.scale), 0.0f), static_cast<float>(maxq));
    }
    return p;
  }
  p.scale = (hi - lo) / static_cast<float>(maxq);  // QLAB_RANGE_GPTQ
  p.zero = sym ? static_cast<float>(maxq + 1) / 2.0f : nearbyintf(-lo / p.scale);
  return p;
}

// grid::fit of x[0..n) by one warp: min and max are exact in any order, so the lanes'
// strided partial results reduce to the CPU's sequential ones.
__device__ GridParams fit_warp(const float* x, int64_t n, int bits, bool sym, int range, int lane) {
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t c = lane; c < n; c += 32) {
    lo = min_of(lo, x[c]);
    hi = max_of(hi, x[c]);
  }
  for (int o = 16; o > 0; o >>= 1) {
    lo = min_of(lo, __shfl_xor_sync(0xffffffffu, lo, o));
    hi = max_of(hi, __shfl_xor_sync(0xffffffffu, hi, o));
  }
  if (range != 1) {  // GPTQ: the range holds 0; see grid::range_of
    lo = min_of(lo, 0.0f);
    hi = max_of(hi, 0.0f);
    if (sym) {
      hi = max_of(fabsf(lo), hi);
      if (lo < 0) lo = -hi;
    }
    if (lo == 0.0f && hi == 0.0f) {
      lo = -1.0f;
      hi = 1.0f;
    }
  }
  return params_for_range(lo, hi, bits, sym, range);
}

constexpr int kGptqWarps = 8;  // rows per thread block, sharing one copy of the block's H⁻¹
constexpr int kGptqSlots = 4;  // columns per lane: lane l holds l, l + 32, l + 64, l + 96

// One warp per row. The row's block columns live in registers (column i in lane i % 32), so
// the in-block updates never touch memory; column i's value is broadcast by a shuffle and
// every lane computes the same code, error and loss term. hs: H⁻¹[i1:i2, i1:i2].
__global__ void gptq_block_kernel(GptqBlockArgs a) {
  extern __shared__ float hs[];
  const int count = static_cast<int>(a.i2 - a.i1);
  for (int t = threadIdx.x; t < count * count; t += blockDim.x) hs[t] = a.hinv[(a.i1 + t / count) * a.cols + a.i1 + t % count];
  __syncthreads();
  const int lane = threadIdx.x % 32;
  const int64_t r = blockIdx.x * int64_t(kGptqWarps) + threadIdx.x / 32;
  if (r >= a.rows) return;
  const float* wr = a.w + r * a.cols;
  float v[kGptqSlots], qv[kGptqSlots], cv[kGptqSlots], ev[kGptqSlots];
#pragma unroll
  for (int k = 0; k < kGptqSlots; ++k) {
    const int j = lane + 32 * k;
    v[k] = j < count ? wr[a.i1 + j] : 0.0f;
    qv[k] = cv[k] = ev[k] = 0.0f;
  }
  const int maxq = (1 << a.bits) - 1;
  GridParams p{1.0f, 0.0f};
  int64_t held = -1;  // the group whose parameters p holds
  double row_loss = 0.0;
  for (int i = 0; i < count; ++i) {
    const int64_t col = a.i1 + i;
    const int64_t group = a.group_size > 0 ? col / a.group_size : static_cast<int64_t>(a.col_group[col]);
    if (a.group_size > 0 && col % a.group_size == 0) {  // fitted on W as it stands: the reference
      const int64_t n = a.cols - col < a.group_size ? a.cols - col : a.group_size;
      p = fit_warp(wr + col, n, a.bits, a.sym, a.range, lane);
      if (lane == 0) {
        a.scales[r * a.n_groups + group] = p.scale;
        a.zeros[r * a.n_groups + group] = p.zero;
      }
    } else if (group != held) {
      p = {a.scales[r * a.n_groups + group], a.zeros[r * a.n_groups + group]};
    }
    held = group;
    float mine = 0.0f;
#pragma unroll
    for (int k = 0; k < kGptqSlots; ++k)
      if (k == i / 32) mine = v[k];
    const float x = __shfl_sync(0xffffffffu, mine, i % 32);
    const float code = code_of(x, p, maxq);
    const float q = dequant(code, p);
    const float d = hs[i * count + i];
    const float e = (x - q) / d;
    row_loss += static_cast<double>((x - q) * (x - q)) / (static_cast<double>(d) * d) / 2.0;
#pragma unroll
    for (int k = 0; k < kGptqSlots; ++k) {
      const int j = lane + 32 * k;
      if (j > i && j < count) v[k] -= e * hs[i * count + j];  // one fused multiply-add, as the host compiler's -march=native FMA
      if (j == i) {
        qv[k] = q;
        cv[k] = code;
        ev[k] = e;
      }
    }
  }
#pragma unroll
  for (int k = 0; k < kGptqSlots; ++k) {
    const int j = lane + 32 * k;
    if (j >= count) continue;
    a.dequant[r * a.cols + a.i1 + j] = qv[k];
    a.codes[r * a.cols + a.i1 + j] = cv[k];
    a.err1[r * a.err1_ld + j] = ev[k];
  }
  if (lane == 0) a.loss[r] += static_cast<float>(row_loss);
}
}  // namespace

cudaError_t round_to_fp16(const float* in, void* out, int64_t n, cudaStream_t stream) {
  to_fp16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(in, static_cast<__half*>(out), n);
  return cudaGetLastError();
}

cudaError_t round_to_bf16(const float* in, void* out, int64_t n, cudaStream_t stream) {
  to_bf16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(in, static_cast<__nv_bfloat16*>(out), n);
  return cudaGetLastError();
}

cudaError_t rms_norm(const float* x, const float* weight, float eps, float* out, int64_t rows, int64_t cols,
                     cudaStream_t stream) {
  rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, weight, eps, out, cols);
  return cudaGetLastError();
}

cudaError_t layer_norm(const float* x, const float* weight, const float* bias, float eps, float* out, int64_t rows,
                       int64_t cols, cudaStream_t stream) {
  layer_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, weight, bias, eps, out, cols);
  return cudaGetLastError();
}

cudaError_t rope(float* x, int64_t rows, int64_t n_heads, int64_t head_dim, int64_t pos0, const int32_t* pos, const float* inv_freq,
                 cudaStream_t stream) {
  rope_kernel<<<blocks_for(rows * n_heads * (head_dim / 2)), kThreads, 0, stream>>>(x, rows, n_heads, head_dim, pos0, pos, inv_freq);
  return cudaGetLastError();
}

cudaError_t causal_attention(const float* q, const float* k, const float* v, float* out, int64_t n_q, int64_t n_heads,
                             int64_t n_kv_heads, int64_t head_dim, int64_t pos0, const int32_t* tree_start,
                             const int32_t* subtree_end, cudaStream_t stream) {
  const size_t smem = sizeof(float) * static_cast<size_t>(head_dim + 32 + pos0 + n_q);
  if (smem > 48 * 1024) {  // long contexts: opt in to more shared memory (the launch fails beyond the device's limit)
    const cudaError_t e = cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  const float scale = 1.0f / sqrtf(static_cast<float>(head_dim));
  const dim3 grid(static_cast<unsigned>(n_q), static_cast<unsigned>(n_heads));
  attention_kernel<<<grid, 128, smem, stream>>>(q, k, v, out, n_heads, n_heads / n_kv_heads, head_dim, pos0, tree_start,
                                                subtree_end, scale);
  return cudaGetLastError();
}

cudaError_t causal_softmax(float* scores, int64_t n_heads, int64_t rows, int64_t ld, int64_t first_visible, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(n_heads));
  causal_softmax_kernel<<<grid, kThreads, 0, stream>>>(scores, rows, ld, first_visible);
  return cudaGetLastError();
}

cudaError_t fwht_blocks(float* x, int64_t n_blocks, int64_t pow2, float norm, cudaStream_t stream) {
  if (pow2 > (int64_t{1} << 14)) return cudaErrorInvalidValue;
  const size_t smem = sizeof(float) * static_cast<size_t>(pow2);
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(fwht_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  fwht_kernel<<<static_cast<unsigned>(n_blocks), kThreads, smem, stream>>>(x, pow2, norm);
  return cudaGetLastError();
}

cudaError_t silu_mul(float* a, const float* gate, int64_t n, cudaStream_t stream) {
  silu_mul_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, gate, n);
  return cudaGetLastError();
}

cudaError_t relu(float* a, int64_t n, cudaStream_t stream) {
  relu_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, n);
  return cudaGetLastError();
}

cudaError_t squared_distance(const float* a, const float* b, int64_t n, double* sum, cudaStream_t stream) {
  if (cudaError_t e = cudaMemsetAsync(sum, 0, sizeof(double), stream); e != cudaSuccess) return e;
  squared_distance_kernel<<<std::min<int64_t>(blocks_for(n), 1024), kThreads, 0, stream>>>(a, b, n, sum);
  return cudaGetLastError();
}

cudaError_t round_in_place(float* x, int64_t n, bool to_fp16, cudaStream_t stream) {
  round_in_place_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, to_fp16);
  return cudaGetLastError();
}

cudaError_t add(float* x, const float* y, int64_t n, cudaStream_t stream) {
  add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t add_row(float* x, const float* v, int64_t rows, int64_t cols, cudaStream_t stream) {
  add_row_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(x, v, rows * cols, cols);
  return cudaGetLastError();
}

cudaError_t zero_strict_triangle(float* a, int64_t n, bool lower, cudaStream_t stream) {
  zero_triangle_kernel<<<blocks_for(n * n), kThreads, 0, stream>>>(a, n, lower);
  return cudaGetLastError();
}

cudaError_t mirror_triangle(float* a, int64_t n, bool from_upper, cudaStream_t stream) {
  mirror_kernel<<<blocks_for(n * n), kThreads, 0, stream>>>(a, n, from_upper);
  return cudaGetLastError();
}

cudaError_t gptq_block(const GptqBlockArgs& a, cudaStream_t stream) {
  if (a.i2 - a.i1 > 32 * kGptqSlots) return cudaErrorInvalidValue;
  const size_t smem = sizeof(float) * static_cast<size_t>((a.i2 - a.i1) * (a.i2 - a.i1));
  if (smem > 48 * 1024) {  // 128 columns: 64 KiB, above the default limit (sm_80 and sm_90 allow it)
    const cudaError_t e = cudaFuncSetAttribute(gptq_block_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  const unsigned blocks = static_cast<unsigned>((a.rows + kGptqWarps - 1) / kGptqWarps);
  gptq_block_kernel<<<blocks, 32 * kGptqWarps, smem, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace qlab::cuda
