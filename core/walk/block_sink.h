// Where the walker's product goes, one finished block at a time: its QuantizedLinears
// (codes, scales, zeros, g_idx, codebook, sparse part), its log rows, what the walker
// executed, and the block itself as evaluation runs it (dequantized weights, norms and
// biases with the transforms' scales folded in) with its static activation ranges. The
// resume checkpoint is one sink (run/block_checkpoint.h); exporters will be others.
#pragma once
#include <functional>
#include <vector>

#include "forward/activation_quant.h"
#include "log/experiment_log.h"
#include "model/model.h"
#include "plan/layer_plan.h"
#include "walk/quantized_linear.h"

namespace qlab {

struct BlockResult {
  int block = 0;
  std::vector<LinearRow> linears;
  BlockRow row;
  std::vector<QuantizedLinear> quantized;
  BlockPlan executed;  // formats handed to the quantizer, stages run, groups offered
};

class BlockSink {
 public:
  virtual ~BlockSink() = default;
  // `act` holds the static ranges of this block's linears (and of the blocks before it).
  virtual void put(const BlockResult& result, const Block& block, const ActivationPlan& act) = 0;
};

// A sink from a function (tests, benchmarks).
class CallbackSink : public BlockSink {
 public:
  using Callback = std::function<void(const BlockResult&, const Block&, const ActivationPlan&)>;
  explicit CallbackSink(Callback f) : f_(std::move(f)) {}
  void put(const BlockResult& r, const Block& b, const ActivationPlan& act) override { f_(r, b, act); }

 private:
  Callback f_;
};

}  // namespace qlab
