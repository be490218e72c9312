// qlab::Error: every user-facing failure. The message names the file (or object) and the
// problem; callers catch it at the CLI boundary and exit non-zero. No exit() anywhere else.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace qlab {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// fail("{}: {} bytes, expected {}", path, n, m) throws Error with the formatted text.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Index of the first non-finite value in [data, data+n), or -1.
long long first_non_finite(const float* data, long long n);

}  // namespace qlab
