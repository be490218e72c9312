// The compute seam (after ggml-backend: a buffer type plus ops). A backend owns buffers in its
// own memory (host for the CPU, device for CUDA) and runs the forward pass's and the GPTQ
// solve's ops on them, so data crosses to the host only when asked (upload/download). The
// CPU backend is today's OpenBLAS/Eigen/LAPACK code and the reference: every other backend
// matches it within the tolerance tests/test_backend.cpp states per op.
//
// Layout is the runtime's: float32, row-major, dense (leading dimension = cols). Shapes are
// checked here, once for every backend, and a mismatch fails naming the op.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "forward/packed_attention.h"
#include "tensor/hadamard.h"
#include "tensor/half.h"
#include "tensor/tensor.h"
#include "util/name_table.h"

namespace qlab {

enum class DeviceKind { cpu, cuda };
inline constexpr NameTable<DeviceKind, 2> kDeviceKinds{{{{DeviceKind::cpu, "cpu"}, {DeviceKind::cuda, "cuda"}}}};

// GEMM input precision. fp16/bf16: inputs rounded to that type, products accumulated in
// fp32 (tensor cores); tf32: inputs rounded to a 10-bit mantissa, fp32 accumulation. Opt-in,
// because each changes results beyond fp32 rounding: the log must say which was used.
enum class Precision { fp32, tf32, fp16, bf16 };
inline constexpr NameTable<Precision, 4> kPrecisions{
    {{{Precision::fp32, "fp32"}, {Precision::tf32, "tf32"}, {Precision::fp16, "fp16"}, {Precision::bf16, "bf16"}}}};

class Backend;

// A rows × cols sub-block of a buffer from (row, col); its leading dimension is the buffer's
// cols, so ops on windows need no copies.
struct Window {
  int64_t row = 0, col = 0, rows = 0, cols = 0;
};

// GPTQ's grid for gptq_block: the format of qlab_format (uniform grid, grid.hpp's math).
struct GptqGrid {
  int32_t bits = 4;
  bool sym = false;
  int32_t range = 0;       // qlab_range
  int64_t group_size = 0;  // contiguous groups fitted in the loop; 0: parameters given per column
};

// gptq_block's columns: at most a warp's 32 lanes × 4 registers on CUDA, where the block's
// H⁻¹ (64 KiB) sits in shared memory. GPTQ's default block is 128.
inline constexpr int64_t kGptqBlockMaxColumns = 128;

// A rows × cols float matrix in a backend's memory. Move-only; freed by its backend. data()
// is a device address on a GPU backend: only that backend's ops may dereference it.
class DeviceBuffer {
 public:
  // Each backend's own memory behind the buffer (a host Matrix, a cudaMalloc'd block).
  class Storage {
   public:
    virtual ~Storage() = default;
    virtual float* data() = 0;
    virtual void reshape(int64_t /*rows*/, int64_t /*cols*/) {}
  };

  DeviceBuffer() = default;
  DeviceBuffer(Backend* owner, int64_t rows, int64_t cols, std::unique_ptr<Storage> storage);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t size() const { return rows_ * cols_; }
  bool empty() const { return size() == 0; }
  Backend* backend() const { return owner_; }
  Storage* storage() const { return storage_.get(); }
  float* data() const { return storage_ ? storage_->data() : nullptr; }
  // The same elements read as rows × cols (row-major, so nothing moves): per-head views.
  void reshape(int64_t rows, int64_t cols);

  // Host ↔ buffer; the host matrix must have the buffer's shape.
  void upload(const Matrix& host);
  Matrix download() const;

 private:
  Backend* owner_ = nullptr;
  int64_t rows_ = 0, cols_ = 0;
  std::unique_ptr<Storage> storage_;
};

struct DeviceMemory {
  uint64_t total_bytes = 0, free_bytes = 0;
};

// Public ops check shapes and ownership, then call the backend's *_impl. Vectors (norm
// weights, biases) are 1 × n buffers; an empty bias means none.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceKind kind() const = 0;
  virtual std::string name() const = 0;         // "cpu", "cuda:0": what --device names
  virtual std::string description() const = 0;  // the hardware, for the log
  virtual DeviceMemory memory() const = 0;

  // The input precision of the forward pass's linears (--gemm-precision); attention, SYRK and
  // the GPTQ solve stay fp32.
  Precision linear_precision() const { return linear_precision_; }
  void set_linear_precision(Precision p) { linear_precision_ = p; }

  DeviceBuffer alloc(int64_t rows, int64_t cols);  // contents undefined
  DeviceBuffer upload(const Matrix& host);
  // Blocks until every op issued so far has finished (asynchronous backends only).
  virtual void synchronize() {}

  // c = alpha·op(a)·op(b) + beta·c, op = transpose when trans_* is set.
  void gemm(const DeviceBuffer& a, bool trans_a, const DeviceBuffer& b, bool trans_b, float alpha, float beta,
            DeviceBuffer& c, Precision precision = Precision::fp32);
  // The Hessian sum: h += scale·xᵀx for x tokens × n. Only h's upper triangle (j ≥ i) is
  // written, half the FLOPs per batch; potrf(upper) reads only that triangle.
  void syrk_accumulate(const DeviceBuffer& x, float scale, DeviceBuffer& h);

  // out = x / rms(x) · weight, row by row.
  void rms_norm(const DeviceBuffer& x, const DeviceBuffer& weight, float eps, DeviceBuffer& out);
  // out = (x − mean) / sqrt(var + eps) · weight + bias, row by row.
  void layer_norm(const DeviceBuffer& x, const DeviceBuffer& weight, const DeviceBuffer& bias, float eps,
                  DeviceBuffer& out);
  // Rotate-half RoPE in place, row r at position pos0 + r; inv_freq from rope_inv_freq().
  void rope(DeviceBuffer& x, int64_t n_heads, int64_t head_dim, int64_t pos0, const std::vector<float>& inv_freq);
  // The same with row r at position pos[r] (packed prefix trees).
  void rope(DeviceBuffer& x, int64_t n_heads, int64_t head_dim, const std::vector<int32_t>& pos, const std::vector<float>& inv_freq);
  // Attention of rows packed as prefix trees, as packed_attention() in forward/packed_attention.h.
  void packed_attention(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v, int64_t n_heads, int64_t n_kv_heads,
                        int64_t head_dim, const PackedLayout& layout, DeviceBuffer& out);
  // Causal grouped-query attention, as causal_attention() in forward/block_forward.h: q holds
  // T rows at positions pos0.., k and v hold positions 0..pos0+T−1.
  void causal_attention(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v, int64_t n_heads,
                        int64_t n_kv_heads, int64_t head_dim, int64_t pos0, DeviceBuffer& out);
  // Every row ← row·H for the plan's Hadamard matrix (tensor/hadamard.h), in O(n·(log n + base)).
  void hadamard(DeviceBuffer& x, const HadamardPlan& plan);
  void silu_mul(DeviceBuffer& a, const DeviceBuffer& gate);  // a *= silu(gate) (SwiGLU)
  void relu(DeviceBuffer& a);
  void add(DeviceBuffer& x, const DeviceBuffer& y);            // x += y (the residual)
  void add_row(DeviceBuffer& x, const DeviceBuffer& v);        // every row of x += v (a bias)
  void copy(const DeviceBuffer& src, DeviceBuffer& dst);       // same shape
  // Σ (a − b)² (the difference in float, the sum in double) and Σ a²: the walker's
  // block-output error; a non-finite value anywhere makes the sum non-finite.
  double squared_distance(const DeviceBuffer& a, const DeviceBuffer& b);
  double squared_norm(const DeviceBuffer& a);
  // Every value rounded to p and back (nearest even), as a host ActivationStore stores it.
  void round_to_storage(DeviceBuffer& x, StoragePrecision p);

  // c[wc] = alpha·op(a[wa])·op(b[wb]) + beta·c[wc] on windows (fp32): GPTQ's lazy update
  // W[:, i2:] −= Err1 · Hinv[i1:i2, i2:] in place.
  void gemm_window(const DeviceBuffer& a, Window wa, bool trans_a, const DeviceBuffer& b, Window wb, bool trans_b,
                   float alpha, float beta, DeviceBuffer& c, Window wc);

  // GPTQ's column loop over the lazy block [i1, i2) of every row (rows are independent in a
  // block), as IST-DASLab/gptq's fasterquant: column i is coded with its group's parameters,
  // its error e = (w − q) / hinv(i, i) goes to err1(r, i − i1) and updates the block's later
  // columns (w −= e · hinv(i, j)), and Σ (w − q)² / hinv(i, i)² / 2 (in double) is added to
  // loss(r, 0). w (rows × cols) is read, not written: a group starting in the block is fitted on
  // w as it stands (the reference: without the block's pending in-block updates), the block's
  // own columns updated in a copy. hinv: the upper Cholesky factor of H⁻¹ (cols × cols).
  // Parameters: with grid.group_size > 0, group c / group_size of column c, fitted at its first
  // column into scales/zeros (rows × groups), read there by later blocks; with 0, column c's
  // parameters are given at scales/zeros(r, col_group(0, c)) (per-row, static groups).
  // col_group: 1 × cols group indices as floats (exact below 2²⁴), empty with group_size > 0.
  // Out: dequant and codes (rows × cols, codes as floats) for the block's columns, err1 (rows ×
  // at least i2 − i1, columns from 0). i2 − i1 ≤ kGptqBlockMaxColumns.
  void gptq_block(const DeviceBuffer& w, const DeviceBuffer& hinv, int64_t i1, int64_t i2, const GptqGrid& grid,
                  const DeviceBuffer& col_group, DeviceBuffer& scales, DeviceBuffer& zeros, DeviceBuffer& dequant,
                  DeviceBuffer& codes, DeviceBuffer& err1, DeviceBuffer& loss);

  // In-place Cholesky factor (upper: a = UᵀU, else LLᵀ), the other triangle zeroed. Returns
  // 0, or 1 + the failing column when a is not positive definite (as qlab_linalg's potrf), so
  // callers can dampen and retry.
  int potrf(DeviceBuffer& a, bool upper);
  // In place: from a Cholesky factor, the full symmetric inverse of the factored matrix.
  void cholesky_inverse(DeviceBuffer& a, bool upper);
  // b ← t⁻¹·b (left) or b·t⁻¹ (right) for triangular t.
  void trsm(const DeviceBuffer& t, DeviceBuffer& b, bool upper, bool left);

 protected:
  friend class DeviceBuffer;
  Precision linear_precision_ = Precision::fp32;
  virtual std::unique_ptr<DeviceBuffer::Storage> allocate(int64_t rows, int64_t cols) = 0;
  virtual void write(DeviceBuffer& dst, const float* host) = 0;
  virtual void read(const DeviceBuffer& src, float* host) = 0;

  virtual void gemm_impl(const DeviceBuffer& a, bool trans_a, const DeviceBuffer& b, bool trans_b, float alpha,
                         float beta, DeviceBuffer& c, Precision precision) = 0;
  virtual void syrk_accumulate_impl(const DeviceBuffer& x, float scale, DeviceBuffer& h) = 0;
  virtual void rms_norm_impl(const DeviceBuffer& x, const DeviceBuffer& weight, float eps, DeviceBuffer& out) = 0;
  virtual void layer_norm_impl(const DeviceBuffer& x, const DeviceBuffer& weight, const DeviceBuffer& bias,
                               float eps, DeviceBuffer& out) = 0;
  virtual void rope_impl(DeviceBuffer& x, int64_t n_heads, int64_t head_dim, int64_t pos0,
                         const std::vector<float>& inv_freq) = 0;
  virtual void rope_at_impl(DeviceBuffer& x, int64_t n_heads, int64_t head_dim, const std::vector<int32_t>& pos,
                            const std::vector<float>& inv_freq) = 0;
  virtual void packed_attention_impl(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v, int64_t n_heads,
                                     int64_t n_kv_heads, int64_t head_dim, const PackedLayout& layout, DeviceBuffer& out) = 0;
  virtual void causal_attention_impl(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v,
                                     int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t pos0,
                                     DeviceBuffer& out) = 0;
  virtual void hadamard_impl(DeviceBuffer& x, const HadamardPlan& plan) = 0;
  virtual void silu_mul_impl(DeviceBuffer& a, const DeviceBuffer& gate) = 0;
  virtual void relu_impl(DeviceBuffer& a) = 0;
  virtual void add_impl(DeviceBuffer& x, const DeviceBuffer& y) = 0;
  virtual void add_row_impl(DeviceBuffer& x, const DeviceBuffer& v) = 0;
  virtual void copy_impl(const DeviceBuffer& src, DeviceBuffer& dst) = 0;
  virtual double squared_distance_impl(const DeviceBuffer& a, const DeviceBuffer* b) = 0;  // b null: Σ a²
  virtual void round_to_storage_impl(DeviceBuffer& x, StoragePrecision p) = 0;
  virtual void gemm_window_impl(const DeviceBuffer& a, Window wa, bool trans_a, const DeviceBuffer& b, Window wb,
                                bool trans_b, float alpha, float beta, DeviceBuffer& c, Window wc) = 0;
  virtual void gptq_block_impl(const DeviceBuffer& w, const DeviceBuffer& hinv, int64_t i1, int64_t i2,
                               const GptqGrid& grid, const DeviceBuffer& col_group, DeviceBuffer& scales,
                               DeviceBuffer& zeros, DeviceBuffer& dequant, DeviceBuffer& codes, DeviceBuffer& err1,
                               DeviceBuffer& loss) = 0;
  virtual int potrf_impl(DeviceBuffer& a, bool upper) = 0;
  virtual void cholesky_inverse_impl(DeviceBuffer& a, bool upper) = 0;
  virtual void trsm_impl(const DeviceBuffer& t, DeviceBuffer& b, bool upper, bool left) = 0;
};

}  // namespace qlab
