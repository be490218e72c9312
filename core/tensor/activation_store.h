// Activations of many segments between two blocks: the calibration inputs the walker
// carries from block to block, and the hidden states of block-major evaluation (all segments
// go through block i before block i+1). Held in float32, fp16 or bf16, in memory while they
// fit `memory_bytes`, otherwise in a spill file of fixed-size slots inside a fresh temporary
// directory (never an existing file), removed when the store is destroyed, also on failure.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/half.h"
#include "tensor/tensor.h"

namespace qlab {

class ActivationStore {
 public:
  // n_segments matrices of at most max_rows × cols; spill_parent: where the spill directory
  // is made (empty: $TMPDIR, else /tmp). Fails before spilling when that file system lacks
  // the space, naming the space needed.
  ActivationStore(StoragePrecision precision, int64_t n_segments, int64_t max_rows, int64_t cols, uint64_t memory_bytes,
                  const std::string& spill_parent);
  virtual ~ActivationStore();
  ActivationStore(const ActivationStore&) = delete;
  ActivationStore& operator=(const ActivationStore&) = delete;

  static uint64_t segment_bytes(StoragePrecision precision, int64_t rows, int64_t cols);
  size_t size() const { return rows_of_.size(); }
  // Virtual: a device store (backend/device_activation_store.h) keeps some segments on a GPU.
  virtual void set(size_t i, const Matrix& x);
  virtual Matrix get(size_t i) const;
  StoragePrecision precision() const { return precision_; }
  bool spilled() const { return fd_ >= 0; }
  const std::string& spill_path() const { return spill_path_; }  // empty while in memory

 private:
  StoragePrecision precision_;
  int64_t max_rows_, cols_;
  uint64_t slot_bytes_;
  std::vector<int64_t> rows_of_;                    // rows of each segment as set
  std::vector<std::vector<unsigned char>> memory_;  // one encoded segment each, when not spilled
  std::string spill_dir_, spill_path_;
  int fd_ = -1;
};

}  // namespace qlab
