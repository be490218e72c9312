// --device: the backend a command computes on, by name ("cpu", "cuda", "cuda:N").
#pragma once
#include <memory>
#include <string>

#include "backend/backend.h"

namespace qlab {

// Fails naming the accepted forms for an unknown name, "built without CUDA" when this build
// has no CUDA backend, and the device count and CUDA error when no GPU is visible.
std::unique_ptr<Backend> make_backend(const std::string& device);

// Whether this build has the CUDA backend (QLAB_CUDA).
bool built_with_cuda();

// CUDA devices usable by make_backend; 0 with `why` set (no CUDA build, no driver, no GPU).
int visible_cuda_devices(std::string* why);

}  // namespace qlab
