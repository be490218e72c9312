// llama2.c checkpoints: a header of 7 int32 (dim, hidden_dim, n_layers, n_heads,
// n_kv_heads, vocab_size, seq_len; vocab_size < 0 means an unshared classifier), then
// float32 tensors in llama2.c's export order. q/k rows are stored for interleaved RoPE;
// the loader permutes them to the Hugging Face rotate-half layout the runtime uses, so
// both loaders give one model.
#pragma once
#include <filesystem>
#include <memory>

#include "model/model.h"
#include "model/weight_source.h"

namespace qlab {

Model load_llama2c(const std::filesystem::path& path);
// The checkpoint as a llama-family source: header and size checked at open, one block read
// (by seeking) per load_block call.
std::unique_ptr<WeightSource> open_llama2c(const std::filesystem::path& path);

// Row permutation from llama2.c's interleaved RoPE pairs (2j, 2j+1) to rotate-half pairs
// (j, j + hd/2), applied per head: out row h·hd + j ← in row h·hd + 2j, h·hd + hd/2 + j ←
// h·hd + 2j + 1. The inverse writes a Hugging Face q/k back in llama2.c order.
Matrix interleaved_to_half(const Matrix& w, int64_t n_heads, int64_t head_dim);
Matrix half_to_interleaved(const Matrix& w, int64_t n_heads, int64_t head_dim);

}  // namespace qlab
