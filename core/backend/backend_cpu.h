// The CPU backend: buffers are host matrices and every op is the runtime's own CPU code
// (OpenBLAS GEMM/SYRK, the forward kernels of forward/, LAPACK through qlab_linalg), so
// it computes exactly what the rest of qlab computes and is the reference for the others.
#pragma once
#include <memory>

#include "backend/backend.h"

namespace qlab {

std::unique_ptr<Backend> make_cpu_backend();

}  // namespace qlab
