// The experiment log's life on disk. A writer holds LOG.lock (flock) for as long as it runs,
// so a second process is refused before it touches anything. Every change is one commit:
// the committed file is copied to LOG.tmp, changed there, closed, checksummed and renamed
// over LOG, so the file at LOG is always a closed, complete HDF5 file: a kill, a full disk or
// a failing write leaves the last commit readable, and `qlab report` can read a running log.
// The checksum (SHA-256 of everything after the first 512 bytes) sits in the HDF5 userblock,
// which the library reserves for applications; HDF5 metadata is also written in the 1.8
// format, whose object headers carry their own checksums.
#pragma once
#include <hdf5.h>

#include <functional>
#include <memory>
#include <string>

namespace qlab {

class LogLock {
 public:
  // Takes LOG.lock without waiting; fails naming the process that holds it.
  static std::shared_ptr<LogLock> acquire(const std::string& log_path);
  ~LogLock();
  LogLock(const LogLock&) = delete;
  LogLock& operator=(const LogLock&) = delete;

 private:
  LogLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// Writes a new log at `path` (which must not exist) from `init`, applied to an empty file.
void create_log_file(const std::string& path, const std::function<void(hid_t)>& init);
// Applies `change` to a copy of the committed log and commits the result.
void commit_log_change(const std::string& path, const std::function<void(hid_t)>& change);
// True when the file starts with qlab's userblock (written by this or a later qlab).
bool has_log_signature(const std::string& path);
// Fails naming the file when its bytes no longer match the checksum qlab stored.
void verify_log_checksum(const std::string& path);

}  // namespace qlab
