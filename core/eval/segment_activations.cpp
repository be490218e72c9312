#include "eval/segment_activations.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "util/error.h"

namespace qlab {

namespace {
size_t value_bytes(StoragePrecision p) { return p == StoragePrecision::f32 ? 4 : 2; }
}  // namespace

uint64_t SegmentActivations::segment_bytes(StoragePrecision precision, int64_t rows, int64_t cols) {
  return static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) * value_bytes(precision);
}

SegmentActivations::SegmentActivations(StoragePrecision precision, int64_t n_segments, int64_t rows, int64_t cols,
                                       uint64_t memory_bytes, const std::string& spill_parent)
    : precision_(precision), rows_(rows), cols_(cols), slot_bytes_(segment_bytes(precision, rows, cols)) {
  if (slot_bytes_ * static_cast<uint64_t>(n_segments) <= memory_bytes) {
    memory_.resize(static_cast<size_t>(n_segments));
    return;
  }
  std::string parent = spill_parent;
  if (parent.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    parent = tmp && *tmp ? tmp : "/tmp";
  }
  // mkdtemp makes a new directory or fails: nothing already there is ever overwritten.
  std::string templ = (std::filesystem::path(parent) / "qlab-eval-activations-XXXXXX").string();
  if (!mkdtemp(templ.data()))
    fail("cannot create a directory for spilled evaluation activations in {}: {}", parent, std::strerror(errno));
  spill_dir_ = templ;
  spill_path_ = (std::filesystem::path(spill_dir_) / "segments.bin").string();
  fd_ = ::open(spill_path_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd_ < 0) {
    const std::string why = std::strerror(errno);
    std::error_code ec;
    std::filesystem::remove_all(spill_dir_, ec);
    fail("cannot create the activation spill file {}: {}", spill_path_, why);
  }
}

SegmentActivations::~SegmentActivations() {
  if (fd_ >= 0) ::close(fd_);
  if (!spill_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(spill_dir_, ec);
  }
}

void SegmentActivations::set(int64_t i, const Matrix& x) {
  if (x.rows() != rows_ || x.cols() != cols_)
    fail("internal: segment {} activations are {}x{}, the store holds {}x{}", i, x.rows(), x.cols(), rows_, cols_);
  std::vector<unsigned char> bytes(slot_bytes_);
  if (precision_ == StoragePrecision::f32) {
    std::memcpy(bytes.data(), x.data(), slot_bytes_);
  } else {
    auto* h = reinterpret_cast<uint16_t*>(bytes.data());
    for (int64_t k = 0; k < x.size(); ++k)
      h[k] = precision_ == StoragePrecision::f16 ? f32_to_f16(x.data()[k]) : f32_to_bf16(x.data()[k]);
  }
  if (fd_ < 0) {
    memory_[static_cast<size_t>(i)] = std::move(bytes);
    return;
  }
  const off_t at = static_cast<off_t>(slot_bytes_ * static_cast<uint64_t>(i));
  for (size_t done = 0; done < slot_bytes_;) {
    const ssize_t n = ::pwrite(fd_, bytes.data() + done, slot_bytes_ - done, at + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write segment {} to the activation spill file {}: {}", i, spill_path_, n < 0 ? std::strerror(errno) : "no space written");
    done += static_cast<size_t>(n);
  }
}

Matrix SegmentActivations::get(int64_t i) const {
  std::vector<unsigned char> spilled;
  const unsigned char* bytes = nullptr;
  if (fd_ < 0) {
    bytes = memory_[static_cast<size_t>(i)].data();
  } else {
    spilled.resize(slot_bytes_);
    const off_t at = static_cast<off_t>(slot_bytes_ * static_cast<uint64_t>(i));
    for (size_t done = 0; done < slot_bytes_;) {
      const ssize_t n = ::pread(fd_, spilled.data() + done, slot_bytes_ - done, at + static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot read segment {} back from the activation spill file {}: {}", i, spill_path_, n < 0 ? std::strerror(errno) : "file too short");
      done += static_cast<size_t>(n);
    }
    bytes = spilled.data();
  }
  Matrix x(rows_, cols_);
  if (precision_ == StoragePrecision::f32) {
    std::memcpy(x.data(), bytes, slot_bytes_);
  } else {
    const auto* h = reinterpret_cast<const uint16_t*>(bytes);
    for (int64_t k = 0; k < x.size(); ++k)
      x.data()[k] = precision_ == StoragePrecision::f16 ? f16_to_f32(h[k]) : bf16_to_f32(h[k]);
  }
  return x;
}

}  // namespace qlab
