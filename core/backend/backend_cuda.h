// The CUDA backend (built when QLAB_CUDA is ON): device buffers from cudaMalloc, GEMM and
// SYRK from cuBLAS, Cholesky/inverse from cuSOLVER, triangular solves from cuBLAS, and the
// elementwise ops, norms, RoPE and attention from cuda_kernels.cu. One stream per backend.
// The device is made current when the backend is created and when it allocates; kernels and
// cuBLAS run on the thread's current device, so a command uses one CUDA backend at a time.
#pragma once
#include <memory>
#include <string>

#include "backend/backend.h"

namespace qlab {

// Fails naming the visible device count and the CUDA error when `device` is not usable.
std::unique_ptr<Backend> make_cuda_backend(int device);

// How many CUDA devices the runtime sees; 0 with `why` set when none (driver missing, no GPU).
int cuda_device_count(std::string* why);

}  // namespace qlab
