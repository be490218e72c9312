#include "util/file_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "util/error.h"

namespace qlab {

namespace {
template <typename Buffer>
Buffer read_all(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail("{}: no such file", path.string());
  if (std::filesystem::is_directory(path, ec)) fail("{}: is a directory, expected a file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", path.string(), std::strerror(errno));
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  Buffer data(static_cast<size_t>(size), 0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(data.data()), size))
    fail("{}: read failed after {} of {} bytes", path.string(), in.gcount(), size);
  return data;
}
}  // namespace

std::string read_text_file(const std::filesystem::path& path) { return read_all<std::string>(path); }
std::vector<uint8_t> read_binary_file(const std::filesystem::path& path) {
  return read_all<std::vector<uint8_t>>(path);
}

}  // namespace qlab
