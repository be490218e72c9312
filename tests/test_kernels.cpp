// Each transformer kernel on hand-computed cases.
#include <catch2/catch.hpp>
#include <cmath>

#include "forward/block_forward.h"

using namespace qlab;

TEST_CASE("RMSNorm: x / rms(x) * weight", "[kernels]") {
  Matrix x(1, 2);
  x << 3, 4;  // mean square 12.5
  Vector w(2);
  w << 1, 2;
  Matrix out;
  rms_norm(x, w, 0.0f, out);
  CHECK(out(0, 0) == Approx(0.848528137).epsilon(1e-6));
  CHECK(out(0, 1) == Approx(2.262741700).epsilon(1e-6));
  rms_norm(x, w, 12.5f, out);  // eps enters under the root: rms = 5
  CHECK(out(0, 0) == Approx(0.6).epsilon(1e-6));
  CHECK(out(0, 1) == Approx(1.6).epsilon(1e-6));
}

TEST_CASE("LayerNorm: centred, scaled, shifted", "[kernels]") {
  Matrix x(1, 4);
  x << 1, 2, 3, 6;  // mean 3, variance 3.5
  Vector w = Vector::Constant(4, 2.0f), b = Vector::Constant(4, 0.5f);
  Matrix out;
  layer_norm(x, w, b, 0.0f, out);
  const double inv = 1.0 / std::sqrt(3.5);
  CHECK(out(0, 0) == Approx(2 * -2 * inv + 0.5).epsilon(1e-6));
  CHECK(out(0, 3) == Approx(2 * 3 * inv + 0.5).epsilon(1e-6));
}

TEST_CASE("RoPE rotates pairs (j, j + hd/2) by pos * theta^(-2j/hd)", "[kernels]") {
  Matrix x(2, 4);
  x << 1, 2, 3, 4,  //
      1, 2, 3, 4;
  apply_rope(x, 1, 4, 0, 10000.0f);  // row 0 at position 0 (identity), row 1 at position 1
  CHECK(x(0, 0) == 1);
  CHECK(x(0, 3) == 4);
  // position 1: pair (0, 2) turns by 1 rad, pair (1, 3) by 10000^(-1/2) = 0.01 rad
  CHECK(x(1, 0) == Approx(-1.984110649).epsilon(1e-6));
  CHECK(x(1, 2) == Approx(2.462377902).epsilon(1e-6));
  CHECK(x(1, 1) == Approx(1.959900667).epsilon(1e-6));
  CHECK(x(1, 3) == Approx(4.019799668).epsilon(1e-6));
  Matrix y(1, 8);  // two heads rotate independently with the same angles
  y << 1, 2, 3, 4, 1, 2, 3, 4;
  apply_rope(y, 2, 4, 1, 10000.0f);
  CHECK(y(0, 4) == Approx(-1.984110649).epsilon(1e-6));
  CHECK(y(0, 7) == Approx(4.019799668).epsilon(1e-6));
}

TEST_CASE("causal attention: masking and softmax weights", "[kernels]") {
  // One head, head_dim 2, scale 1/sqrt(2). Query 1 scores key 0 at 0 and key 1 at ln 3,
  // so it mixes v0 and v1 with weights 1/4 and 3/4. Query 0 sees only itself.
  const float l = std::log(3.0f) * std::sqrt(2.0f);
  Matrix q(3, 2), k(3, 2), v(3, 2), out;
  q << 5, 7, 1, 0, 0, 0;
  k << 0, 0, l, 0, 100, 100;
  v << 1, 0, 0, 1, 50, 50;
  causal_attention(q, k, v, 1, 1, 2, 0, out);
  CHECK(out(0, 0) == Approx(1.0));
  CHECK(out(0, 1) == Approx(0.0).margin(1e-7));
  CHECK(out(1, 0) == Approx(0.25).epsilon(1e-6));
  CHECK(out(1, 1) == Approx(0.75).epsilon(1e-6));
  // Row 2 sees all three keys with scores 0, 0, 0 → the mean of v.
  CHECK(out(2, 0) == Approx(17.0).epsilon(1e-6));
  // Changing the last key/value cannot change the earlier rows (mask).
  k.row(2) << -3, 9;
  v.row(2) << -7, 7;
  Matrix out2;
  causal_attention(q, k, v, 1, 1, 2, 0, out2);
  CHECK(out2.topRows(2).isApprox(out.topRows(2)));
}

TEST_CASE("grouped-query attention: q heads share their group's kv head", "[kernels]") {
  const float l = std::log(3.0f) * std::sqrt(2.0f);
  // Two q heads with identical queries; one kv head → identical outputs.
  Matrix q(2, 4), k(2, 2), v(2, 2), out;
  q << 9, 9, 9, 9, 1, 0, 1, 0;
  k << 0, 0, l, 0;
  v << 1, 0, 0, 1;
  causal_attention(q, k, v, 2, 1, 2, 0, out);
  CHECK(out(1, 0) == Approx(0.25).epsilon(1e-6));
  CHECK(out(1, 2) == Approx(0.25).epsilon(1e-6));
  CHECK(out(1, 3) == Approx(0.75).epsilon(1e-6));
  // Two kv heads: head 1 now reads kv head 1, whose keys tie → weights 1/2, 1/2.
  Matrix k2(2, 4), v2(2, 4);
  k2 << 0, 0, 0, 0, l, 0, 0, 0;
  v2 << 1, 0, 1, 0, 0, 1, 0, 1;
  causal_attention(q, k2, v2, 2, 2, 2, 0, out);
  CHECK(out(1, 0) == Approx(0.25).epsilon(1e-6));
  CHECK(out(1, 2) == Approx(0.5).epsilon(1e-6));
  CHECK(out(1, 3) == Approx(0.5).epsilon(1e-6));
}

TEST_CASE("attention with a position offset reads earlier keys", "[kernels]") {
  const float l = std::log(3.0f) * std::sqrt(2.0f);
  Matrix q(1, 2), k(2, 2), v(2, 2), out;
  q << 1, 0;  // query at position 1 (pos0 = 1), keys at 0 and 1
  k << 0, 0, l, 0;
  v << 1, 0, 0, 1;
  causal_attention(q, k, v, 1, 1, 2, 1, out);
  CHECK(out(0, 0) == Approx(0.25).epsilon(1e-6));
  CHECK(out(0, 1) == Approx(0.75).epsilon(1e-6));
}
