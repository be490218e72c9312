// ggml tensor types and the block codecs of the three that qlab's grids map onto exactly
// (ggml/src/ggml-common.h, ggml-quants.c). A block holds 32 consecutive values of a row:
//   Q4_0: f16 d; u8 qs[16]          value j in the low nibble of qs[j], value j+16 in the high
//                                   nibble (not byte-sequential pairs); x = d·(q − 8)
//   Q4_1: f16 d; f16 m; u8 qs[16]   same nibbles; x = d·q + m
//   Q8_0: f16 d; i8 qs[32]          x = d·q
// The exporter packs qlab's own scales (already fp16) and codes with the pack_* functions, so
// nothing is rounded twice; quantize_row_* reproduce ggml's *_ref quantizers bit for bit for
// weights that have no qlab codes (--allow-requantize). This file is compiled without
// floating-point contraction so x·id + 8.5 rounds twice, as in ggml's own (baseline x86) build.
#pragma once
#include <cstddef>
#include <cstdint>

namespace qlab {

// Ids are ggml's (ggml.h enum ggml_type); the values are what a GGUF tensor info holds.
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 8, BF16 = 30 };

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;
  int64_t block_size;   // values per block (1 for the float types)
  uint64_t block_bytes;  // bytes per block
};
// The row for a type id, or nullptr when qlab does not know the id.
const GgmlTypeInfo* find_ggml_type(uint32_t id);
const GgmlTypeInfo& ggml_type_info(GgmlType type);
const char* ggml_type_name(GgmlType type);
// Bytes of n values (n a multiple of the block size).
uint64_t ggml_row_bytes(GgmlType type, int64_t n);

constexpr int kGgmlBlock = 32;  // QK4_0 = QK4_1 = QK8_0
constexpr size_t kQ4_0Bytes = 18, kQ4_1Bytes = 20, kQ8_0Bytes = 34;

// One block from fp16 bit patterns and 32 integer codes, stored as given (codes 0..15 for
// the 4-bit types). Returns the bytes written to out.
size_t pack_q4_0_block(uint16_t d, const uint8_t* codes, uint8_t* out);
size_t pack_q4_1_block(uint16_t d, uint16_t m, const uint8_t* codes, uint8_t* out);
size_t pack_q8_0_block(uint16_t d, const int8_t* codes, uint8_t* out);

// n values (a multiple of 32) of a row of blocks into y.
void dequantize_row_q4_0(const uint8_t* x, float* y, int64_t n);
void dequantize_row_q4_1(const uint8_t* x, float* y, int64_t n);
void dequantize_row_q8_0(const uint8_t* x, float* y, int64_t n);
// Any type of the table: F32, F16, BF16 are converted, block types dequantized.
void dequantize_row(GgmlType type, const uint8_t* x, float* y, int64_t n);

// ggml's reference quantizers (quantize_row_<t>_ref): n values (a multiple of 32) of x into
// blocks at y. Returns the bytes written.
size_t quantize_row_q4_0(const float* x, uint8_t* y, int64_t n);
size_t quantize_row_q4_1(const float* x, uint8_t* y, int64_t n);
size_t quantize_row_q8_0(const float* x, uint8_t* y, int64_t n);

}  // namespace qlab
