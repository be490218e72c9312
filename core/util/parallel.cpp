#include "util/parallel.h"

#include <cblas.h>
#include <omp.h>

namespace qlab {

int set_threads(int n) {
  if (n > 0) {
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
  }
  return thread_count();
}

int thread_count() { return omp_get_max_threads(); }

}  // namespace qlab
