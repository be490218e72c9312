#include "backend/backend_cuda.h"

#include <algorithm>
#include <cmath>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include "backend/cuda_kernels.h"
#include "util/error.h"

// Row-major on a column-major library: a row-major r × c matrix is the column-major c × r
// transpose with the same leading dimension, so C = op(A)·op(B) is computed as
// Cᵀ = op(B)ᵀ·op(A)ᵀ, a row-major upper triangle is cuBLAS's lower one, and a left solve
// becomes a right solve.

namespace qlab {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA {}: {} ({})", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("cuBLAS {}: {} ({})", what, cublasGetStatusName(s), cublasGetStatusString(s));
}

const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default: return "cusolverStatus_t (unnamed)";
  }
}

void check(cusolverStatus_t s, const char* what) {
  if (s != CUSOLVER_STATUS_SUCCESS) fail("cuSOLVER {}: {} ({})", what, cusolver_status_name(s), static_cast<int>(s));
}

struct CudaStorage final : DeviceBuffer::Storage {
  explicit CudaStorage(int64_t n) {
    if (n > 0) check(cudaMalloc(&ptr, sizeof(float) * static_cast<size_t>(n)), "cudaMalloc");
  }
  ~CudaStorage() override { cudaFree(ptr); }  // no throw from a destructor: a failed free leaks
  float* data() override { return ptr; }
  float* ptr = nullptr;
};

// Device scratch that grows to the largest request (GEMM inputs rounded to 16 bits,
// cuSOLVER workspaces, RoPE frequencies).
class Scratch {
 public:
  ~Scratch() { cudaFree(ptr_); }
  void* get(size_t bytes) {
    if (bytes > size_) {
      check(cudaFree(ptr_), "cudaFree");
      ptr_ = nullptr;
      check(cudaMalloc(&ptr_, bytes), "cudaMalloc (scratch)");
      size_ = bytes;
    }
    return ptr_;
  }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    check(cudaSetDevice(device_), "cudaSetDevice");
    check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    check(cublasCreate(&blas_), "cublasCreate");
    check(cublasSetStream(blas_, stream_), "cublasSetStream");
    check(cusolverDnCreate(&solver_), "cusolverDnCreate");
    check(cusolverDnSetStream(solver_, stream_), "cusolverDnSetStream");
  }
  ~CudaBackend() override {
    cusolverDnDestroy(solver_);
    cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
  }

  DeviceKind kind() const override { return DeviceKind::cuda; }
  std::string name() const override { return fmt::format("cuda:{}", device_); }
  std::string description() const override {
    cudaDeviceProp p{};
    check(cudaGetDeviceProperties(&p, device_), "cudaGetDeviceProperties");
    return fmt::format("{}, sm_{}{}, {:.0f} GiB", p.name, p.major, p.minor, static_cast<double>(p.totalGlobalMem) / (1u << 30));
  }
  DeviceMemory memory() const override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    size_t free = 0, total = 0;
    check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
    return {total, free};
  }
  void synchronize() override { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

 protected:
  std::unique_ptr<DeviceBuffer::Storage> allocate(int64_t rows, int64_t cols) override {
    check(cudaSetDevice(device_), "cudaSetDevice");
    return std::make_unique<CudaStorage>(rows * cols);
  }
  void write(DeviceBuffer& dst, const float* host) override {
    check(cudaMemcpyAsync(dst.data(), host, bytes(dst), cudaMemcpyHostToDevice, stream_), "cudaMemcpy (upload)");
    synchronize();  // the host memory may be freed as soon as upload returns
  }
  void read(const DeviceBuffer& src, float* host) override {
    check(cudaMemcpyAsync(host, src.data(), bytes(src), cudaMemcpyDeviceToHost, stream_), "cudaMemcpy (download)");
    synchronize();
  }

  void gemm_impl(const DeviceBuffer& a, bool ta, const DeviceBuffer& b, bool tb, float alpha, float beta, DeviceBuffer& c,
                 Precision p) override {
    const int m = dim(c.rows()), n = dim(c.cols()), k = dim(ta ? a.rows() : a.cols());
    const void* ad = a.data();
    const void* bd = b.data();
    cudaDataType_t type = CUDA_R_32F;
    cublasComputeType_t compute = p == Precision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    if ((p == Precision::fp16 || p == Precision::bf16) && a.size() > 0 && b.size() > 0) {  // round copies; accumulate in fp32
      type = p == Precision::fp16 ? CUDA_R_16F : CUDA_R_16BF;
      auto round = p == Precision::fp16 ? cuda::round_to_fp16 : cuda::round_to_bf16;
      void* a16 = scratch_a_.get(2 * static_cast<size_t>(a.size()));
      void* b16 = scratch_b_.get(2 * static_cast<size_t>(b.size()));
      check(round(a.data(), a16, a.size(), stream_), "round_to_16bit");
      check(round(b.data(), b16, b.size(), stream_), "round_to_16bit");
      ad = a16;
      bd = b16;
    }
    check(cublasGemmEx(blas_, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, bd, type,
                       dim(b.cols()), ad, type, dim(a.cols()), &beta, c.data(), CUDA_R_32F, n, compute, CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx");
  }
  void syrk_accumulate_impl(const DeviceBuffer& x, float scale, DeviceBuffer& h) override {
    const float one = 1.0f;
    const int n = dim(x.cols());
    check(cublasSsyrk(blas_, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, n, dim(x.rows()), &scale, x.data(), n, &one, h.data(), n),
          "cublasSsyrk");
  }
  void rms_norm_impl(const DeviceBuffer& x, const DeviceBuffer& w, float eps, DeviceBuffer& out) override {
    check(cuda::rms_norm(x.data(), w.data(), eps, out.data(), x.rows(), x.cols(), stream_), "rms_norm kernel");
  }
  void layer_norm_impl(const DeviceBuffer& x, const DeviceBuffer& w, const DeviceBuffer& bias, float eps,
                       DeviceBuffer& out) override {
    check(cuda::layer_norm(x.data(), w.data(), bias.empty() ? nullptr : bias.data(), eps, out.data(), x.rows(), x.cols(), stream_),
          "layer_norm kernel");
  }
  void rope_impl(DeviceBuffer& x, int64_t n_heads, int64_t head_dim, int64_t pos0, const std::vector<float>& inv_freq) override {
    const size_t n = sizeof(float) * inv_freq.size();
    float* freq = static_cast<float*>(scratch_a_.get(n));
    check(cudaMemcpyAsync(freq, inv_freq.data(), n, cudaMemcpyHostToDevice, stream_), "cudaMemcpy (rope frequencies)");
    check(cuda::rope(x.data(), x.rows(), n_heads, head_dim, pos0, nullptr, freq, stream_), "rope kernel");
    synchronize();  // inv_freq (host) must outlive the copy
  }
  void rope_at_impl(DeviceBuffer& x, int64_t n_heads, int64_t head_dim, const std::vector<int32_t>& pos,
                    const std::vector<float>& inv_freq) override {
    float* freq = static_cast<float*>(scratch_a_.get(sizeof(float) * inv_freq.size()));
    check(cudaMemcpyAsync(freq, inv_freq.data(), sizeof(float) * inv_freq.size(), cudaMemcpyHostToDevice, stream_), "cudaMemcpy (rope frequencies)");
    const int32_t* pos_d = upload_ints(pos, static_cast<int32_t*>(scratch_layout_.get(sizeof(int32_t) * pos.size())));
    check(cuda::rope(x.data(), x.rows(), n_heads, head_dim, 0, pos_d, freq, stream_), "rope kernel");
    synchronize();  // the host vectors must outlive the copies
  }
  void packed_attention_impl(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v, int64_t n_heads,
                             int64_t n_kv_heads, int64_t head_dim, const PackedLayout& layout, DeviceBuffer& out) override {
    const size_t t = layout.tree_start.size();
    auto* ints = static_cast<int32_t*>(scratch_layout_.get(2 * sizeof(int32_t) * t));  // one allocation for both
    const int32_t* start = upload_ints(layout.tree_start, ints);
    const int32_t* end = upload_ints(layout.subtree_end, ints + t);
    check(cuda::causal_attention(q.data(), k.data(), v.data(), out.data(), q.rows(), n_heads, n_kv_heads, head_dim, 0, start, end,
                                 stream_),
          "packed attention kernel");
    synchronize();
  }
  // Attention as GEMMs, as the CPU tiles it: per chunk of query rows, the scores of every head
  // (cuBLAS, one strided-batched call per kv head: its query heads share K), a causal softmax
  // kernel, then P·V (again per kv head). Chunks keep the score slab within 256 MiB; a chunk
  // ending at row r1 reads keys [0, pos0 + r1) only.
  void causal_attention_impl(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v, int64_t n_heads,
                             int64_t n_kv_heads, int64_t head_dim, int64_t pos0, DeviceBuffer& out) override {
    const int64_t n_q = q.rows(), group = n_heads / n_kv_heads, q_ld = q.cols(), kv_ld = k.cols();
    const int64_t max_keys = pos0 + n_q;
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(n_q, (int64_t{1} << 26) / (n_heads * max_keys)));
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim)), one = 1.0f, zero = 0.0f;
    float* scores = static_cast<float*>(scratch_b_.get(sizeof(float) * static_cast<size_t>(n_heads * chunk * max_keys)));
    for (int64_t r0 = 0; r0 < n_q; r0 += chunk) {
      const int64_t rows = std::min(chunk, n_q - r0), keys = pos0 + r0 + rows;
      for (int64_t kvh = 0; kvh < n_kv_heads; ++kvh) {  // Sᵀ = K·Qᵀ (column-major), for the group's heads
        check(cublasSgemmStridedBatched(blas_, CUBLAS_OP_T, CUBLAS_OP_N, dim(keys), dim(rows), dim(head_dim), &scale,
                                        k.data() + kvh * head_dim, dim(kv_ld), 0, q.data() + r0 * q_ld + kvh * group * head_dim,
                                        dim(q_ld), head_dim, &zero, scores + kvh * group * rows * keys, dim(keys), rows * keys,
                                        dim(group)),
              "cublasSgemmStridedBatched (scores)");
      }
      check(cuda::causal_softmax(scores, n_heads, rows, keys, pos0 + r0 + 1, stream_), "causal_softmax kernel");
      for (int64_t kvh = 0; kvh < n_kv_heads; ++kvh) {  // Outᵀ = Vᵀ·Pᵀ
        check(cublasSgemmStridedBatched(blas_, CUBLAS_OP_N, CUBLAS_OP_N, dim(head_dim), dim(rows), dim(keys), &one,
                                        v.data() + kvh * head_dim, dim(kv_ld), 0, scores + kvh * group * rows * keys, dim(keys),
                                        rows * keys, &zero, out.data() + r0 * q_ld + kvh * group * head_dim, dim(q_ld), head_dim,
                                        dim(group)),
              "cublasSgemmStridedBatched (P·V)");
      }
    }
  }
  // The Sylvester part in shared memory (one thread block per row and base index), then the
  // base's mixing X ← H_baseᵀ·X of every row as one strided-batched GEMM into scratch.
  void hadamard_impl(DeviceBuffer& x, const HadamardPlan& plan) override {
    if (plan.pow2 > (int64_t{1} << 14))
      fail("hadamard on {}: a Sylvester block of {} is beyond the kernel's 2^14 (one block in shared memory)", name(), plan.pow2);
    const float norm = 1.0f / std::sqrt(static_cast<float>(plan.pow2));
    check(cuda::fwht_blocks(x.data(), x.rows() * plan.base, plan.pow2, norm, stream_), "fwht kernel");
    if (plan.base == 1) return;
    const int64_t base = plan.base, pow2 = plan.pow2;
    auto* h = static_cast<float*>(scratch_layout_.get(sizeof(float) * static_cast<size_t>(base * base)));
    check(cudaMemcpyAsync(h, plan.base_matrix.data(), sizeof(float) * base * base, cudaMemcpyHostToDevice, stream_), "cudaMemcpy (base)");
    auto* y = static_cast<float*>(scratch_b_.get(sizeof(float) * static_cast<size_t>(x.size())));
    const float one = 1.0f, zero = 0.0f;
    // Per row: Yᵀ = Xᵀ·H_base in column-major terms (X row-major base × pow2).
    check(cublasSgemmStridedBatched(blas_, CUBLAS_OP_N, CUBLAS_OP_T, dim(pow2), dim(base), dim(base), &one, x.data(), dim(pow2),
                                    plan.n, h, dim(base), 0, &zero, y, dim(pow2), plan.n, dim(x.rows())),
          "cublasSgemmStridedBatched (hadamard base)");
    check(cudaMemcpyAsync(x.data(), y, bytes(x), cudaMemcpyDeviceToDevice, stream_), "cudaMemcpy (hadamard)");
    synchronize();  // plan.base_matrix (host) must outlive the copy
  }
  void silu_mul_impl(DeviceBuffer& a, const DeviceBuffer& gate) override {
    check(cuda::silu_mul(a.data(), gate.data(), a.size(), stream_), "silu_mul kernel");
  }
  void relu_impl(DeviceBuffer& a) override { check(cuda::relu(a.data(), a.size(), stream_), "relu kernel"); }
  void add_impl(DeviceBuffer& x, const DeviceBuffer& y) override {
    check(cuda::add(x.data(), y.data(), x.size(), stream_), "add kernel");
  }
  void add_row_impl(DeviceBuffer& x, const DeviceBuffer& v) override {
    check(cuda::add_row(x.data(), v.data(), x.rows(), x.cols(), stream_), "add_row kernel");
  }
  double squared_distance_impl(const DeviceBuffer& a, const DeviceBuffer* b) override {
    double* sum_d = static_cast<double*>(scratch_info_.get(sizeof(double)));
    check(cuda::squared_distance(a.data(), b ? b->data() : nullptr, a.size(), sum_d, stream_), "squared_distance kernel");
    double sum = 0;
    check(cudaMemcpyAsync(&sum, sum_d, sizeof(double), cudaMemcpyDeviceToHost, stream_), "cudaMemcpy (sum)");
    synchronize();
    return sum;
  }
  void round_to_storage_impl(DeviceBuffer& x, StoragePrecision p) override {
    check(cuda::round_in_place(x.data(), x.size(), p == StoragePrecision::f16, stream_), "round_in_place kernel");
  }
  void copy_impl(const DeviceBuffer& src, DeviceBuffer& dst) override {
    check(cudaMemcpyAsync(dst.data(), src.data(), bytes(src), cudaMemcpyDeviceToDevice, stream_), "cudaMemcpy (copy)");
  }

  void gemm_window_impl(const DeviceBuffer& a, Window wa, bool ta, const DeviceBuffer& b, Window wb, bool tb, float alpha,
                        float beta, DeviceBuffer& c, Window wc) override {
    check(cublasSgemm(blas_, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, dim(wc.cols), dim(wc.rows),
                      dim(ta ? wa.rows : wa.cols), &alpha, at(b, wb), dim(b.cols()), at(a, wa), dim(a.cols()), &beta, at(c, wc),
                      dim(c.cols())),
          "cublasSgemm (window)");
  }
  void gptq_block_impl(const DeviceBuffer& w, const DeviceBuffer& hinv, int64_t i1, int64_t i2, const GptqGrid& g,
                       const DeviceBuffer& col_group, DeviceBuffer& scales, DeviceBuffer& zeros, DeviceBuffer& dequant,
                       DeviceBuffer& codes, DeviceBuffer& err1, DeviceBuffer& loss) override {
    cuda::GptqBlockArgs a{};
    a.w = w.data();
    a.hinv = hinv.data();
    a.col_group = col_group.data();
    a.scales = scales.data();
    a.zeros = zeros.data();
    a.dequant = dequant.data();
    a.codes = codes.data();
    a.err1 = err1.data();
    a.loss = loss.data();
    a.rows = w.rows();
    a.cols = w.cols();
    a.i1 = i1;
    a.i2 = i2;
    a.group_size = g.group_size;
    a.n_groups = scales.cols();
    a.err1_ld = err1.cols();
    a.bits = g.bits;
    a.range = g.range;
    a.sym = g.sym;
    check(cuda::gptq_block(a, stream_), "gptq_block kernel");
  }

  int potrf_impl(DeviceBuffer& a, bool upper) override {
    const int n = dim(a.rows());
    const cublasFillMode_t fill = upper ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
    int lwork = 0;
    check(cusolverDnSpotrf_bufferSize(solver_, fill, n, a.data(), n, &lwork), "cusolverDnSpotrf_bufferSize");
    float* work = static_cast<float*>(scratch_a_.get(sizeof(float) * static_cast<size_t>(lwork)));
    int* info_d = static_cast<int*>(scratch_info_.get(sizeof(int)));
    check(cusolverDnSpotrf(solver_, fill, n, a.data(), n, work, lwork, info_d), "cusolverDnSpotrf");
    const int info = read_info(info_d);
    if (info < 0) fail("potrf: cuSOLVER rejected argument {} ({}×{})", -info, n, n);
    if (info == 0) check(cuda::zero_strict_triangle(a.data(), n, upper, stream_), "zero_strict_triangle kernel");
    return info;  // > 0: the leading minor of that order is not positive definite
  }
  void cholesky_inverse_impl(DeviceBuffer& a, bool upper) override {
    const int n = dim(a.rows());
    const cublasFillMode_t fill = upper ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
    int lwork = 0;
    check(cusolverDnSpotri_bufferSize(solver_, fill, n, a.data(), n, &lwork), "cusolverDnSpotri_bufferSize");
    float* work = static_cast<float*>(scratch_a_.get(sizeof(float) * static_cast<size_t>(lwork)));
    int* info_d = static_cast<int*>(scratch_info_.get(sizeof(int)));
    check(cusolverDnSpotri(solver_, fill, n, a.data(), n, work, lwork, info_d), "cusolverDnSpotri");
    if (const int info = read_info(info_d); info != 0) fail("cholesky_inverse: the factor is singular (cuSOLVER spotri info {})", info);
    check(cuda::mirror_triangle(a.data(), n, upper, stream_), "mirror_triangle kernel");  // spotri fills one triangle
  }
  void trsm_impl(const DeviceBuffer& t, DeviceBuffer& b, bool upper, bool left) override {
    const float one = 1.0f;
    check(cublasStrsm(blas_, left ? CUBLAS_SIDE_RIGHT : CUBLAS_SIDE_LEFT, upper ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER,
                      CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, dim(b.cols()), dim(b.rows()), &one, t.data(), dim(t.cols()), b.data(),
                      dim(b.cols())),
          "cublasStrsm");
  }

 private:
  static float* at(const DeviceBuffer& b, Window w) { return b.data() + w.row * b.cols() + w.col; }
  static size_t bytes(const DeviceBuffer& b) { return sizeof(float) * static_cast<size_t>(b.size()); }
  // cuBLAS and cuSOLVER's legacy API take int dimensions.
  static int dim(int64_t n) {
    if (n > INT32_MAX) fail("CUDA backend: dimension {} exceeds cuBLAS's int range", n);
    return static_cast<int>(n);
  }
  // Host ints to device memory at dst (the caller keeps v alive until it synchronizes).
  const int32_t* upload_ints(const std::vector<int32_t>& v, int32_t* dst) {
    check(cudaMemcpyAsync(dst, v.data(), sizeof(int32_t) * v.size(), cudaMemcpyHostToDevice, stream_), "cudaMemcpy (positions)");
    return dst;
  }
  int read_info(const int* info_d) {
    int info = 0;
    check(cudaMemcpyAsync(&info, info_d, sizeof(int), cudaMemcpyDeviceToHost, stream_), "cudaMemcpy (devInfo)");
    synchronize();
    return info;
  }

  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cusolverDnHandle_t solver_ = nullptr;
  Scratch scratch_a_, scratch_b_, scratch_info_, scratch_layout_;
};

}  // namespace

int cuda_device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e == cudaSuccess ? std::string("cudaGetDeviceCount found 0 devices")
                                     : fmt::format("cudaGetDeviceCount found 0 devices: {}", cudaGetErrorString(e));
    return 0;
  }
  return n;
}

std::unique_ptr<Backend> make_cuda_backend(int device) {
  std::string why;
  const int n = cuda_device_count(&why);
  if (n == 0) fail("--device cuda:{}: no CUDA device visible ({})", device, why);
  if (device < 0 || device >= n) fail("--device cuda:{}: {} CUDA device(s) visible, cuda:0..cuda:{}", device, n, n - 1);
  return std::make_unique<CudaBackend>(device);
}

}  // namespace qlab
