#include "format/ggml_blocks.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "tensor/half.h"
#include "util/error.h"

namespace qlab {

namespace {
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {GgmlType::F32, "F32", 1, 4},   {GgmlType::F16, "F16", 1, 2},           {GgmlType::Q4_0, "Q4_0", 32, kQ4_0Bytes},
    {GgmlType::Q4_1, "Q4_1", 32, kQ4_1Bytes}, {GgmlType::Q8_0, "Q8_0", 32, kQ8_0Bytes}, {GgmlType::BF16, "BF16", 1, 2},
};

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

void require_whole_blocks(const char* what, int64_t n) {
  if (n < 0 || n % kGgmlBlock != 0) fail("{}: {} values are not a whole number of {}-value blocks", what, n, kGgmlBlock);
}

void require_nibbles(const char* what, const uint8_t* codes) {
  for (int j = 0; j < kGgmlBlock; ++j)
    if (codes[j] > 15) fail("{} block: code {} at position {} is outside 0..15", what, codes[j], j);
}

// Non-finite input has no defined code (ggml's float → int8 cast is undefined there).
void require_finite(const char* what, const float* x, int64_t n) {
  const long long i = first_non_finite(x, n);
  if (i >= 0) fail("{}: value {} at position {} is not finite", what, x[i], i);
}

void pack_nibbles(const uint8_t* codes, uint8_t* qs) {
  for (int j = 0; j < kGgmlBlock / 2; ++j) qs[j] = static_cast<uint8_t>(codes[j] | (codes[j + kGgmlBlock / 2] << 4));
}
}  // namespace

const GgmlTypeInfo* find_ggml_type(uint32_t id) {
  for (const GgmlTypeInfo& t : kGgmlTypes)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

const GgmlTypeInfo& ggml_type_info(GgmlType type) {
  const GgmlTypeInfo* t = find_ggml_type(static_cast<uint32_t>(type));
  if (!t) fail("ggml type id {} is not one qlab knows", static_cast<uint32_t>(type));
  return *t;
}

const char* ggml_type_name(GgmlType type) {
  const GgmlTypeInfo* t = find_ggml_type(static_cast<uint32_t>(type));
  return t ? t->name : "?";
}

uint64_t ggml_row_bytes(GgmlType type, int64_t n) {
  const GgmlTypeInfo& t = ggml_type_info(type);
  return static_cast<uint64_t>(n / t.block_size) * t.block_bytes;
}

size_t pack_q4_0_block(uint16_t d, const uint8_t* codes, uint8_t* out) {
  require_nibbles("Q4_0", codes);
  store_u16(out, d);
  pack_nibbles(codes, out + 2);
  return kQ4_0Bytes;
}

size_t pack_q4_1_block(uint16_t d, uint16_t m, const uint8_t* codes, uint8_t* out) {
  require_nibbles("Q4_1", codes);
  store_u16(out, d);
  store_u16(out + 2, m);
  pack_nibbles(codes, out + 4);
  return kQ4_1Bytes;
}

size_t pack_q8_0_block(uint16_t d, const int8_t* codes, uint8_t* out) {
  store_u16(out, d);
  std::memcpy(out + 2, codes, kGgmlBlock);
  return kQ8_0Bytes;
}

void dequantize_row_q4_0(const uint8_t* x, float* y, int64_t n) {
  require_whole_blocks("Q4_0", n);
  for (int64_t b = 0; b < n / kGgmlBlock; ++b, x += kQ4_0Bytes, y += kGgmlBlock) {
    const float d = f16_to_f32(load_u16(x));
    for (int j = 0; j < kGgmlBlock / 2; ++j) {
      y[j] = static_cast<float>((x[2 + j] & 0x0f) - 8) * d;
      y[j + kGgmlBlock / 2] = static_cast<float>((x[2 + j] >> 4) - 8) * d;
    }
  }
}

void dequantize_row_q4_1(const uint8_t* x, float* y, int64_t n) {
  require_whole_blocks("Q4_1", n);
  for (int64_t b = 0; b < n / kGgmlBlock; ++b, x += kQ4_1Bytes, y += kGgmlBlock) {
    const float d = f16_to_f32(load_u16(x)), m = f16_to_f32(load_u16(x + 2));
    for (int j = 0; j < kGgmlBlock / 2; ++j) {
      y[j] = static_cast<float>(x[4 + j] & 0x0f) * d + m;
      y[j + kGgmlBlock / 2] = static_cast<float>(x[4 + j] >> 4) * d + m;
    }
  }
}

void dequantize_row_q8_0(const uint8_t* x, float* y, int64_t n) {
  require_whole_blocks("Q8_0", n);
  for (int64_t b = 0; b < n / kGgmlBlock; ++b, x += kQ8_0Bytes, y += kGgmlBlock) {
    const float d = f16_to_f32(load_u16(x));
    for (int j = 0; j < kGgmlBlock; ++j) y[j] = static_cast<float>(static_cast<int8_t>(x[2 + j])) * d;
  }
}

void dequantize_row(GgmlType type, const uint8_t* x, float* y, int64_t n) {
  switch (type) {
    case GgmlType::F32:
      std::memcpy(y, x, static_cast<size_t>(n) * 4);
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) y[i] = f16_to_f32(load_u16(x + 2 * i));
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(load_u16(x + 2 * i));
      return;
    case GgmlType::Q4_0: return dequantize_row_q4_0(x, y, n);
    case GgmlType::Q4_1: return dequantize_row_q4_1(x, y, n);
    case GgmlType::Q8_0: return dequantize_row_q8_0(x, y, n);
  }
  fail("ggml type id {} cannot be dequantized", static_cast<uint32_t>(type));
}

// The three quantizers follow ggml's *_ref line for line: the same float operations in the
// same order (d = max / −8, id = 1/d, x·id + 8.5 truncated), so the bytes are ggml's.
size_t quantize_row_q4_0(const float* x, uint8_t* y, int64_t n) {
  require_whole_blocks("Q4_0", n);
  require_finite("Q4_0", x, n);
  for (int64_t b = 0; b < n / kGgmlBlock; ++b, x += kGgmlBlock, y += kQ4_0Bytes) {
    float amax = 0.0f, max = 0.0f;  // the value of largest magnitude, keeping its sign
    for (int j = 0; j < kGgmlBlock; ++j)
      if (amax < std::fabs(x[j])) amax = std::fabs(x[j]), max = x[j];
    const float d = max / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t codes[kGgmlBlock];
    for (int j = 0; j < kGgmlBlock; ++j) {
      const float v = x[j] * id;
      codes[j] = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(v + 8.5f))));
    }
    pack_q4_0_block(f32_to_f16(d), codes, y);
  }
  return static_cast<size_t>(n / kGgmlBlock) * kQ4_0Bytes;
}

size_t quantize_row_q4_1(const float* x, uint8_t* y, int64_t n) {
  require_whole_blocks("Q4_1", n);
  require_finite("Q4_1", x, n);
  for (int64_t b = 0; b < n / kGgmlBlock; ++b, x += kGgmlBlock, y += kQ4_1Bytes) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kGgmlBlock; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / ((1 << 4) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t codes[kGgmlBlock];
    for (int j = 0; j < kGgmlBlock; ++j) {
      const float v = (x[j] - min) * id;
      codes[j] = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(v + 0.5f))));
    }
    pack_q4_1_block(f32_to_f16(d), f32_to_f16(min), codes, y);
  }
  return static_cast<size_t>(n / kGgmlBlock) * kQ4_1Bytes;
}

size_t quantize_row_q8_0(const float* x, uint8_t* y, int64_t n) {
  require_whole_blocks("Q8_0", n);
  require_finite("Q8_0", x, n);
  for (int64_t b = 0; b < n / kGgmlBlock; ++b, x += kGgmlBlock, y += kQ8_0Bytes) {
    float amax = 0.0f;
    for (int j = 0; j < kGgmlBlock; ++j) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);  // ggml's MAX(a, b)
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int8_t codes[kGgmlBlock];
    for (int j = 0; j < kGgmlBlock; ++j) codes[j] = static_cast<int8_t>(std::round(x[j] * id));
    pack_q8_0_block(f32_to_f16(d), codes, y);
  }
  return static_cast<size_t>(n / kGgmlBlock) * kQ8_0Bytes;
}

}  // namespace qlab
