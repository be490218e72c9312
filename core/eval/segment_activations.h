// The hidden states of every evaluation segment between two blocks (block-major evaluation:
// all segments go through block i before block i+1). Held in float32, fp16 or bf16, in
// memory while they fit `memory_bytes`, otherwise in a spill file of fixed-size slots inside
// a fresh temporary directory (never an existing file), removed when the store is destroyed,
// also when evaluation fails.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/half.h"
#include "tensor/tensor.h"

namespace qlab {

class SegmentActivations {
 public:
  // n_segments matrices of rows×cols; spill_parent: where the spill directory is made
  // (empty: $TMPDIR, else /tmp).
  SegmentActivations(StoragePrecision precision, int64_t n_segments, int64_t rows, int64_t cols, uint64_t memory_bytes,
                     const std::string& spill_parent);
  ~SegmentActivations();
  SegmentActivations(const SegmentActivations&) = delete;
  SegmentActivations& operator=(const SegmentActivations&) = delete;

  static uint64_t segment_bytes(StoragePrecision precision, int64_t rows, int64_t cols);
  void set(int64_t i, const Matrix& x);
  Matrix get(int64_t i) const;
  bool spilled() const { return fd_ >= 0; }
  const std::string& spill_path() const { return spill_path_; }  // empty while in memory

 private:
  StoragePrecision precision_;
  int64_t rows_, cols_;
  uint64_t slot_bytes_;
  std::vector<std::vector<unsigned char>> memory_;  // one encoded slot per segment, when not spilled
  std::string spill_dir_, spill_path_;
  int fd_ = -1;
};

}  // namespace qlab
