// Catch2's main, after the same OpenMP wait policy as qlab (ctest -j runs test processes
// side by side on the cores).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "util/omp_wait_policy.h"

int main(int argc, char** argv) {
  qlab::reexec_with_passive_omp_wait(argv);
  return Catch::Session().run(argc, argv);
}
