// --device, --max-device-memory and --gemm-precision: where `eval`, `run` and `layer` compute.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace qlab::cli {

struct DeviceArgs {
  std::string device = "cpu";
  uint64_t max_device_memory = 0;  // bytes; 0 = 90% of the device's free memory
  std::string gemm_precision = "fp32";

  void add_to(CLI::App& cmd);
  // Null for cpu (the host's own kernels, today's digits); else the backend, its linear
  // precision set. Fails for a device flag given without a device, for a build without
  // CUDA and for a GPU that is not visible, naming which.
  std::unique_ptr<Backend> open() const;
};

}  // namespace qlab::cli
