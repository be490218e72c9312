// The host's linear-algebra services, in the C table plugins receive (qlab_linalg). CPU:
// OpenBLAS GEMM and Eigen factorizations, multi-threaded. A run on another backend gets a
// table whose host-memory services are the CPU's and whose gptq_solve runs on that backend.
#pragma once
#include "qlab/plugin.h"

namespace qlab {

class Backend;

const qlab_linalg* cpu_linalg();

// The table for a run on `backend`: cpu_linalg() for nullptr or a CPU backend; otherwise the
// CPU's gemm_nt/potrf/potri/trsm (plugins pass host views) and a gptq_solve on `backend`
// (ctx = backend). The table lives as long as the process; it is valid while `backend` is.
const qlab_linalg* linalg_for(Backend* backend);

}  // namespace qlab
