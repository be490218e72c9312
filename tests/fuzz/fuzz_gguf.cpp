// libFuzzer target: the GGUF header parser on arbitrary file images, then every accessor on
// what it accepted (typed values, tensor bytes, dequantization of small tensors).
#include <cstdint>

#include "format/gguf_file.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = qlab::GgufFile::parse(data, size, "fuzz.gguf");
    for (const auto& [key, value] : f->kvs()) {
      try {  // the wrong-type refusals are part of what is exercised
        if (value.type == qlab::GgufType::array) (void)value.array_size();
        (void)value.u32();
      } catch (const qlab::Error&) {
      }
    }
    for (const qlab::GgufTensorInfo& t : f->tensors()) {  // accepted tensors lie inside the image
      const auto bytes = f->bytes(t.name);
      if (bytes.data() < data || bytes.data() + bytes.size() > data + size) __builtin_trap();
      if (t.numel() <= (1 << 16)) (void)f->to_matrix(t.name);
    }
  } catch (const qlab::Error&) {
  }
  return 0;
}
