// libFuzzer target: the safetensors header parser on arbitrary file images.
#include <cstdint>

#include "format/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    uint64_t start = 0;
    auto tensors = qlab::SafetensorsFile::parse_header(data, size, "fuzz.safetensors", &start);
    for (const auto& [name, info] : tensors)  // what the parser accepted must lie inside the image
      if (start + info.end > size) __builtin_trap();
  } catch (const qlab::Error&) {
  }
  return 0;
}
