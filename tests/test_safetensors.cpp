// Safetensors headers: tensors whose shape, dtype or offsets lie about the bytes, and
// tensors that share bytes, are refused naming the file and the tensor.
#include <catch2/catch.hpp>

#include <cstring>

#include "format/safetensors.h"

using namespace qlab;

namespace {
// A safetensors file made of `header` and `data_bytes` zero bytes, parsed as "x.safetensors".
std::map<std::string, TensorInfo> parse(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> file(8 + header.size() + data_bytes, 0);
  uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  std::memcpy(file.data() + 8, header.data(), header.size());
  uint64_t start = 0;
  return SafetensorsFile::parse_header(file.data(), file.size(), "x.safetensors", &start);
}
}  // namespace

TEST_CASE("safetensors headers that lie are refused", "[safetensors][bad-input]") {
  CHECK(parse(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 16).at("a").numel() == 4);
  REQUIRE_THROWS_WITH(parse(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,32]}})", 16),
                      Catch::Contains("x.safetensors") && Catch::Contains("'a'") && Catch::Contains("outside"));
  REQUIRE_THROWS_WITH(parse(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", 16),
                      Catch::Contains("needs 24"));
  REQUIRE_THROWS_WITH(parse(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,1]}})", 16), Catch::Contains("unknown dtype 'Q4'"));
  REQUIRE_THROWS_WITH(parse(R"({"a":{"dtype":"F16","shape":[-1],"data_offsets":[0,2]}})", 16), Catch::Contains("non-negative"));
  REQUIRE_THROWS_WITH(parse("not json", 16), Catch::Contains("not a JSON object"));
  std::vector<uint8_t> lying(16, 0);
  uint64_t huge = 1000;
  std::memcpy(lying.data(), &huge, 8);
  uint64_t start = 0;
  REQUIRE_THROWS_WITH(SafetensorsFile::parse_header(lying.data(), lying.size(), "y.safetensors", &start),
                      Catch::Contains("y.safetensors") && Catch::Contains("does not fit"));
}

TEST_CASE("safetensors tensors sharing bytes are refused naming both", "[safetensors][bad-input]") {
  REQUIRE_THROWS_WITH(
      parse(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 24),
      "x.safetensors: tensors 'a' and 'b' overlap: data_offsets [0, 16] and [8, 24] share bytes (safetensors buffers must not overlap)");
  // Adjacent buffers and empty tensors (which occupy no bytes) are fine.
  CHECK(parse(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
              R"("e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}})", 24).size() == 3);
}
