#include "log/log_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "log/h5.h"
#include "util/error.h"
#include "util/sha256.h"

namespace qlab {

namespace {
constexpr size_t kUserblock = 512;
constexpr std::string_view kSignature = "qlab experiment log\nsha256 ";  // then 64 hex digits and '\n'

std::string reason() { return std::strerror(errno); }

class Fd {  // a POSIX descriptor, closed on scope exit
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Stores the checksum of everything after the userblock in the userblock, makes the bytes
// durable and renames the file over `path`: the one step that changes what LOG holds.
void seal_and_publish(const std::string& tmp, const std::string& path) {
  const std::string sum = sha256_file(tmp, kUserblock);
  std::string block = std::string(kSignature) + sum + "\n";
  block.resize(kUserblock, '\0');
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CLOEXEC));
    if (fd.get() < 0 || ::pwrite(fd.get(), block.data(), block.size(), 0) != static_cast<ssize_t>(block.size()) ||
        ::fsync(fd.get()) != 0)
      fail("{}: cannot write the log ({}: {}); it keeps its last committed state", path, tmp, reason());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    fail("{}: cannot replace the log with {} ({}); it keeps its last committed state", path, tmp, reason());
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  Fd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() >= 0) ::fsync(d.get());  // the rename itself survives a power cut
}

void apply(h5::Handle file, const std::string& tmp, const std::string& path, const std::function<void(hid_t)>& change) {
  try {
    change(file.id());
    h5::close_file(std::move(file), path);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}
}  // namespace

std::shared_ptr<LogLock> LogLock::acquire(const std::string& log_path) {
  const std::string path = log_path + ".lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) fail("{}: cannot create the lock file {} ({})", log_path, path, reason());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {0};
    const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    fail("{}: another qlab process (pid {}) is writing this log; wait for it to finish, or choose another --out",
         log_path, n > 0 ? std::string(pid, static_cast<size_t>(n)) : "unknown");
  }
  const std::string me = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    ::close(fd);
    fail("{}: cannot write the lock file {} ({})", log_path, path, reason());
  }
  return std::shared_ptr<LogLock>(new LogLock(fd, path));
}

LogLock::~LogLock() {
  ::unlink(path_.c_str());
  ::close(fd_);
}

void create_log_file(const std::string& path, const std::function<void(hid_t)>& init) {
  const std::string tmp = path + ".tmp";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);  // left by a process killed mid-commit; we hold the lock
  apply(h5::create_file(tmp, kUserblock), tmp, path, init);
  seal_and_publish(tmp, path);
}

void commit_log_change(const std::string& path, const std::function<void(hid_t)>& change) {
  const std::string tmp = path + ".tmp";
  std::error_code ec;
  std::filesystem::copy_file(path, tmp, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    fail("{}: cannot copy the log to {} for the next commit ({}); it keeps its last committed state", path, tmp, ec.message());
  }
  apply(h5::open_file(tmp, true), tmp, path, change);
  seal_and_publish(tmp, path);
}

bool has_log_signature(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  char head[kSignature.size()];
  return fd.get() >= 0 && ::pread(fd.get(), head, sizeof head, 0) == static_cast<ssize_t>(sizeof head) &&
         std::string_view(head, sizeof head) == kSignature;
}

void verify_log_checksum(const std::string& path) {
  if (!has_log_signature(path)) return;  // written by qlab before checksums, or by another program
  char block[kUserblock];
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 || ::pread(fd.get(), block, kUserblock, 0) != static_cast<ssize_t>(kUserblock))
    fail("{}: cannot read the log ({})", path, reason());
  const std::string stored(block + kSignature.size(), 64);
  if (sha256_file(path, kUserblock) != stored)
    fail("{}: the log is damaged: its contents no longer match the checksum qlab stored when it last wrote it "
         "(changed by another program, or corrupted on disk); qlab will not read or resume it",
         path);
}

}  // namespace qlab
