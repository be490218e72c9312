// How GPTQ and AWQ-GEMM checkpoints hold one quantized linear W[out][in] = s·(q − z)
// (../shared/reference/export-formats.md §1–2, read from AutoGPTQ, GPTQModel and AutoAWQ):
//   GPTQ  P.qweight i32 (in·b/32, out)  codes packed along in, one little-endian b-bit stream per column
//         P.qzeros  i32 (G, out·b/32)   zeros packed along out; v1 ("gptq") stores z − 1, v2 stores z
//         P.scales  f16 (G, out)        P.g_idx i32 (in): the group of each input column
//   AWQ   P.qweight i32 (in, out/8)     4-bit codes packed along out, column 8c + [0,2,4,6,1,3,5,7][k] in nibble k
//         P.qzeros  i32 (G, out/8)      the same order; P.scales f16 (G, out); groups are contiguous columns
// The writers take qlab's own codes and zeros as they are (no re-rounding) and round the
// scales to fp16, the only dtype the consumers read; the readers rebuild W in float32.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/safetensors.h"
#include "tensor/tensor.h"
#include "walk/quantized_linear.h"

namespace qlab {

enum class PackedFormat { gptq_v1, gptq_v2, awq_gemm };
const char* packed_format_name(PackedFormat f);  // "gptq", "gptq_v2", "awq"

// What decoding needs beside the tensors: the checkpoint's quantization_config.
struct PackedGrid {
  PackedFormat format = PackedFormat::gptq_v1;
  int32_t bits = 4;
  int64_t group_size = 128;  // −1: one group per row
};

// Why q cannot be written in `format` ("", when it can): a codebook, a sparse part, a width
// the format lacks, an input or output dimension the packing cannot split, act-order in AWQ,
// a zero of 0 in GPTQ v1 (it stores z − 1), a scale beyond fp16.
std::string packed_format_problem(const QuantizedLinear& q, int64_t rows, int64_t cols, PackedFormat format);

// The tensors `prefix`.qweight, .qzeros, .scales (and .g_idx for GPTQ); throws naming
// `prefix` with packed_format_problem's reason.
std::vector<TensorToWrite> pack_linear(const QuantizedLinear& q, int64_t rows, int64_t cols, PackedFormat format,
                                       const std::string& prefix);

// The weight q's export decodes to: fp16(s)·(q − z) through g_idx.
Matrix exported_weight(const QuantizedLinear& q, int64_t rows, int64_t cols);

// W (rows × cols) rebuilt from `prefix`.qweight … in `set`; throws naming the file and the
// tensor when one is missing, shaped or typed otherwise than `grid` implies, or a g_idx is
// out of range.
Matrix unpack_linear(const SafetensorsSet& set, const std::string& prefix, int64_t rows, int64_t cols, const PackedGrid& grid);

}  // namespace qlab
