#include "format/packed_linear_formats.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstring>
#include <numeric>

#include "run/code_packing.h"
#include "tensor/half.h"
#include "util/error.h"

namespace qlab {

namespace {

// AWQ-GEMM's nibble k holds output column 8c + kAwqOrder[k] (AutoAWQ gemm.py).
constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

bool is_awq(PackedFormat f) { return f == PackedFormat::awq_gemm; }

// Columns per group as g_idx counts them (the whole row when per-channel).
int64_t group_width(const QuantizedLinear& q, int64_t cols) { return q.group_size > 0 ? q.group_size : cols; }

bool contiguous_groups(const QuantizedLinear& q, int64_t cols) {
  for (int64_t c = 0; c < cols; ++c)
    if (q.g_idx[static_cast<size_t>(c)] != c / group_width(q, cols)) return false;
  return true;
}

// Values per packed word along a dimension: GPTQ packs any width as a b-bit stream, so the
// dimension must end on a word (3 bits: 32 values in 3 words).
int64_t stream_multiple(int32_t bits) { return 32 / std::gcd(32, bits); }

TensorToWrite i32(const std::string& name, std::vector<int64_t> shape, const std::vector<uint32_t>& words) {
  return i32_tensor(name, std::move(shape), reinterpret_cast<const int32_t*>(words.data()));
}

TensorToWrite f16_scales(const std::string& name, const QuantizedLinear& q, int64_t rows) {
  TensorToWrite t{name, Dtype::f16, {q.n_groups, rows}, {}};
  t.bytes.resize(static_cast<size_t>(q.n_groups * rows) * 2);
  for (int64_t g = 0; g < q.n_groups; ++g)
    for (int64_t o = 0; o < rows; ++o) {
      const uint16_t h = f32_to_f16(q.scales(o, g));
      std::memcpy(t.bytes.data() + 2 * (g * rows + o), &h, 2);
    }
  return t;
}

}  // namespace

const char* packed_format_name(PackedFormat f) {
  switch (f) {
    case PackedFormat::gptq_v1: return "gptq";
    case PackedFormat::gptq_v2: return "gptq_v2";
    case PackedFormat::awq_gemm: return "awq";
  }
  return "?";
}

std::string packed_format_problem(const QuantizedLinear& q, int64_t rows, int64_t cols, PackedFormat format) {
  const char* name = is_awq(format) ? "AWQ" : "GPTQ";
  if (!q.codebook.empty()) return fmt::format("it is a {}-bit codebook (NF4, cluster), which {} checkpoints cannot hold", q.bits, name);
  if (!q.sparse.empty()) return fmt::format("it keeps {} weights exact beside the codes, which {} checkpoints cannot hold", q.sparse.size(), name);
  if (is_awq(format) ? q.bits != 4 : (q.bits != 2 && q.bits != 3 && q.bits != 4 && q.bits != 8))
    return fmt::format("it has {}-bit codes; {} checkpoints hold {}", q.bits, name, is_awq(format) ? "4 bits only" : "2, 3, 4 or 8 bits");
  const int64_t along_out = is_awq(format) ? 8 : stream_multiple(q.bits);
  if (is_awq(format) ? false : cols % 32 != 0)
    return fmt::format("its input dimension {} is not a multiple of 32 (codes are packed along it)", cols);
  if (rows % along_out != 0)
    return fmt::format("its output dimension {} is not a multiple of {} (zeros are packed along it)", rows, along_out);
  if (is_awq(format)) {
    if (!contiguous_groups(q, cols)) return "its groups are not contiguous columns (act-order); AWQ checkpoints have no g_idx";
    if (cols % group_width(q, cols) != 0) return fmt::format("its input dimension {} is not a multiple of the group size {}", cols, q.group_size);
  }
  const float max_zero = static_cast<float>((1 << q.bits) - 1);
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t g = 0; g < q.n_groups; ++g) {
      const float z = q.zeros(o, g), s = q.scales(o, g);
      if (z != std::round(z) || z < 0 || z > max_zero)
        return fmt::format("its zero {} (row {}, group {}) is not an integer code 0..{}", z, o, g, max_zero);
      if (format == PackedFormat::gptq_v1 && z == 0)
        return fmt::format("its zero is 0 at row {}, group {}; GPTQ v1 stores z − 1 and cannot hold it (export checkpoint_format gptq_v2)", o, g);
      if (!(std::fabs(s) <= 65504.0f)) return fmt::format("its scale {} (row {}, group {}) is beyond fp16", s, o, g);
    }
  return "";
}

std::vector<TensorToWrite> pack_linear(const QuantizedLinear& q, int64_t rows, int64_t cols, PackedFormat format,
                                       const std::string& prefix) {
  if (const std::string why = packed_format_problem(q, rows, cols, format); !why.empty())
    fail("{}: cannot be written as {}: {}", q.name, packed_format_name(format), why);
  std::vector<TensorToWrite> out;
  const int64_t G = q.n_groups;
  auto code = [&](int64_t o, int64_t i) { return q.codes[static_cast<size_t>(o * cols + i)]; };
  auto zero = [&](int64_t o, int64_t g) { return static_cast<uint32_t>(q.zeros(o, g)); };
  if (is_awq(format)) {
    auto nibbles = [&](int64_t n_rows, auto value) {  // (n_rows, rows/8) words along out
      std::vector<uint32_t> w(static_cast<size_t>(n_rows * rows / 8), 0u);
      for (int64_t r = 0; r < n_rows; ++r)
        for (int64_t c = 0; c < rows / 8; ++c)
          for (int k = 0; k < 8; ++k) w[static_cast<size_t>(r * rows / 8 + c)] |= value(r, 8 * c + kAwqOrder[k]) << (4 * k);
      return w;
    };
    out.push_back(i32(prefix + ".qweight", {cols, rows / 8}, nibbles(cols, [&](int64_t i, int64_t o) { return uint32_t{code(o, i)}; })));
    out.push_back(i32(prefix + ".qzeros", {G, rows / 8}, nibbles(G, [&](int64_t g, int64_t o) { return zero(o, g); })));
    out.push_back(f16_scales(prefix + ".scales", q, rows));
    return out;
  }
  // GPTQ: column o's codes are one b-bit stream over in·b/32 words, stored down column o.
  const int64_t words_in = cols * q.bits / 32, words_out = rows * q.bits / 32;
  std::vector<uint32_t> qweight(static_cast<size_t>(words_in * rows));
  std::vector<uint8_t> column(static_cast<size_t>(cols));
  for (int64_t o = 0; o < rows; ++o) {
    for (int64_t i = 0; i < cols; ++i) column[static_cast<size_t>(i)] = code(o, i);
    const std::vector<uint32_t> w = pack_codes(column, q.bits, q.name);
    for (int64_t k = 0; k < words_in; ++k) qweight[static_cast<size_t>(k * rows + o)] = w[static_cast<size_t>(k)];
  }
  const uint32_t offset = format == PackedFormat::gptq_v1 ? 1 : 0;
  std::vector<uint32_t> qzeros;
  std::vector<uint8_t> zrow(static_cast<size_t>(rows));
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t o = 0; o < rows; ++o) zrow[static_cast<size_t>(o)] = static_cast<uint8_t>(zero(o, g) - offset);
    const std::vector<uint32_t> w = pack_codes(zrow, q.bits, q.name);
    qzeros.insert(qzeros.end(), w.begin(), w.end());
  }
  out.push_back(i32(prefix + ".qweight", {words_in, rows}, qweight));
  out.push_back(i32(prefix + ".qzeros", {G, words_out}, qzeros));
  out.push_back(f16_scales(prefix + ".scales", q, rows));
  out.push_back(i32_tensor(prefix + ".g_idx", {cols}, q.g_idx.data()));
  return out;
}

Matrix exported_weight(const QuantizedLinear& q, int64_t rows, int64_t cols) {
  Matrix w(rows, cols);
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t i = 0; i < cols; ++i) {
      const int64_t g = q.g_idx[static_cast<size_t>(i)];
      const float s = f16_to_f32(f32_to_f16(q.scales(o, g)));
      w(o, i) = s * (static_cast<float>(q.codes[static_cast<size_t>(o * cols + i)]) - q.zeros(o, g));
    }
  return w;
}

namespace {

const SafetensorsFile& tensor_file(const SafetensorsSet& set, const std::string& name, Dtype dtype, const std::vector<int64_t>& shape) {
  if (!set.has(name)) fail("{}: tensor '{}' is missing", set.dir(), name);
  const SafetensorsFile& f = set.file_of(name);
  const TensorInfo& t = f.info(name);
  if (t.dtype != dtype) fail("{}: tensor '{}' has dtype {}, expected {}", f.path(), name, dtype_name(t.dtype), dtype_name(dtype));
  if (t.shape != shape)
    fail("{}: tensor '{}' has shape [{}], expected [{}] for the quantization_config", f.path(), name, fmt::join(t.shape, ", "),
         fmt::join(shape, ", "));
  return f;
}

std::vector<uint32_t> words(const SafetensorsSet& set, const std::string& name, const std::vector<int64_t>& shape) {
  const std::vector<int32_t> v = tensor_file(set, name, Dtype::i32, shape).to_i32(name);
  std::vector<uint32_t> w(v.size());
  std::memcpy(w.data(), v.data(), v.size() * 4);
  return w;
}

}  // namespace

Matrix unpack_linear(const SafetensorsSet& set, const std::string& prefix, int64_t rows, int64_t cols, const PackedGrid& grid) {
  const int32_t b = grid.bits;
  const int64_t width = grid.group_size > 0 ? grid.group_size : cols;
  const int64_t G = (cols + width - 1) / width;
  const std::string scales_name = prefix + ".scales";
  const Matrix scales = tensor_file(set, scales_name, Dtype::f16, {G, rows}).to_matrix(scales_name);
  Matrix w(rows, cols);
  if (is_awq(grid.format)) {
    if (rows % 8 != 0) fail("{}: tensor '{}.qweight': output dimension {} is not a multiple of 8", set.dir(), prefix, rows);
    const std::vector<uint32_t> qw = words(set, prefix + ".qweight", {cols, rows / 8});
    const std::vector<uint32_t> qz = words(set, prefix + ".qzeros", {G, rows / 8});
    auto nibble = [&](const std::vector<uint32_t>& v, int64_t r, int64_t o) {
      static constexpr int kSlot[8] = {0, 4, 1, 5, 2, 6, 3, 7};  // inverse of kAwqOrder
      return static_cast<float>((v[static_cast<size_t>(r * rows / 8 + o / 8)] >> (4 * kSlot[o % 8])) & 15u);
    };
    for (int64_t o = 0; o < rows; ++o)
      for (int64_t i = 0; i < cols; ++i) w(o, i) = scales(i / width, o) * (nibble(qw, i, o) - nibble(qz, i / width, o));
    return w;
  }
  if (cols * b % 32 != 0 || rows * b % 32 != 0)
    fail("{}: tensor '{}.qweight': dimensions {} × {} do not pack into 32-bit words at {} bits", set.dir(), prefix, rows, cols, b);
  const std::vector<uint32_t> qw = words(set, prefix + ".qweight", {cols * b / 32, rows});
  const std::vector<uint32_t> qz = words(set, prefix + ".qzeros", {G, rows * b / 32});
  std::vector<int32_t> g_idx;
  if (set.has(prefix + ".g_idx")) {
    g_idx = tensor_file(set, prefix + ".g_idx", Dtype::i32, {cols}).to_i32(prefix + ".g_idx");
    for (int64_t i = 0; i < cols; ++i)
      if (g_idx[static_cast<size_t>(i)] < 0 || g_idx[static_cast<size_t>(i)] >= G)
        fail("{}: tensor '{}.g_idx' holds {} at column {}, outside 0..{}", set.file_of(prefix + ".g_idx").path(), prefix,
             g_idx[static_cast<size_t>(i)], i, G - 1);
  } else {
    for (int64_t i = 0; i < cols; ++i) g_idx.push_back(static_cast<int32_t>(i / width));
  }
  const float offset = grid.format == PackedFormat::gptq_v1 ? 1.0f : 0.0f;
  std::vector<uint32_t> column(static_cast<size_t>(cols * b / 32));
  const std::string what = fmt::format("{}: tensor '{}'", set.dir(), prefix);
  std::vector<std::vector<uint8_t>> zeros;
  for (int64_t g = 0; g < G; ++g)
    zeros.push_back(unpack_codes(qz.data() + g * rows * b / 32, rows * b / 32, rows, b, what + ".qzeros"));
  for (int64_t o = 0; o < rows; ++o) {
    for (size_t k = 0; k < column.size(); ++k) column[k] = qw[k * static_cast<size_t>(rows) + static_cast<size_t>(o)];
    const std::vector<uint8_t> codes = unpack_codes(column.data(), static_cast<int64_t>(column.size()), cols, b, what + ".qweight");
    for (int64_t i = 0; i < cols; ++i) {
      const int64_t g = g_idx[static_cast<size_t>(i)];
      w(o, i) = scales(g, o) * (static_cast<float>(codes[static_cast<size_t>(i)]) - (zeros[g][static_cast<size_t>(o)] + offset));
    }
  }
  return w;
}

}  // namespace qlab
