// Residency as IST-DASLab/gptq keeps it: the activations between blocks on the GPU while they
// fit the device budget (--max-device-memory), the rest in the host store (memory, then a
// spill file). Resident segments are float32 rounded to the store's precision, so a segment
// reads the same wherever it lives. get/set work for every segment (host consumers: AWQ's
// search, statistics); device consumers use on_device(), which copies only what is not resident.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "tensor/activation_store.h"

namespace qlab {

// Device bytes a run may use: max_device_memory when set, else 90% of what the device has
// free. Fails when `needed` (one block's weights and one segment's work space) does not fit,
// naming both numbers and the --max-device-memory flag.
uint64_t device_memory_budget(const Backend& backend, uint64_t max_device_memory, double needed, const std::string& what);

class DeviceActivationStore final : public ActivationStore {
 public:
  DeviceActivationStore(Backend& backend, uint64_t device_bytes, StoragePrecision precision, int64_t n_segments,
                        int64_t max_rows, int64_t cols, uint64_t memory_bytes, const std::string& spill_parent);

  void set(size_t i, const Matrix& x) override;
  Matrix get(size_t i) const override;
  // fn on segment i in the backend's memory; with write_back, what fn leaves is stored.
  void on_device(size_t i, const std::function<void(DeviceBuffer&)>& fn, bool write_back);
  // fn on segment i in the backend's memory, read only.
  void read_on_device(size_t i, const std::function<void(const DeviceBuffer&)>& fn) const;
  int64_t resident_segments() const { return static_cast<int64_t>(device_.size()); }
  Backend& backend() const { return *backend_; }

 private:
  Backend* backend_;
  std::vector<DeviceBuffer> device_;  // segments 0..resident−1
};

}  // namespace qlab
