// QuaRot's residual-stream rotation fused into the weights (model/residual_rotation.h): the
// rotated model computes the same function. Tolerance: each rotated GEMM reorders fp32 sums
// of width dim = 64 (relative error ~1e-6 per layer); through 5 blocks and the head the
// logits and the perplexity agree to 1e-4 relative, the bound.
#include <catch2/catch.hpp>

#include "eval/perplexity.h"
#include "format/hf_loader.h"
#include "format/model_loader.h"
#include "forward/forward.h"
#include "model/residual_rotation.h"
#include "support/compare.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "tensor/hadamard.h"
#include "util/error.h"

using namespace qlab;
using namespace qlab::test;

TEST_CASE("the rotated bundled model computes the same function: logits and perplexity within 1e-4", "[rotation]") {
  const Model model = load_model(source_dir() / "datasets/stories260K/stories260K.bin");
  Model rotated = model;
  const Matrix q = randomized_hadamard(model.config.dim, 1);
  REQUIRE((q.transpose() * q - Matrix::Identity(64, 64)).cwiseAbs().maxCoeff() < 1e-5);
  rotate_model(rotated, q);
  // Really rotated: the weights moved, the norms are ones.
  CHECK(max_rel(rotated.blocks[0].q.weight, model.blocks[0].q.weight) > 0.5);
  CHECK(rotated.blocks[2].attn_norm.weight == Vector::Ones(64));
  CHECK(rotated.final_norm.weight == Vector::Ones(64));
  const std::vector<int32_t> tokens = some_tokens(200, 512);
  CHECK(max_rel(forward_logits(rotated, tokens), forward_logits(model, tokens)) < 1e-4);
  std::vector<int32_t> ids;
  for (int i = 0; i < 128 * 4; ++i) ids.push_back((i * 37 + i / 5) % 512);
  const PerplexityOptions opts{.seq_len = 128, .progress = false};
  const double want = perplexity(model, ids, opts).ppl, got = perplexity(rotated, ids, opts).ppl;
  CHECK(std::abs(got / want - 1) < 1e-4);
}

TEST_CASE("a LayerNorm family is refused naming why", "[rotation][bad-input]") {
  TempDir dir;
  write_hf_dir(dir / "opt", opt_config({32, 64, 2, 4, 50, 64, 32, true}), random_opt({32, 64, 2, 4, 50, 64, 32, true}, 5));
  Model m = load_hf_model(dir / "opt");
  CHECK_THROWS_WITH(rotate_model(m, Matrix::Identity(32, 32)), Catch::Contains("opt uses LayerNorm, whose mean subtraction does not commute"));
  Model s = load_model(source_dir() / "datasets/stories260K/stories260K.bin");
  CHECK_THROWS_WITH(rotate_model(s, Matrix::Identity(32, 32)), Catch::Contains("a 32×32 matrix for a residual stream of width 64"));
}
