#include "backend/device_activation_store.h"

#include <algorithm>

#include "util/error.h"

namespace qlab {

uint64_t device_memory_budget(const Backend& backend, uint64_t max_device_memory, double needed, const std::string& what) {
  const DeviceMemory m = backend.memory();
  const uint64_t budget = max_device_memory > 0 ? max_device_memory : m.free_bytes / 10 * 9;
  const auto mib = [](double b) { return b / (1 << 20); };
  if (static_cast<double>(budget) < needed)
    fail("{} on {}: {:.1f} MiB of device memory is needed (one block's weights and one segment's work space), {} gives "
         "{:.1f} MiB ({:.1f} MiB free of {:.1f} MiB): raise --max-device-memory or use a larger GPU",
         what, backend.name(), mib(needed), max_device_memory > 0 ? "--max-device-memory" : "90% of the free memory",
         mib(static_cast<double>(budget)), mib(static_cast<double>(m.free_bytes)), mib(static_cast<double>(m.total_bytes)));
  return budget;
}

namespace {
int64_t resident_count(uint64_t device_bytes, int64_t n_segments, int64_t max_rows, int64_t cols) {
  const uint64_t one = ActivationStore::segment_bytes(StoragePrecision::f32, max_rows, cols);
  return one == 0 ? n_segments : std::min<int64_t>(n_segments, static_cast<int64_t>(device_bytes / one));
}
}  // namespace

// The host store is sized for every segment but receives only the non-resident ones, so its
// memory budget grows by the resident slots it never fills.
DeviceActivationStore::DeviceActivationStore(Backend& backend, uint64_t device_bytes, StoragePrecision precision,
                                             int64_t n_segments, int64_t max_rows, int64_t cols, uint64_t memory_bytes,
                                             const std::string& spill_parent)
    : ActivationStore(precision, n_segments, max_rows, cols,
                      memory_bytes + segment_bytes(precision, max_rows, cols) *
                                         static_cast<uint64_t>(resident_count(device_bytes, n_segments, max_rows, cols)),
                      spill_parent),
      backend_(&backend) {
  device_.resize(static_cast<size_t>(resident_count(device_bytes, n_segments, max_rows, cols)));
}

void DeviceActivationStore::set(size_t i, const Matrix& x) {
  if (i >= device_.size()) return ActivationStore::set(i, x);
  if (device_[i].rows() != x.rows() || device_[i].cols() != x.cols()) device_[i] = backend_->alloc(x.rows(), x.cols());
  device_[i].upload(x);
  backend_->round_to_storage(device_[i], precision());
}

Matrix DeviceActivationStore::get(size_t i) const {
  if (i >= device_.size()) return ActivationStore::get(i);
  return device_[i].download();
}

void DeviceActivationStore::on_device(size_t i, const std::function<void(DeviceBuffer&)>& fn, bool write_back) {
  if (i < device_.size()) {
    fn(device_[i]);
    if (write_back) backend_->round_to_storage(device_[i], precision());
    return;
  }
  DeviceBuffer x = backend_->upload(ActivationStore::get(i));
  fn(x);
  if (write_back) ActivationStore::set(i, x.download());
}

}  // namespace qlab

namespace qlab {

void DeviceActivationStore::read_on_device(size_t i, const std::function<void(const DeviceBuffer&)>& fn) const {
  if (i < device_.size()) return fn(device_[i]);
  fn(backend_->upload(ActivationStore::get(i)));
}

}  // namespace qlab
