// libFuzzer target: tokenizer.json files (both BPE kinds), then encoding with what parsed.
#include <cstdint>
#include <string>

#include "tokenizer/tokenizer_loader.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto t = qlab::parse_tokenizer_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
    std::vector<int32_t> ids = t->encode("Hello world <s> caf\xC3\xA9", true);
    t->decode(ids);
  } catch (const qlab::Error&) {
  }
  return 0;
}
