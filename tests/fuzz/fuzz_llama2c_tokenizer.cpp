// libFuzzer target: llama2.c tokenizer files, then encoding and decoding with what parsed.
#include <cstdint>
#include <vector>

#include "tokenizer/llama2c_tokenizer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    qlab::Llama2cTokenizer t = qlab::Llama2cTokenizer::parse(std::vector<uint8_t>(data, data + size), "fuzz.bin");
    std::vector<int32_t> ids = t.encode("Once upon a time, \xC3\xA9t\xC3\xA9 \n", true);
    t.decode(ids);
  } catch (const qlab::Error&) {
  }
  return 0;
}
