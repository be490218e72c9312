// A block on a compute backend: its weights uploaded once, its forward pass written only in
// the seam's ops (backend/backend.h), so the same code runs on the GPU and, in the tests, on
// the CPU backend against block_forward(). Activations stay where the backend keeps them;
// only a per-tensor activation quantizer takes a (logged) host round trip.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "backend/backend.h"
#include "forward/activation_quant.h"
#include "model/model.h"

namespace qlab {

struct DeviceLinear {
  const Linear* host = nullptr;
  DeviceBuffer weight, bias;  // bias empty when the linear has none
};

struct DeviceNorm {
  DeviceBuffer weight, bias;
};

class DeviceBlock {
 public:
  DeviceBlock(Backend& backend, const Block& block);  // uploads every tensor the block has
  Backend& backend() const { return *backend_; }
  const Block& host() const { return *host_; }
  const DeviceLinear& linear(Slot slot) const;
  const DeviceNorm& norm(Slot slot) const;
  // Device bytes of one block's weights: what residency must leave room for.
  static double bytes(const Block& block);

 private:
  Backend* backend_;
  const Block* host_;
  std::map<Slot, DeviceNorm> norms_;
  std::map<Slot, DeviceLinear> linears_;
};

// Device bytes one forward of `tokens` rows allocates beside x (norm output, q/k/v, attention,
// the MLP's up/gate, the CUDA backend's attention scores and 16-bit GEMM copies): what the
// residency budget reserves.
double device_forward_work_bytes(const ModelConfig& config, int64_t tokens);

// Called with each linear's input, on the device, just before the linear runs.
using DeviceInputHook = std::function<void(const Linear& linear, const DeviceBuffer& input)>;

// x (T×dim, on the block's backend) ← block(x) at positions 0..T−1, as block_forward() without
// a cache: every family's table row (norm kind, pre/post-norm, q/k norms, RoPE or learned
// positions, SwiGLU or ReLU). With `act`, every linear's input is fake-quantized as it says;
// with `packed`, rows are prefix trees as that layout says (zero-shot scoring).
void device_block_forward(const DeviceBlock& block, const ModelConfig& config, DeviceBuffer& x,
                          const DeviceInputHook* hook = nullptr, const ActivationPlan* act = nullptr,
                          const PackedLayout* packed = nullptr);

}  // namespace qlab
