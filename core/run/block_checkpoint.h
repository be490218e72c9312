// The packed block checkpoint, a BlockSink: each finished block as the walk left it, in
// LOG.blocks/<run>/block_NNNN.safetensors, so `--resume` restores the finished blocks bit
// for bit and evaluation reads the quantized model one block at a time (PackedBlockSource).
//
// Per quantized linear L (a uniform grid or a codebook, with its sparse part):
//   L.packing       i32 [3]            bits, groups per row, columns per group
//   L.codes         i32 [words]        out × in codes, row-major, packed (run/code_packing.h)
//   L.scales        f16|f32 [out, groups]  uniform grid: weight = scales·(code − zeros)
//   L.zeros         f16|f32 [out, groups]
//   L.codebook      f32 [out · groups, 2^bits]  codebook: weight = codebook[row · groups + group, code]
//   or, when every codebook row is one level table times a scale (NF4, FP4: levels × absmax),
//   L.levels        f32 [2^bits] and L.codebook_scales f32 [out · groups]: codebook = levels · scale
//   L.g_idx         i32 [in]           only when not column / group_size
//   L.sparse_index, L.sparse_value     i32, f32 [k]: weights kept exact (row · in + column)
// scales and zeros are fp16 only where fp16 holds every value exactly. A linear is packed only
// when the rebuilt weight (QuantizedLinear::dequantize) equals the walked one bit for bit;
// otherwise, and for linears the plan keeps float, it is stored as L, f32 [out, in].
// Beside them, as float32: L.bias, L.input_absmax (static activation ranges) and the norms
// (which scaling transforms fold into).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "walk/block_sink.h"

namespace qlab {

class BlockCheckpoint : public BlockSink {
 public:
  BlockCheckpoint(std::string log_path, std::string run_id) : log_path_(std::move(log_path)), run_id_(std::move(run_id)) {}
  std::string file(int64_t block) const;  // LOG.blocks/<run>/block_NNNN.safetensors
  void put(const BlockResult& result, const Block& block, const ActivationPlan& act) override;
  // Overwrites `block` (a float block of the same layout) with the saved one and adds its
  // ranges to `act`; throws naming the file (and the tensor) when it is missing or corrupt.
  void restore(int64_t index, Block& block, ActivationPlan& act) const;
  // The packed linears of block `index` as the quantizer left them (codes, scales and zeros
  // or codebook, g_idx, sparse part; no dequantized weight), for `block`'s shapes; linears
  // stored float are absent.
  std::vector<QuantizedLinear> read_quantized(int64_t index, const Block& block) const;

 private:
  std::string log_path_, run_id_;
};

}  // namespace qlab
