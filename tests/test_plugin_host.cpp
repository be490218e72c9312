// The plugin host's services and declarations: per-linear tensor files read for a plugin
// (name lookup, shape, dtype and finiteness, errors naming file and tensor, nothing thrown
// across the C boundary), and the support declaration's checks and text.
#include <catch2/catch.hpp>
#include <cstring>

#include "format/safetensors.h"
#include "plugin_host/format_support.h"
#include "plugin_host/linear_tensor_service.h"
#include "support/llama2c_file.h"
#include "tensor/half.h"
#include "util/error.h"

using namespace qlab;
using namespace qlab::test;

TEST_CASE("read_linear_tensor finds a linear's tensor by its id or its Hugging Face names", "[plugin_host]") {
  TempDir dir;
  Matrix a(2, 3), b(2, 3);
  a << 1, 2, 3, 4, 5, 6;
  b << 0.5f, 0.25f, 8, -1, 0, 2;
  std::vector<uint16_t> half(6);
  for (int i = 0; i < 6; ++i) half[i] = f32_to_f16(b.data()[i]);  // all exact in f16
  TensorToWrite f16{"model.decoder.layers.3.fc1.weight", Dtype::f16, {2, 3}, {}};
  f16.bytes.resize(12);
  std::memcpy(f16.bytes.data(), half.data(), 12);
  write_safetensors(dir / "s.safetensors", {f32_tensor("model.layers.0.mlp.up_proj.weight", {2, 3}, a.data()), f16});
  LinearTensorService llama("0.mlp.up_proj", 2, 3), opt("3.fc1", 2, 3);
  CHECK(llama.load((dir / "s.safetensors").string()) == a);
  CHECK(opt.load((dir / "s.safetensors").string()) == b);
  CHECK(LinearTensorService::candidate_names("3.fc1") ==
        std::vector<std::string>{"3.fc1", "model.layers.3.fc1.weight", "model.decoder.layers.3.fc1.weight"});
  SECTION("through the C pointer a plugin calls: a view of the tensor, or 1 and a message") {
    qlab_linear_in in{};
    llama.attach(in);
    qlab_cview view{};
    qlab_error err{};
    REQUIRE(in.read_linear_tensor(in.host, (dir / "s.safetensors").string().c_str(), &view, &err) == 0);
    CHECK(view.n_rows == 2);
    CHECK(view.n_cols == 3);
    CHECK(view.data[5] == 6.0f);
    CHECK(in.read_linear_tensor(in.host, (dir / "none.safetensors").string().c_str(), &view, &err) == 1);
    CHECK(std::string(err.message) == (dir / "none.safetensors").string() + ": no such file");
  }
}

TEST_CASE("read_linear_tensor errors name the file, the tensor and the problem", "[plugin_host][bad-input]") {
  TempDir dir;
  const std::string path = (dir / "s.safetensors").string();
  Matrix wide = Matrix::Ones(2, 4), nan = Matrix::Ones(2, 3);
  nan(1, 2) = std::numeric_limits<float>::quiet_NaN();
  const std::vector<int32_t> ints(6, 1);
  write_safetensors(path, {f32_tensor("0.mlp.up_proj", {2, 4}, wide.data()), f32_tensor("1.mlp.up_proj", {2, 3}, nan.data()),
                           i32_tensor("2.mlp.up_proj", {2, 3}, ints.data())});
  CHECK_THROWS_WITH(LinearTensorService("0.mlp.up_proj", 2, 3).load(path),
                    path + ": tensor '0.mlp.up_proj' has shape [2, 4], the linear is [2, 3]");
  CHECK_THROWS_WITH(LinearTensorService("1.mlp.up_proj", 2, 3).load(path),
                    path + ": tensor '1.mlp.up_proj' holds a non-finite value at flat index 5");
  CHECK_THROWS_WITH(LinearTensorService("2.mlp.up_proj", 2, 3).load(path), Catch::StartsWith(path + ": tensor '2.mlp.up_proj' has dtype I32"));
  CHECK_THROWS_WITH(LinearTensorService("3.mlp.up_proj", 2, 3).load(path),
                    path + ": no tensor for linear 3.mlp.up_proj (looked for '3.mlp.up_proj', 'model.layers.3.mlp.up_proj.weight', "
                           "'model.decoder.layers.3.mlp.up_proj.weight')");
}

TEST_CASE("a support declaration accepts exactly the formats it names", "[plugin_host]") {
  qlab_plugin any{};
  CHECK(unsupported_format(any, {3, 0, 0, QLAB_RANGE_GPTQ}).empty());
  CHECK(describe_support(any.support) == "any format");
  qlab_plugin p{};
  p.support = {1u << 2 | 1u << 8, 0, 64};
  CHECK(describe_support(p.support) == "bits 2, 8; group_size a multiple of 64");
  CHECK(unsupported_format(p, {8, 0, 0, QLAB_RANGE_GPTQ}).empty());  // per row: no multiple to respect
  CHECK(unsupported_format(p, {2, 128, 0, QLAB_RANGE_GPTQ}).empty());
  CHECK(unsupported_format(p, {4, 128, 0, QLAB_RANGE_GPTQ}) == "bits = 4, but it supports bits 2, 8");
  CHECK(unsupported_format(p, {8, 96, 0, QLAB_RANGE_GPTQ}) == "group_size = 96, but it supports bits 2, 8; group_size a multiple of 64");
}
