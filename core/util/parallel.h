// Thread count for the whole process: our OpenMP loops and OpenBLAS share one pool.
#pragma once

namespace qlab {

// Sets the number of threads used by parallel loops and GEMM; n <= 0 keeps the default:
// the CPUs this process may run on (libgomp counts its sched_getaffinity mask; OpenBLAS's
// OpenMP build follows omp_get_max_threads). Returns the count in force.
int set_threads(int n);
int thread_count();

}  // namespace qlab
