// The host's linear-algebra services, in the C table plugins receive (qlab_linalg). CPU:
// OpenBLAS GEMM and Eigen factorizations, multi-threaded. A CUDA table can take its place
// behind the same struct.
#pragma once
#include "qlab/plugin.h"

namespace qlab {

const qlab_linalg* cpu_linalg();

}  // namespace qlab
