#include "util/omp_wait_policy.h"

#include <unistd.h>

#include <cstdlib>

namespace qlab {

void reexec_with_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("OMP_WAIT_POLICY");  // not re-executed: the variable would mislead child processes
}

}  // namespace qlab
