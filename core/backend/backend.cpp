#include "backend/backend.h"

#include <initializer_list>

#include "util/error.h"

namespace qlab {

DeviceBuffer::DeviceBuffer(Backend* owner, int64_t rows, int64_t cols, std::unique_ptr<Storage> storage)
    : owner_(owner), rows_(rows), cols_(cols), storage_(std::move(storage)) {}

void DeviceBuffer::upload(const Matrix& host) {
  if (host.rows() != rows_ || host.cols() != cols_)
    fail("upload: host matrix is {}×{}, buffer is {}×{}", host.rows(), host.cols(), rows_, cols_);
  if (!empty()) owner_->write(*this, host.data());
}

void DeviceBuffer::reshape(int64_t rows, int64_t cols) {
  if (rows * cols != size()) fail("reshape: a {}×{} buffer cannot be read as {}×{}", rows_, cols_, rows, cols);
  rows_ = rows;
  cols_ = cols;
  if (storage_) storage_->reshape(rows, cols);
}

Matrix DeviceBuffer::download() const {
  Matrix host(rows_, cols_);
  if (!empty()) owner_->read(*this, host.data());
  return host;
}

DeviceBuffer Backend::alloc(int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0) fail("{}: cannot allocate a {}×{} buffer", name(), rows, cols);
  return DeviceBuffer(this, rows, cols, allocate(rows, cols));
}

DeviceBuffer Backend::upload(const Matrix& host) {
  DeviceBuffer b = alloc(host.rows(), host.cols());
  b.upload(host);
  return b;
}

namespace {
// A buffer another backend owns would be read as the wrong kind of memory.
void check_owner(const Backend* backend, const char* op, const DeviceBuffer& b) {
  if (b.backend() != backend && !(b.empty() && b.backend() == nullptr))
    fail("{}: a buffer of {} passed to {}", op, b.backend() ? b.backend()->name() : "no backend", backend->name());
}

void check_shape(const char* op, const char* what, const DeviceBuffer& b, int64_t rows, int64_t cols) {
  if (b.rows() != rows || b.cols() != cols) fail("{}: {} is {}×{}, expected {}×{}", op, what, b.rows(), b.cols(), rows, cols);
}

void check_row_vector(const char* op, const char* what, const DeviceBuffer& b, int64_t n) { check_shape(op, what, b, 1, n); }

void check_heads(const char* op, int64_t n_heads, int64_t head_dim) {
  if (n_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0) fail("{}: {} heads of width {} (positive, even width)", op, n_heads, head_dim);
}
}  // namespace

void Backend::gemm(const DeviceBuffer& a, bool trans_a, const DeviceBuffer& b, bool trans_b, float alpha, float beta,
                   DeviceBuffer& c, Precision precision) {
  for (const DeviceBuffer* x : std::initializer_list<const DeviceBuffer*>{&a, &b, &c}) check_owner(this, "gemm", *x);
  const int64_t m = trans_a ? a.cols() : a.rows(), k = trans_a ? a.rows() : a.cols();
  const int64_t kb = trans_b ? b.cols() : b.rows(), n = trans_b ? b.rows() : b.cols();
  if (k != kb) fail("gemm: op(a) is {}×{}, op(b) is {}×{}", m, k, kb, n);
  check_shape("gemm", "c", c, m, n);
  if (c.empty()) return;
  gemm_impl(a, trans_a, b, trans_b, alpha, beta, c, precision);
}

void Backend::syrk_accumulate(const DeviceBuffer& x, float scale, DeviceBuffer& h) {
  check_owner(this, "syrk_accumulate", x);
  check_owner(this, "syrk_accumulate", h);
  check_shape("syrk_accumulate", "h", h, x.cols(), x.cols());
  if (x.empty()) return;
  syrk_accumulate_impl(x, scale, h);
}

void Backend::rms_norm(const DeviceBuffer& x, const DeviceBuffer& weight, float eps, DeviceBuffer& out) {
  for (const DeviceBuffer* b : std::initializer_list<const DeviceBuffer*>{&x, &weight, &out}) check_owner(this, "rms_norm", *b);
  check_row_vector("rms_norm", "weight", weight, x.cols());
  check_shape("rms_norm", "out", out, x.rows(), x.cols());
  if (x.empty()) return;
  rms_norm_impl(x, weight, eps, out);
}

void Backend::layer_norm(const DeviceBuffer& x, const DeviceBuffer& weight, const DeviceBuffer& bias, float eps,
                         DeviceBuffer& out) {
  for (const DeviceBuffer* b : std::initializer_list<const DeviceBuffer*>{&x, &weight, &bias, &out}) check_owner(this, "layer_norm", *b);
  check_row_vector("layer_norm", "weight", weight, x.cols());
  if (!bias.empty()) check_row_vector("layer_norm", "bias", bias, x.cols());
  check_shape("layer_norm", "out", out, x.rows(), x.cols());
  if (x.empty()) return;
  layer_norm_impl(x, weight, bias, eps, out);
}

void Backend::rope(DeviceBuffer& x, int64_t n_heads, int64_t head_dim, int64_t pos0, const std::vector<float>& inv_freq) {
  check_owner(this, "rope", x);
  check_heads("rope", n_heads, head_dim);
  if (x.cols() != n_heads * head_dim) fail("rope: x has {} columns, {} heads of {} need {}", x.cols(), n_heads, head_dim, n_heads * head_dim);
  if (static_cast<int64_t>(inv_freq.size()) != head_dim / 2) fail("rope: {} frequencies for head_dim {}", inv_freq.size(), head_dim);
  if (pos0 < 0) fail("rope: negative start position {}", pos0);
  if (x.empty()) return;
  rope_impl(x, n_heads, head_dim, pos0, inv_freq);
}

void Backend::rope(DeviceBuffer& x, int64_t n_heads, int64_t head_dim, const std::vector<int32_t>& pos,
                   const std::vector<float>& inv_freq) {
  check_owner(this, "rope", x);
  check_heads("rope", n_heads, head_dim);
  if (x.cols() != n_heads * head_dim) fail("rope: x has {} columns, {} heads of {} need {}", x.cols(), n_heads, head_dim, n_heads * head_dim);
  if (static_cast<int64_t>(inv_freq.size()) != head_dim / 2) fail("rope: {} frequencies for head_dim {}", inv_freq.size(), head_dim);
  if (static_cast<int64_t>(pos.size()) != x.rows()) fail("rope: {} positions for {} rows", pos.size(), x.rows());
  if (x.empty()) return;
  rope_at_impl(x, n_heads, head_dim, pos, inv_freq);
}

void Backend::packed_attention(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v, int64_t n_heads,
                               int64_t n_kv_heads, int64_t head_dim, const PackedLayout& layout, DeviceBuffer& out) {
  for (const DeviceBuffer* b : std::initializer_list<const DeviceBuffer*>{&q, &k, &v, &out}) check_owner(this, "packed_attention", *b);
  check_heads("packed_attention", n_heads, head_dim);
  if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0) fail("packed_attention: {} heads do not share {} kv heads evenly", n_heads, n_kv_heads);
  const int64_t t = layout.rows();
  if (static_cast<int64_t>(layout.tree_start.size()) != t || static_cast<int64_t>(layout.subtree_end.size()) != t)
    fail("packed_attention: a layout of {} positions, {} tree starts and {} subtree ends", t, layout.tree_start.size(), layout.subtree_end.size());
  check_shape("packed_attention", "q", q, t, n_heads * head_dim);
  check_shape("packed_attention", "k", k, t, n_kv_heads * head_dim);
  check_shape("packed_attention", "v", v, t, n_kv_heads * head_dim);
  check_shape("packed_attention", "out", out, t, n_heads * head_dim);
  if (q.empty()) return;
  packed_attention_impl(q, k, v, n_heads, n_kv_heads, head_dim, layout, out);
}

void Backend::causal_attention(const DeviceBuffer& q, const DeviceBuffer& k, const DeviceBuffer& v, int64_t n_heads,
                               int64_t n_kv_heads, int64_t head_dim, int64_t pos0, DeviceBuffer& out) {
  for (const DeviceBuffer* b : std::initializer_list<const DeviceBuffer*>{&q, &k, &v, &out}) check_owner(this, "causal_attention", *b);
  check_heads("causal_attention", n_heads, head_dim);
  if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0) fail("causal_attention: {} heads do not share {} kv heads evenly", n_heads, n_kv_heads);
  if (pos0 < 0) fail("causal_attention: negative start position {}", pos0);
  check_shape("causal_attention", "q", q, q.rows(), n_heads * head_dim);
  if (k.rows() < pos0 + q.rows()) fail("causal_attention: k holds {} positions, queries reach {}", k.rows(), pos0 + q.rows());
  check_shape("causal_attention", "k", k, k.rows(), n_kv_heads * head_dim);
  check_shape("causal_attention", "v", v, k.rows(), n_kv_heads * head_dim);
  check_shape("causal_attention", "out", out, q.rows(), n_heads * head_dim);
  if (q.empty()) return;
  causal_attention_impl(q, k, v, n_heads, n_kv_heads, head_dim, pos0, out);
}

void Backend::hadamard(DeviceBuffer& x, const HadamardPlan& plan) {
  check_owner(this, "hadamard", x);
  if (x.cols() != plan.n) fail("hadamard: rows of width {}, the transform is {} wide", x.cols(), plan.n);
  if (x.empty()) return;
  hadamard_impl(x, plan);
}

void Backend::silu_mul(DeviceBuffer& a, const DeviceBuffer& gate) {
  check_owner(this, "silu_mul", a);
  check_owner(this, "silu_mul", gate);
  check_shape("silu_mul", "gate", gate, a.rows(), a.cols());
  if (a.empty()) return;
  silu_mul_impl(a, gate);
}

void Backend::relu(DeviceBuffer& a) {
  check_owner(this, "relu", a);
  if (a.empty()) return;
  relu_impl(a);
}

void Backend::add(DeviceBuffer& x, const DeviceBuffer& y) {
  check_owner(this, "add", x);
  check_owner(this, "add", y);
  check_shape("add", "y", y, x.rows(), x.cols());
  if (x.empty()) return;
  add_impl(x, y);
}

void Backend::add_row(DeviceBuffer& x, const DeviceBuffer& v) {
  check_owner(this, "add_row", x);
  check_owner(this, "add_row", v);
  check_row_vector("add_row", "v", v, x.cols());
  if (x.empty()) return;
  add_row_impl(x, v);
}

void Backend::copy(const DeviceBuffer& src, DeviceBuffer& dst) {
  check_owner(this, "copy", src);
  check_owner(this, "copy", dst);
  check_shape("copy", "dst", dst, src.rows(), src.cols());
  if (src.empty()) return;
  copy_impl(src, dst);
}

double Backend::squared_distance(const DeviceBuffer& a, const DeviceBuffer& b) {
  check_owner(this, "squared_distance", a);
  check_owner(this, "squared_distance", b);
  check_shape("squared_distance", "b", b, a.rows(), a.cols());
  return a.empty() ? 0.0 : squared_distance_impl(a, &b);
}

double Backend::squared_norm(const DeviceBuffer& a) {
  check_owner(this, "squared_norm", a);
  return a.empty() ? 0.0 : squared_distance_impl(a, nullptr);
}

void Backend::round_to_storage(DeviceBuffer& x, StoragePrecision p) {
  check_owner(this, "round_to_storage", x);
  if (x.empty() || p == StoragePrecision::f32) return;
  round_to_storage_impl(x, p);
}

namespace {
void check_window(const char* op, const char* what, const DeviceBuffer& b, Window w) {
  if (w.row < 0 || w.col < 0 || w.rows < 0 || w.cols < 0 || w.row + w.rows > b.rows() || w.col + w.cols > b.cols())
    fail("{}: window {}×{} at ({}, {}) of {} is outside its {}×{}", op, w.rows, w.cols, w.row, w.col, what, b.rows(), b.cols());
}
}  // namespace

void Backend::gemm_window(const DeviceBuffer& a, Window wa, bool trans_a, const DeviceBuffer& b, Window wb, bool trans_b,
                          float alpha, float beta, DeviceBuffer& c, Window wc) {
  for (const DeviceBuffer* x : std::initializer_list<const DeviceBuffer*>{&a, &b, &c}) check_owner(this, "gemm_window", *x);
  check_window("gemm_window", "a", a, wa);
  check_window("gemm_window", "b", b, wb);
  check_window("gemm_window", "c", c, wc);
  const int64_t m = trans_a ? wa.cols : wa.rows, k = trans_a ? wa.rows : wa.cols;
  const int64_t kb = trans_b ? wb.cols : wb.rows, n = trans_b ? wb.rows : wb.cols;
  if (k != kb) fail("gemm_window: op(a) is {}×{}, op(b) is {}×{}", m, k, kb, n);
  if (wc.rows != m || wc.cols != n) fail("gemm_window: c's window is {}×{}, expected {}×{}", wc.rows, wc.cols, m, n);
  if (m == 0 || n == 0) return;
  gemm_window_impl(a, wa, trans_a, b, wb, trans_b, alpha, beta, c, wc);
}

void Backend::gptq_block(const DeviceBuffer& w, const DeviceBuffer& hinv, int64_t i1, int64_t i2, const GptqGrid& grid,
                         const DeviceBuffer& col_group, DeviceBuffer& scales, DeviceBuffer& zeros, DeviceBuffer& dequant,
                         DeviceBuffer& codes, DeviceBuffer& err1, DeviceBuffer& loss) {
  for (const DeviceBuffer* x : std::initializer_list<const DeviceBuffer*>{&w, &hinv, &col_group, &scales, &zeros, &dequant, &codes, &err1, &loss})
    check_owner(this, "gptq_block", *x);
  const int64_t rows = w.rows(), cols = w.cols();
  if (i1 < 0 || i2 <= i1 || i2 > cols) fail("gptq_block: block [{}, {}) of {} columns", i1, i2, cols);
  if (i2 - i1 > kGptqBlockMaxColumns) fail("gptq_block: block of {} columns, at most {}", i2 - i1, kGptqBlockMaxColumns);
  if (grid.bits < 2 || grid.bits > 8) fail("gptq_block: {} bits (2..8)", grid.bits);
  if (grid.group_size < 0) fail("gptq_block: group size {}", grid.group_size);
  check_shape("gptq_block", "hinv", hinv, cols, cols);
  check_shape("gptq_block", "dequant", dequant, rows, cols);
  check_shape("gptq_block", "codes", codes, rows, cols);
  check_shape("gptq_block", "loss", loss, rows, 1);
  if (err1.rows() != rows || err1.cols() < i2 - i1) fail("gptq_block: err1 is {}×{}, needs {}×{}", err1.rows(), err1.cols(), rows, i2 - i1);
  if (grid.group_size > 0) {
    if (!col_group.empty()) fail("gptq_block: column groups given with group size {} (groups fitted in the loop)", grid.group_size);
    const int64_t n_groups = (cols + grid.group_size - 1) / grid.group_size;
    check_shape("gptq_block", "scales", scales, rows, n_groups);
  } else {
    check_row_vector("gptq_block", "col_group", col_group, cols);
    if (scales.rows() != rows || scales.cols() < 1) fail("gptq_block: scales is {}×{} for {} rows", scales.rows(), scales.cols(), rows);
  }
  check_shape("gptq_block", "zeros", zeros, scales.rows(), scales.cols());
  if (rows == 0) return;
  gptq_block_impl(w, hinv, i1, i2, grid, col_group, scales, zeros, dequant, codes, err1, loss);
}

int Backend::potrf(DeviceBuffer& a, bool upper) {
  check_owner(this, "potrf", a);
  check_shape("potrf", "a", a, a.rows(), a.rows());
  if (a.empty()) return 0;
  return potrf_impl(a, upper);
}

void Backend::cholesky_inverse(DeviceBuffer& a, bool upper) {
  check_owner(this, "cholesky_inverse", a);
  check_shape("cholesky_inverse", "a", a, a.rows(), a.rows());
  if (a.empty()) return;
  cholesky_inverse_impl(a, upper);
}

void Backend::trsm(const DeviceBuffer& t, DeviceBuffer& b, bool upper, bool left) {
  check_owner(this, "trsm", t);
  check_owner(this, "trsm", b);
  check_shape("trsm", "t", t, left ? b.rows() : b.cols(), left ? b.rows() : b.cols());
  if (b.empty()) return;
  trsm_impl(t, b, upper, left);
}

}  // namespace qlab
