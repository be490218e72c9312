#include "cli/device_args.h"

#include "backend/backend_select.h"
#include "util/error.h"

namespace qlab::cli {

void DeviceArgs::add_to(CLI::App& cmd) {
  cmd.add_option("--device", device, "where the blocks run: cpu, cuda or cuda:N (cuBLAS/cuSOLVER; one block's weights and the "
                                     "activations that fit --max-device-memory resident)")
      ->capture_default_str();
  cmd.add_option("--max-device-memory", max_device_memory,
                 "device memory for one block, its work space and the activations kept there; the rest stay in host memory "
                 "(e.g. 40GiB; default: 90% of the free device memory)")
      ->transform(CLI::AsSizeValue(false));
  cmd.add_option("--gemm-precision", gemm_precision,
                 "input precision of the forward pass's linears on the device: fp32 (default, exact to fp32), or opt-in tf32, "
                 "fp16, bf16 (tensor cores, fp32 accumulation; recorded in the log)")
      ->check(CLI::IsMember({"fp32", "tf32", "fp16", "bf16"}));
}

std::unique_ptr<Backend> DeviceArgs::open() const {
  const Precision precision = kPrecisions.parse(gemm_precision, "--gemm-precision");
  if (device == "cpu") {
    if (max_device_memory > 0) fail("--max-device-memory needs --device cuda (the CPU evaluates within --max-memory)");
    if (precision != Precision::fp32) fail("--gemm-precision {} needs --device cuda (the CPU computes in fp32)", gemm_precision);
    return nullptr;
  }
  std::unique_ptr<Backend> backend = make_backend(device);
  backend->set_linear_precision(precision);
  return backend;
}

}  // namespace qlab::cli
