#include "util/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace qlab {

namespace {

const char* special_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file or directory";
}

struct stat stat_of(const std::filesystem::path& path, bool* found) {
  struct stat st {};
  *found = ::stat(path.c_str(), &st) == 0;
  if (*found || errno == ENOENT || errno == ENOTDIR) return st;
  if (errno == ELOOP) fail("{}: too many levels of symbolic links", path.string());
  fail("{}: cannot inspect: {}", path.string(), std::strerror(errno));
}

template <typename Buffer>
Buffer read_all(const std::filesystem::path& path) {
  require_regular_file(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);  // O_NONBLOCK: a FIFO swapped in after the stat cannot block
  if (fd < 0) fail("{}: cannot open: {}", path.string(), std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  Buffer data;
  data.reserve(static_cast<size_t>(st.st_size));
  // Read to the end rather than trusting st_size: /proc files report 0 bytes.
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      fail("{}: read failed after {} bytes: {}", path.string(), data.size(), std::strerror(err));
    }
    data.insert(data.end(), chunk, chunk + n);
  }
  ::close(fd);
  return data;
}

}  // namespace

PathKind path_kind(const std::filesystem::path& path) {
  bool found = false;
  const struct stat st = stat_of(path, &found);
  if (!found) return PathKind::missing;
  if (S_ISREG(st.st_mode)) return PathKind::regular;
  if (S_ISDIR(st.st_mode)) return PathKind::directory;
  return PathKind::other;
}

void require_regular_file(const std::filesystem::path& path) {
  bool found = false;
  const struct stat st = stat_of(path, &found);
  if (!found) fail("{}: no such file", path.string());
  if (S_ISDIR(st.st_mode)) fail("{}: is a directory, expected a file", path.string());
  if (!S_ISREG(st.st_mode)) fail("{}: not a regular file ({})", path.string(), special_kind(st.st_mode));
}

std::string read_text_file(const std::filesystem::path& path) { return read_all<std::string>(path); }
std::vector<uint8_t> read_binary_file(const std::filesystem::path& path) {
  return read_all<std::vector<uint8_t>>(path);
}

}  // namespace qlab
