#include "run/block_checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include "format/safetensors.h"
#include "run/code_packing.h"
#include "tensor/half.h"
#include "util/error.h"

namespace qlab {

namespace {

bool same_bits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.size()) * sizeof(float)) == 0;
}

// Columns per group as g_idx = column / group_size counts them (the whole row when per-channel).
int64_t group_width(const QuantizedLinear& q, int64_t cols) { return q.group_size > 0 ? q.group_size : cols; }

bool trivial_g_idx(const QuantizedLinear& q, int64_t cols) {
  const int64_t g = group_width(q, cols);
  for (int64_t c = 0; c < cols; ++c)
    if (q.g_idx[static_cast<size_t>(c)] != c / g) return false;
  return true;
}

// fp16 where it reproduces every value (zeros are usually small integers), else f32.
TensorToWrite exact_half_or_f32(const std::string& name, const Matrix& m) {
  TensorToWrite t{name, Dtype::f16, {m.rows(), m.cols()}, {}};
  t.bytes.resize(static_cast<size_t>(m.size()) * 2);
  for (int64_t i = 0; i < m.size(); ++i) {
    const uint16_t h = f32_to_f16(m.data()[i]);
    const float back = f16_to_f32(h);
    if (std::memcmp(&back, m.data() + i, sizeof(float)) != 0) return f32_tensor(name, {m.rows(), m.cols()}, m.data());
    std::memcpy(t.bytes.data() + 2 * i, &h, 2);
  }
  return t;
}

// A codebook whose rows are one level table times a per-row scale (NF4, FP4: levels ×
// absmax), as {levels, scales}; empty when no table reproduces every entry bit for bit.
// Each level is the value most rows agree on for level/scale, scale = the row's largest |entry|.
std::pair<std::vector<float>, std::vector<float>> factor_codebook(const std::vector<float>& codebook, int64_t n_levels) {
  const int64_t n_rows = static_cast<int64_t>(codebook.size()) / n_levels;
  std::vector<float> scales(static_cast<size_t>(n_rows)), levels(static_cast<size_t>(n_levels));
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t k = 0; k < n_levels; ++k)
      scales[r] = std::max(scales[r], std::abs(codebook[static_cast<size_t>(r * n_levels + k)]));
  for (int64_t k = 0; k < n_levels; ++k) {
    std::map<float, int> votes;
    for (int64_t r = 0, seen = 0; r < n_rows && seen < 32; ++r)
      if (scales[r] > 0) {
        ++votes[codebook[static_cast<size_t>(r * n_levels + k)] / scales[r]];
        ++seen;
      }
    if (votes.empty()) return {};
    levels[k] = std::max_element(votes.begin(), votes.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
  }
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t k = 0; k < n_levels; ++k) {
      const float rebuilt = levels[k] * scales[r], stored = codebook[static_cast<size_t>(r * n_levels + k)];
      if (std::memcmp(&rebuilt, &stored, sizeof(float)) != 0) return {};
    }
  return {levels, scales};
}

// The packed tensors of q, or nothing when its weight cannot be rebuilt bit for bit from them.
bool pack_linear(const QuantizedLinear& q, const Linear& l, std::vector<TensorToWrite>& out) {
  const int64_t rows = l.weight.rows(), cols = l.weight.cols();
  if (q.bits < 1 || q.bits > 8 || q.dequant.rows() != rows || q.dequant.cols() != cols ||
      static_cast<int64_t>(q.codes.size()) != rows * cols || static_cast<int64_t>(q.g_idx.size()) != cols ||
      rows * cols > std::numeric_limits<int32_t>::max())
    return false;
  const bool codebook = !q.codebook.empty();
  if (codebook ? static_cast<int64_t>(q.codebook.size()) != rows * q.n_groups * (int64_t(1) << q.bits)
               : (q.scales.rows() != rows || q.scales.cols() != q.n_groups || q.zeros.rows() != rows || q.zeros.cols() != q.n_groups))
    return false;
  if (!same_bits(q.dequantize(), l.weight)) return false;
  const int32_t packing[3] = {q.bits, static_cast<int32_t>(q.n_groups), static_cast<int32_t>(std::min(group_width(q, cols), cols))};
  out.push_back(i32_tensor(l.name + ".packing", {3}, packing));
  const std::vector<uint32_t> words = pack_codes(q.codes, q.bits, l.name);
  out.push_back(i32_tensor(l.name + ".codes", {static_cast<int64_t>(words.size())}, reinterpret_cast<const int32_t*>(words.data())));
  if (codebook) {
    const int64_t n_levels = int64_t(1) << q.bits;
    const auto [levels, scales] = factor_codebook(q.codebook, n_levels);
    if (levels.empty()) {
      out.push_back(f32_tensor(l.name + ".codebook", {rows * q.n_groups, n_levels}, q.codebook.data()));
    } else {
      out.push_back(f32_tensor(l.name + ".levels", {n_levels}, levels.data()));
      out.push_back(f32_tensor(l.name + ".codebook_scales", {rows * q.n_groups}, scales.data()));
    }
  } else {
    out.push_back(exact_half_or_f32(l.name + ".scales", q.scales));
    out.push_back(exact_half_or_f32(l.name + ".zeros", q.zeros));
  }
  if (!trivial_g_idx(q, cols)) out.push_back(i32_tensor(l.name + ".g_idx", {cols}, q.g_idx.data()));
  if (!q.sparse.empty()) {
    std::vector<int32_t> index;
    std::vector<float> value;
    for (const QuantizedLinear::SparseEntry& e : q.sparse) {
      index.push_back(static_cast<int32_t>(e.index));
      value.push_back(e.value);
    }
    const int64_t k = static_cast<int64_t>(q.sparse.size());
    out.push_back(i32_tensor(l.name + ".sparse_index", {k}, index.data()));
    out.push_back(f32_tensor(l.name + ".sparse_value", {k}, value.data()));
  }
  return true;
}

void check_shape(const SafetensorsFile& f, const std::string& name, const std::vector<int64_t>& shape) {
  if (f.info(name).shape != shape)
    fail("{}: tensor '{}' has shape [{}], expected [{}]", f.path(), name, fmt::join(f.info(name).shape, ", "), fmt::join(shape, ", "));
}

// L's packed tensors as the quantizer left them (no dequantized weight).
QuantizedLinear read_packed(const SafetensorsFile& f, const std::string& l, int64_t rows, int64_t cols) {
  check_shape(f, l + ".packing", {3});
  const std::vector<int32_t> packing = f.to_i32(l + ".packing");
  QuantizedLinear q;
  q.name = fmt::format("{}: {}", f.path(), l);
  q.bits = packing[0];
  q.n_groups = packing[1];
  const int64_t width = packing[2];
  q.group_size = width < cols ? static_cast<int32_t>(width) : 0;
  if (q.bits < 1 || q.bits > 8 || q.n_groups < 1 || q.n_groups > cols || width < 1 || width > cols)
    fail("{}: tensor '{}.packing' holds {} bits, {} groups per row and {} columns per group for {} columns", f.path(), l, q.bits,
         q.n_groups, width, cols);
  const std::vector<int32_t> words = f.to_i32(l + ".codes");
  q.codes = unpack_codes(reinterpret_cast<const uint32_t*>(words.data()), static_cast<int64_t>(words.size()), rows * cols, q.bits,
                         fmt::format("{}: tensor '{}.codes'", f.path(), l));
  const int64_t n_levels = int64_t(1) << q.bits;
  if (f.has(l + ".codebook")) {
    check_shape(f, l + ".codebook", {rows * q.n_groups, n_levels});
    const Matrix cb = f.to_matrix(l + ".codebook");
    q.codebook.assign(cb.data(), cb.data() + cb.size());
  } else if (f.has(l + ".levels")) {
    check_shape(f, l + ".levels", {n_levels});
    check_shape(f, l + ".codebook_scales", {rows * q.n_groups});
    const Vector levels = f.to_vector(l + ".levels"), scales = f.to_vector(l + ".codebook_scales");
    for (int64_t r = 0; r < scales.size(); ++r)
      for (int64_t k = 0; k < n_levels; ++k) q.codebook.push_back(levels[k] * scales[r]);
  } else {
    check_shape(f, l + ".scales", {rows, q.n_groups});
    check_shape(f, l + ".zeros", {rows, q.n_groups});
    q.scales = f.to_matrix(l + ".scales");
    q.zeros = f.to_matrix(l + ".zeros");
  }
  if (f.has(l + ".g_idx")) {
    check_shape(f, l + ".g_idx", {cols});
    q.g_idx = f.to_i32(l + ".g_idx");
  } else {
    for (int64_t c = 0; c < cols; ++c) q.g_idx.push_back(static_cast<int32_t>(c / width));
  }
  if (f.has(l + ".sparse_index")) {
    const std::vector<int32_t> index = f.to_i32(l + ".sparse_index");
    const Vector value = f.to_vector(l + ".sparse_value");
    if (static_cast<int64_t>(index.size()) != value.size())
      fail("{}: tensors '{}.sparse_index' and '{}.sparse_value' differ in length", f.path(), l, l);
    for (size_t i = 0; i < index.size(); ++i) {
      if (index[i] < 0 || index[i] >= rows * cols)
        fail("{}: tensor '{}.sparse_index' holds {} outside 0..{}", f.path(), l, index[i], rows * cols - 1);
      q.sparse.push_back({index[i], value[static_cast<int64_t>(i)]});
    }
  }
  return q;
}

// The weight rebuilt from L's packed tensors; `weight` (the float weight, same shape) is reused.
Matrix unpack_linear(const SafetensorsFile& f, const std::string& l, Matrix weight) {
  QuantizedLinear q = read_packed(f, l, weight.rows(), weight.cols());
  q.dequant = std::move(weight);  // dequantize() takes the shape from it
  return q.dequantize();
}

}  // namespace

std::string BlockCheckpoint::file(int64_t block) const {
  return fmt::format("{}.blocks/{}/block_{:04}.safetensors", log_path_, run_id_, block);
}

void BlockCheckpoint::put(const BlockResult& result, const Block& block, const ActivationPlan& act) {
  const std::string path = file(result.block);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) fail("{}: cannot create the checkpoint directory ({})", std::filesystem::path(path).parent_path().string(), ec.message());
  std::vector<TensorToWrite> tensors;
  auto vector = [&](const std::string& name, const Vector& v) {
    if (v.size() > 0) tensors.push_back(f32_tensor(name, {v.size()}, v.data()));
  };
  for (const Linear* l : block.linears()) {
    const QuantizedLinear* q = nullptr;
    for (const QuantizedLinear& candidate : result.quantized)
      if (candidate.name == l->name) q = &candidate;
    if (!q || !pack_linear(*q, *l, tensors))
      tensors.push_back(f32_tensor(l->name, {l->weight.rows(), l->weight.cols()}, l->weight.data()));
    vector(l->name + ".bias", l->bias);
    if (auto it = act.input_absmax.find(l->name); it != act.input_absmax.end())
      tensors.push_back(f32_tensor(l->name + ".input_absmax", {1}, &it->second));
  }
  for (const Norm* n : {&block.attn_norm, &block.mlp_norm}) {
    vector(n->name + ".weight", n->weight);
    vector(n->name + ".bias", n->bias);
  }
  write_safetensors(path, tensors);
}

void BlockCheckpoint::restore(int64_t index, Block& block, ActivationPlan& act) const {
  const std::string path = file(index);
  if (!std::filesystem::exists(path))
    fail("{}: --resume: the finished block's weights are missing; start the run afresh without --resume", path);
  auto f = SafetensorsFile::open(path);
  auto vector = [&](const std::string& name, Vector& v) {
    if (v.size() > 0) {
      check_shape(*f, name, {v.size()});
      v = f->to_vector(name);
    }
  };
  for (Linear* l : block.linears()) {
    if (f->has(l->name + ".packing")) {
      l->weight = unpack_linear(*f, l->name, std::move(l->weight));
    } else {
      check_shape(*f, l->name, {l->weight.rows(), l->weight.cols()});
      l->weight = f->to_matrix(l->name);
    }
    vector(l->name + ".bias", l->bias);
    if (f->has(l->name + ".input_absmax")) act.input_absmax[l->name] = f->to_matrix(l->name + ".input_absmax")(0, 0);
  }
  for (Norm* n : {&block.attn_norm, &block.mlp_norm}) {
    vector(n->name + ".weight", n->weight);
    vector(n->name + ".bias", n->bias);
  }
}

std::vector<QuantizedLinear> BlockCheckpoint::read_quantized(int64_t index, const Block& block) const {
  const std::string path = file(index);
  if (!std::filesystem::exists(path)) fail("{}: the block's packed weights are missing", path);
  auto f = SafetensorsFile::open(path);
  std::vector<QuantizedLinear> out;
  for (const Linear* l : block.linears())
    if (f->has(l->name + ".packing")) {
      out.push_back(read_packed(*f, l->name, l->weight.rows(), l->weight.cols()));
      out.back().name = l->name;
    }
  return out;
}

}  // namespace qlab
