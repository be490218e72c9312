#include "data/memory_budget.h"

#include <unistd.h>

#include <fstream>

#include "util/error.h"

namespace qlab {

uint64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return static_cast<uint64_t>(sysconf(_SC_AVPHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t default_memory_budget() { return available_memory_bytes() / 4 * 3; }

void require_memory(double bytes, const std::string& what, const std::string& how) {
  // Small sizes are never refused: a sweep of 10^6 points need not read /proc/meminfo 10^6 times.
  constexpr double kAlwaysFits = 256.0 * 1024 * 1024;
  if (bytes <= kAlwaysFits) return;
  const double available = static_cast<double>(available_memory_bytes());
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  if (bytes > available)
    fail("{} needs about {:.3g} GiB ({}), but only {:.3g} GiB of memory is available", what, bytes / kGiB, how,
         available / kGiB);
}

}  // namespace qlab
