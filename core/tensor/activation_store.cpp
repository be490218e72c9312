#include "tensor/activation_store.h"

#include <fcntl.h>
#include <sys/statvfs.h>
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

uint64_t ActivationStore::segment_bytes(StoragePrecision precision, int64_t rows, int64_t cols) {
  return static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) * value_bytes(precision);
}

ActivationStore::ActivationStore(StoragePrecision precision, int64_t n_segments, int64_t max_rows, int64_t cols,
                                 uint64_t memory_bytes, const std::string& spill_parent)
    : precision_(precision), max_rows_(max_rows), cols_(cols), slot_bytes_(segment_bytes(precision, max_rows, cols)),
      rows_of_(static_cast<size_t>(n_segments), 0) {
  const uint64_t total = slot_bytes_ * static_cast<uint64_t>(n_segments);
  if (total <= memory_bytes) {
    memory_.resize(static_cast<size_t>(n_segments));
    return;
  }
  std::string parent = spill_parent;
  if (parent.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    parent = tmp && *tmp ? tmp : "/tmp";
  }
  struct statvfs fs{};
  if (statvfs(parent.c_str(), &fs) != 0) fail("cannot spill activations to {}: {}", parent, std::strerror(errno));
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free_bytes < total)
    fail("{} segments of {}×{} activations need {:.2f} GiB beyond the memory budget of {:.2f} GiB, but {} has only {:.2f} "
         "GiB free: free space there, raise --max-memory, or spill elsewhere ($TMPDIR for qlab eval; qlab run spills beside its log)",
         n_segments, max_rows, cols, static_cast<double>(total) / (1 << 30), static_cast<double>(memory_bytes) / (1 << 30),
         parent, static_cast<double>(free_bytes) / (1 << 30));
  // mkdtemp makes a new directory or fails: nothing already there is ever overwritten.
  std::string templ = (std::filesystem::path(parent) / "qlab-activations-XXXXXX").string();
  if (!mkdtemp(templ.data()))
    fail("cannot create a directory for spilled activations in {}: {}", parent, std::strerror(errno));
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

ActivationStore::~ActivationStore() {
  if (fd_ >= 0) ::close(fd_);
  if (!spill_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(spill_dir_, ec);
  }
}

void ActivationStore::set(size_t i, const Matrix& x) {
  if (x.rows() > max_rows_ || x.cols() != cols_)
    fail("internal: segment {} activations are {}x{}, the store holds at most {}x{}", i, x.rows(), x.cols(), max_rows_, cols_);
  rows_of_[i] = x.rows();
  std::vector<unsigned char> bytes(segment_bytes(precision_, x.rows(), x.cols()));
  if (precision_ == StoragePrecision::f32) {
    std::memcpy(bytes.data(), x.data(), bytes.size());
  } else {
    auto* h = reinterpret_cast<uint16_t*>(bytes.data());
    for (int64_t k = 0; k < x.size(); ++k)
      h[k] = precision_ == StoragePrecision::f16 ? f32_to_f16(x.data()[k]) : f32_to_bf16(x.data()[k]);
  }
  if (fd_ < 0) {
    memory_[i] = std::move(bytes);
    return;
  }
  const off_t at = static_cast<off_t>(slot_bytes_ * i);
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, at + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write segment {} to the activation spill file {}: {}", i, spill_path_, n < 0 ? std::strerror(errno) : "no space written");
    done += static_cast<size_t>(n);
  }
}

Matrix ActivationStore::get(size_t i) const {
  Matrix x(rows_of_[i], cols_);
  const size_t n_bytes = segment_bytes(precision_, x.rows(), x.cols());
  std::vector<unsigned char> spilled;
  const unsigned char* bytes = nullptr;
  if (fd_ < 0) {
    bytes = memory_[i].data();
  } else {
    spilled.resize(n_bytes);
    const off_t at = static_cast<off_t>(slot_bytes_ * i);
    for (size_t done = 0; done < n_bytes;) {
      const ssize_t n = ::pread(fd_, spilled.data() + done, n_bytes - done, at + static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot read segment {} back from the activation spill file {}: {}", i, spill_path_, n < 0 ? std::strerror(errno) : "file too short");
      done += static_cast<size_t>(n);
    }
    bytes = spilled.data();
  }
  if (precision_ == StoragePrecision::f32) {
    std::memcpy(x.data(), bytes, n_bytes);
  } else {
    const auto* h = reinterpret_cast<const uint16_t*>(bytes);
    for (int64_t k = 0; k < x.size(); ++k)
      x.data()[k] = precision_ == StoragePrecision::f16 ? f16_to_f32(h[k]) : bf16_to_f32(h[k]);
  }
  return x;
}

}  // namespace qlab
