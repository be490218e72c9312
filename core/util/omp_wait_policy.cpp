#include "util/omp_wait_policy.h"

#include <unistd.h>

#include <cstdlib>

namespace qlab {

namespace {
// Spins before a waiting thread sleeps (libgomp default 300000, ~3 ms; see the header).
constexpr const char* short_spin_count = "10000";
}  // namespace

void reexec_with_short_omp_spin(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (setenv("GOMP_SPINCOUNT", short_spin_count, 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("GOMP_SPINCOUNT");  // not re-executed: the variable would mislead child processes
}

}  // namespace qlab
