#include "backend/backend_select.h"

#include <charconv>

#include "backend/backend_cpu.h"
#include "util/error.h"
#ifdef QLAB_HAVE_CUDA
#include "backend/backend_cuda.h"
#endif

namespace qlab {

std::unique_ptr<Backend> make_backend(const std::string& device) {
  if (device == "cpu") return make_cpu_backend();
  int index = 0;
  if (device.starts_with("cuda:")) {
    const char* first = device.data() + 5;
    const char* last = device.data() + device.size();
    const auto [end, ec] = std::from_chars(first, last, index);
    if (ec != std::errc() || end != last || first == last || index < 0)
      fail("--device '{}': the CUDA device index must be a whole number (cuda:0, cuda:1, ...)", device);
  } else if (device != "cuda") {
    fail("--device '{}' is not one of cpu, cuda, cuda:N", device);
  }
#ifdef QLAB_HAVE_CUDA
  return make_cuda_backend(index);
#else
  fail("qlab was built without CUDA (QLAB_CUDA=OFF or no CUDA toolkit found): --device {} is unavailable", device);
#endif
}

bool built_with_cuda() {
#ifdef QLAB_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int visible_cuda_devices(std::string* why) {
#ifdef QLAB_HAVE_CUDA
  return cuda_device_count(why);
#else
  if (why) *why = "qlab was built without CUDA (QLAB_CUDA=OFF or no CUDA toolkit found)";
  return 0;
#endif
}

}  // namespace qlab
