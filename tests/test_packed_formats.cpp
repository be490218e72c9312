// GPTQ (v1, v2) and AWQ-GEMM packing checked against the consumers' layout as
// ../shared/reference/export-formats.md §1–2 states it, through an unpacker written here from
// that text alone (not run/code_packing.h, not unpack_linear): randomized round trips, hand-made
// words pinning each format's bit order, the refusals, and qlab's loader on bad files.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "format/packed_linear_formats.h"
#include "format/safetensors.h"
#include "qlab/half.hpp"
#include "support/llama2c_file.h"
#include "util/error.h"

using namespace qlab;
using qlab::test::TempDir;

namespace {

// ---------------------------------------------------------------------------------------------
// The spec's reader.

const TensorToWrite& find_tensor(const std::vector<TensorToWrite>& ts, const std::string& name) {
  for (const TensorToWrite& t : ts)
    if (t.name == name) return t;
  FAIL("no tensor " << name);
  throw 0;
}

uint32_t word_at(const TensorToWrite& t, int64_t k) {  // little-endian int32 element k
  const uint8_t* b = t.bytes.data() + 4 * k;
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}

uint16_t half_at(const TensorToWrite& t, int64_t k) {
  const uint8_t* b = t.bytes.data() + 2 * k;
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}

// Field j of a b-bit stream: every run of 32 values fills b words as one little-endian
// (32·b)-bit stream with value j at bits b·j .. b·j + b − 1. word(k) is the run's k-th word
// counted from the stream's start.
template <typename Word>
uint32_t stream_field(Word word, int64_t j, int bits) {
  const int64_t run = j / 32, bit = bits * (j % 32);
  const int64_t w = run * bits + bit / 32, shift = bit % 32;
  uint64_t two = word(w);
  if (shift + bits > 32) two |= static_cast<uint64_t>(word(w + 1)) << 32;
  return static_cast<uint32_t>((two >> shift) & ((1u << bits) - 1));
}

// What a file holds for one linear, decoded: codes out×in, zeros and scales out×G (zeros as
// the consumer adds them back), the group of each input column, and W = s·(q − z).
struct Decoded {
  std::vector<int> codes, zeros;
  std::vector<float> scales;
  std::vector<int32_t> g_idx;
  Matrix weight;
};

void require_shape(const TensorToWrite& t, Dtype dtype, std::vector<int64_t> shape) {
  INFO(t.name);
  REQUIRE(t.dtype == dtype);
  REQUIRE(t.shape == shape);
  const int64_t n = std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  REQUIRE(static_cast<int64_t>(t.bytes.size()) == n * (dtype == Dtype::f16 ? 2 : 4));
}

Decoded decode_gptq(const std::vector<TensorToWrite>& ts, const std::string& p, int64_t out, int64_t in, int bits,
                    int64_t groups, bool v1) {
  const TensorToWrite &qw = find_tensor(ts, p + ".qweight"), &qz = find_tensor(ts, p + ".qzeros"),
                      &sc = find_tensor(ts, p + ".scales"), &gi = find_tensor(ts, p + ".g_idx");
  require_shape(qw, Dtype::i32, {in * bits / 32, out});  // packed along in
  require_shape(qz, Dtype::i32, {groups, out * bits / 32});  // packed along out
  require_shape(sc, Dtype::f16, {groups, out});
  require_shape(gi, Dtype::i32, {in});
  Decoded d;
  d.codes.resize(static_cast<size_t>(out * in));
  d.zeros.resize(static_cast<size_t>(out * groups));
  d.scales.resize(static_cast<size_t>(out * groups));
  for (int64_t i = 0; i < in; ++i) d.g_idx.push_back(static_cast<int32_t>(word_at(gi, i)));
  for (int64_t o = 0; o < out; ++o) {  // column o of qweight is one stream down the in axis
    auto down = [&](int64_t k) { return word_at(qw, k * out + o); };
    for (int64_t i = 0; i < in; ++i) d.codes[static_cast<size_t>(o * in + i)] = static_cast<int>(stream_field(down, i, bits));
  }
  for (int64_t g = 0; g < groups; ++g) {  // row g of qzeros is one stream along out
    auto along = [&](int64_t k) { return word_at(qz, g * (out * bits / 32) + k); };
    for (int64_t o = 0; o < out; ++o) {
      d.zeros[static_cast<size_t>(o * groups + g)] = static_cast<int>(stream_field(along, o, bits)) + (v1 ? 1 : 0);
      d.scales[static_cast<size_t>(o * groups + g)] = f16_to_f32(half_at(sc, g * out + o));  // (G, out): transposed
    }
  }
  d.weight.resize(out, in);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      const int64_t g = d.g_idx[static_cast<size_t>(i)];
      REQUIRE(g >= 0);
      REQUIRE(g < groups);
      d.weight(o, i) = d.scales[static_cast<size_t>(o * groups + g)] *
                       (static_cast<float>(d.codes[static_cast<size_t>(o * in + i)]) -
                        static_cast<float>(d.zeros[static_cast<size_t>(o * groups + g)]));
    }
  return d;
}

// AWQ-GEMM: nibble k of a word holds output column 8c + kOrder[k]; no g_idx, no −1.
constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

int awq_nibble(const TensorToWrite& t, int64_t row, int64_t out, int64_t o) {
  const uint32_t w = word_at(t, row * (out / 8) + o / 8);
  for (int k = 0; k < 8; ++k)
    if (kOrder[k] == o % 8) return static_cast<int>((w >> (4 * k)) & 15u);
  return -1;
}

Decoded decode_awq(const std::vector<TensorToWrite>& ts, const std::string& p, int64_t out, int64_t in, int64_t group_size) {
  const int64_t width = group_size > 0 ? group_size : in, groups = in / width;
  const TensorToWrite &qw = find_tensor(ts, p + ".qweight"), &qz = find_tensor(ts, p + ".qzeros"),
                      &sc = find_tensor(ts, p + ".scales");
  require_shape(qw, Dtype::i32, {in, out / 8});
  require_shape(qz, Dtype::i32, {groups, out / 8});
  require_shape(sc, Dtype::f16, {groups, out});
  for (const TensorToWrite& t : ts) CHECK(t.name != p + ".g_idx");
  Decoded d;
  d.weight.resize(out, in);
  for (int64_t i = 0; i < in; ++i) d.g_idx.push_back(static_cast<int32_t>(i / width));
  d.zeros.resize(static_cast<size_t>(out * groups));
  d.scales.resize(static_cast<size_t>(out * groups));
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t o = 0; o < out; ++o) {
      d.zeros[static_cast<size_t>(o * groups + g)] = awq_nibble(qz, g, out, o);
      d.scales[static_cast<size_t>(o * groups + g)] = f16_to_f32(half_at(sc, g * out + o));
    }
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      const int q = awq_nibble(qw, i, out, o);
      d.codes.push_back(q);  // filled row-major: o outer, i inner
      const size_t gz = static_cast<size_t>(o * groups + i / width);
      d.weight(o, i) = d.scales[gz] * (static_cast<float>(q) - static_cast<float>(d.zeros[gz]));
    }
  return d;
}

// ---------------------------------------------------------------------------------------------
// Linears to pack.

// Random codes, integer zeros in zero_min..2^b−1, positive scales spread over 1e-6..1 (so some
// round to fp16 subnormals), and g_idx contiguous or act-order (g_idx[j] = invperm[j] / gs).
QuantizedLinear random_linear(std::mt19937& rng, int64_t out, int64_t in, int bits, int group_size, bool act_order,
                              int zero_min) {
  QuantizedLinear q;
  q.name = "layers.0.mlp.up_proj";
  q.bits = bits;
  q.group_size = group_size;
  const int64_t width = group_size > 0 ? group_size : in;
  q.n_groups = (in + width - 1) / width;
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1), zero(zero_min, (1 << bits) - 1);
  std::uniform_real_distribution<float> exponent(-6.0f, 0.0f);
  for (int64_t k = 0; k < out * in; ++k) q.codes.push_back(static_cast<uint8_t>(code(rng)));
  q.scales.resize(out, q.n_groups);
  q.zeros.resize(out, q.n_groups);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t g = 0; g < q.n_groups; ++g) {
      q.scales(o, g) = std::pow(10.0f, exponent(rng));
      q.zeros(o, g) = static_cast<float>(zero(rng));
    }
  std::vector<int32_t> perm(static_cast<size_t>(in)), invperm(static_cast<size_t>(in));
  std::iota(perm.begin(), perm.end(), 0);
  if (act_order) std::shuffle(perm.begin(), perm.end(), rng);
  for (int64_t k = 0; k < in; ++k) invperm[static_cast<size_t>(perm[static_cast<size_t>(k)])] = static_cast<int32_t>(k);
  for (int64_t j = 0; j < in; ++j) q.g_idx.push_back(static_cast<int32_t>(invperm[static_cast<size_t>(j)] / width));
  return q;
}

// A linear with every code and scale 0/1 and zero z, for hand-made words.
QuantizedLinear plain_linear(int64_t out, int64_t in, int bits, float zero) {
  QuantizedLinear q;
  q.name = "hand";
  q.bits = bits;
  q.group_size = 0;
  q.n_groups = 1;
  q.codes.assign(static_cast<size_t>(out * in), 0);
  q.scales = Matrix::Ones(out, 1);
  q.zeros = Matrix::Constant(out, 1, zero);
  q.g_idx.assign(static_cast<size_t>(in), 0);
  return q;
}

std::vector<uint32_t> words_of(const std::vector<TensorToWrite>& ts, const std::string& name) {
  const TensorToWrite& t = find_tensor(ts, name);
  std::vector<uint32_t> w;
  for (size_t k = 0; k < t.bytes.size() / 4; ++k) w.push_back(word_at(t, static_cast<int64_t>(k)));
  return w;
}

bool bit_equal(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() && std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0;
}

// qlab's loader on `tensors` written as dir/model.safetensors.
Matrix load_back(const TempDir& dir, const std::vector<TensorToWrite>& tensors, const std::string& prefix, int64_t out,
                 int64_t in, const PackedGrid& grid) {
  write_safetensors(dir / "model.safetensors", tensors);
  const SafetensorsSet set = SafetensorsSet::open_dir(dir.path());
  return unpack_linear(set, prefix, out, in, grid);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("GPTQ v1 and v2 round trips decode to exported_weight bit for bit", "[export]") {
  std::mt19937 rng(20240611);
  TempDir dir;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{64, 96}, {96, 256}, {32, 128}};
  int cases = 0;
  for (auto [out, in] : shapes)
    for (int bits : {2, 3, 4, 8})
      for (int group_size : {32, 64, 128, 0})
        for (bool act_order : {false, true})
          for (PackedFormat format : {PackedFormat::gptq_v1, PackedFormat::gptq_v2}) {
            if (group_size > in) continue;
            const bool v1 = format == PackedFormat::gptq_v1;
            CAPTURE(out, in, bits, group_size, act_order, v1);
            const QuantizedLinear q = random_linear(rng, out, in, bits, group_size, act_order, v1 ? 1 : 0);
            REQUIRE(packed_format_problem(q, out, in, format) == "");
            const std::vector<TensorToWrite> ts = pack_linear(q, out, in, format, "model.layers.0.mlp.up_proj");
            const Decoded d = decode_gptq(ts, "model.layers.0.mlp.up_proj", out, in, bits, q.n_groups, v1);
            REQUIRE(d.codes == std::vector<int>(q.codes.begin(), q.codes.end()));
            REQUIRE(d.g_idx == q.g_idx);
            for (int64_t o = 0; o < out; ++o)
              for (int64_t g = 0; g < q.n_groups; ++g) {
                const float s = q.scales(o, g), h = d.scales[static_cast<size_t>(o * q.n_groups + g)];
                REQUIRE(static_cast<float>(d.zeros[static_cast<size_t>(o * q.n_groups + g)]) == q.zeros(o, g));
                // fp16 rounding: half an ulp (2^-11 relative), or 2^-25 absolute among subnormals.
                REQUIRE(std::fabs(h - s) <= std::max(s * 0x1p-11f, 0x1p-25f));
              }
            const Matrix want = exported_weight(q, out, in);
            REQUIRE(bit_equal(d.weight, want));
            const PackedGrid grid{format, bits, group_size > 0 ? group_size : -1};
            REQUIRE(bit_equal(load_back(dir, ts, "model.layers.0.mlp.up_proj", out, in, grid), want));
            ++cases;
          }
  CHECK(cases == 3 * 4 * 4 * 2 * 2 - 4 * 2 * 2);  // shapes × bits × group sizes × act-order × format, less 64×96 at 128
}

TEST_CASE("AWQ-GEMM round trips decode to exported_weight bit for bit", "[export]") {
  std::mt19937 rng(7);
  TempDir dir;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{64, 128}, {96, 256}, {32, 64}};
  for (auto [out, in] : shapes)
    for (int group_size : {32, 64, 128, 0}) {
      if (group_size > 0 && in % group_size != 0) continue;
      CAPTURE(out, in, group_size);
      const QuantizedLinear q = random_linear(rng, out, in, 4, group_size, false, 0);
      REQUIRE(packed_format_problem(q, out, in, PackedFormat::awq_gemm) == "");
      const std::vector<TensorToWrite> ts = pack_linear(q, out, in, PackedFormat::awq_gemm, "model.layers.1.self_attn.o_proj");
      const Decoded d = decode_awq(ts, "model.layers.1.self_attn.o_proj", out, in, group_size);
      REQUIRE(d.codes == std::vector<int>(q.codes.begin(), q.codes.end()));
      for (int64_t o = 0; o < out; ++o)
        for (int64_t g = 0; g < q.n_groups; ++g) REQUIRE(static_cast<float>(d.zeros[static_cast<size_t>(o * q.n_groups + g)]) == q.zeros(o, g));
      const Matrix want = exported_weight(q, out, in);
      REQUIRE(bit_equal(d.weight, want));
      const PackedGrid grid{PackedFormat::awq_gemm, 4, group_size > 0 ? group_size : -1};
      REQUIRE(bit_equal(load_back(dir, ts, "model.layers.1.self_attn.o_proj", out, in, grid), want));
    }
}

TEST_CASE("GPTQ words pin the bit order: codes along in, zeros along out, z - 1 in v1", "[export]") {
  SECTION("4 bits") {
    QuantizedLinear q = plain_linear(8, 32, 4, 8);  // 8 outputs: one qzeros word per group
    for (int i = 0; i < 8; ++i) q.codes[static_cast<size_t>(0 * 32 + i)] = static_cast<uint8_t>(i + 1);  // column o = 0, in 0..7
    q.codes[static_cast<size_t>(1 * 32 + 8)] = 0xF;  // output 1, input 8: word 1 of column 1, lowest nibble
    const auto v1 = pack_linear(q, 8, 32, PackedFormat::gptq_v1, "p");
    const std::vector<uint32_t> qw = words_of(v1, "p.qweight");  // (4, 8): word k of column o at k·8 + o
    CHECK(qw[0] == 0x87654321u);  // codes 1..8 down column 0, input 0 in the low nibble
    CHECK(qw[1] == 0u);
    CHECK(qw[1 * 8 + 1] == 0x0000000Fu);
    CHECK(words_of(v1, "p.qzeros") == std::vector<uint32_t>{0x77777777u});  // symmetric z = 8, stored 7
    CHECK(words_of(pack_linear(q, 8, 32, PackedFormat::gptq_v2, "p"), "p.qzeros") == std::vector<uint32_t>{0x88888888u});
    // Zeros 1..8 along the 8 outputs (v2 stores them as they are): output 0 in the low nibble.
    for (int o = 0; o < 8; ++o) q.zeros(o, 0) = static_cast<float>(o + 1);
    CHECK(words_of(pack_linear(q, 8, 32, PackedFormat::gptq_v2, "p"), "p.qzeros") == std::vector<uint32_t>{0x87654321u});
    CHECK(words_of(pack_linear(q, 8, 32, PackedFormat::gptq_v1, "p"), "p.qzeros") == std::vector<uint32_t>{0x76543210u});
    // g_idx is written even without act-order; scales are (G, out) fp16: 1.0 = 0x3C00, 0.5 = 0x3800.
    q.scales(3, 0) = 0.5f;
    const auto t = pack_linear(q, 8, 32, PackedFormat::gptq_v1, "p");
    CHECK(words_of(t, "p.g_idx") == std::vector<uint32_t>(32, 0u));
    CHECK(half_at(find_tensor(t, "p.scales"), 0) == 0x3C00);
    CHECK(half_at(find_tensor(t, "p.scales"), 3) == 0x3800);
  }
  SECTION("8 bits") {
    QuantizedLinear q = plain_linear(4, 32, 8, 128);
    for (int i = 0; i < 4; ++i) q.codes[static_cast<size_t>(i)] = static_cast<uint8_t>(i + 1);
    q.codes[static_cast<size_t>(4)] = 0xAB;
    const auto v1 = pack_linear(q, 4, 32, PackedFormat::gptq_v1, "p");
    const std::vector<uint32_t> qw = words_of(v1, "p.qweight");  // (8, 4)
    CHECK(qw[0] == 0x04030201u);
    CHECK(qw[1 * 4 + 0] == 0x000000ABu);
    CHECK(words_of(v1, "p.qzeros") == std::vector<uint32_t>{0x7F7F7F7Fu});  // z = 128, stored 127
    CHECK(words_of(pack_linear(q, 4, 32, PackedFormat::gptq_v2, "p"), "p.qzeros") == std::vector<uint32_t>{0x80808080u});
  }
  SECTION("2 bits") {
    QuantizedLinear q = plain_linear(16, 32, 2, 2);
    for (int i = 0; i < 16; ++i) q.codes[static_cast<size_t>(i)] = static_cast<uint8_t>(i % 4);  // 0,1,2,3,… down column 0
    const auto v1 = pack_linear(q, 16, 32, PackedFormat::gptq_v1, "p");
    CHECK(words_of(v1, "p.qweight")[0] == 0xE4E4E4E4u);  // 0b11100100 per 4 codes
    CHECK(words_of(v1, "p.qzeros") == std::vector<uint32_t>{0x55555555u});  // z = 2, stored 1
    CHECK(words_of(pack_linear(q, 16, 32, PackedFormat::gptq_v2, "p"), "p.qzeros") == std::vector<uint32_t>{0xAAAAAAAAu});
  }
  SECTION("3 bits: 32 values in a 96-bit little-endian stream") {
    QuantizedLinear q = plain_linear(32, 32, 3, 4);
    q.codes[static_cast<size_t>(10)] = 7;  // value 10 at stream bits 30..32: bits 30–31 of word 0, bit 0 of word 1
    q.codes[static_cast<size_t>(21)] = 5;  // value 21 at bits 63..65: 0b101 → bit 31 of word 1, bit 1 of word 2
    q.codes[static_cast<size_t>(31 * 32 + 31)] = 6;  // output 31, input 31: bits 93..95 = 0b110 → word 2 bits 30, 31
    const auto v1 = pack_linear(q, 32, 32, PackedFormat::gptq_v1, "p");
    const std::vector<uint32_t> qw = words_of(v1, "p.qweight");  // (3, 32): word k of column o at k·32 + o
    CHECK(qw[0 * 32 + 0] == 0xC0000000u);
    CHECK(qw[1 * 32 + 0] == 0x80000001u);
    CHECK(qw[2 * 32 + 0] == 0x00000002u);
    CHECK(qw[2 * 32 + 31] == 0xC0000000u);
    CHECK(qw[0 * 32 + 31] == 0u);
    // z − 1 = 3 = 0b011 repeated: stream bits ≡ 0, 1 (mod 3) set.
    CHECK(words_of(v1, "p.qzeros") == std::vector<uint32_t>{0xDB6DB6DBu, 0xB6DB6DB6u, 0x6DB6DB6Du});
    // v2 stores 4 = 0b100: stream bits ≡ 2 (mod 3) set.
    CHECK(words_of(pack_linear(q, 32, 32, PackedFormat::gptq_v2, "p"), "p.qzeros") ==
          std::vector<uint32_t>{0x24924924u, 0x49249249u, 0x92492492u});
  }
}

TEST_CASE("AWQ words pin the nibble order 0 2 4 6 1 3 5 7 with no z - 1", "[export]") {
  QuantizedLinear q = plain_linear(8, 32, 4, 0);
  for (int o = 0; o < 8; ++o) {
    q.codes[static_cast<size_t>(o * 32 + 0)] = static_cast<uint8_t>(o);  // input 0: codes 0..7 across the outputs
    q.codes[static_cast<size_t>(o * 32 + 1)] = static_cast<uint8_t>(8 + o);  // input 1: 8..15
    q.zeros(o, 0) = static_cast<float>(o + 1);  // zeros 1..8
  }
  const auto t = pack_linear(q, 8, 32, PackedFormat::awq_gemm, "p");
  const std::vector<uint32_t> qw = words_of(t, "p.qweight");  // (32, 1)
  CHECK(qw[0] == 0x75316420u);  // nibbles low→high hold columns 0,2,4,6,1,3,5,7
  CHECK(qw[1] == 0xFDB9ECA8u);  // 8,10,12,14,9,11,13,15
  CHECK(qw[2] == 0u);
  CHECK(words_of(t, "p.qzeros") == std::vector<uint32_t>{0x86427531u});  // 1,3,5,7,2,4,6,8: stored as they are
  // A symmetric grid exports as zero_point with every z = 8.
  CHECK(words_of(pack_linear(plain_linear(8, 32, 4, 8), 8, 32, PackedFormat::awq_gemm, "p"), "p.qzeros") ==
        std::vector<uint32_t>{0x88888888u});
}

TEST_CASE("packed_format_problem refuses what the formats cannot hold", "[export]") {
  std::mt19937 rng(3);
  QuantizedLinear q = random_linear(rng, 32, 64, 4, 32, false, 1);
  CHECK(packed_format_problem(q, 32, 64, PackedFormat::gptq_v1) == "");
  SECTION("a zero of 0 in v1, accepted by v2") {
    q.zeros(5, 1) = 0;
    const std::string why = packed_format_problem(q, 32, 64, PackedFormat::gptq_v1);
    CHECK_THAT(why, Catch::Contains("zero is 0 at row 5, group 1") && Catch::Contains("z − 1") && Catch::Contains("gptq_v2"));
    CHECK(packed_format_problem(q, 32, 64, PackedFormat::gptq_v2) == "");
    CHECK(packed_format_problem(q, 32, 64, PackedFormat::awq_gemm) == "");
    REQUIRE_THROWS_WITH(pack_linear(q, 32, 64, PackedFormat::gptq_v1, "p"),
                        Catch::Contains("layers.0.mlp.up_proj: cannot be written as gptq") && Catch::Contains("zero is 0"));
  }
  SECTION("a codebook") {
    q.codebook.assign(static_cast<size_t>(32 * 2 * 16), 0.0f);
    CHECK_THAT(packed_format_problem(q, 32, 64, PackedFormat::gptq_v2), Catch::Contains("4-bit codebook") && Catch::Contains("GPTQ"));
    CHECK_THAT(packed_format_problem(q, 32, 64, PackedFormat::awq_gemm), Catch::Contains("codebook") && Catch::Contains("AWQ"));
  }
  SECTION("5-bit codes") {
    q.bits = 5;
    CHECK_THAT(packed_format_problem(q, 32, 64, PackedFormat::gptq_v2), Catch::Contains("5-bit codes") && Catch::Contains("2, 3, 4 or 8"));
    CHECK_THAT(packed_format_problem(q, 32, 64, PackedFormat::awq_gemm), Catch::Contains("5-bit codes") && Catch::Contains("4 bits only"));
  }
  SECTION("an input dimension that is not a multiple of 32") {
    QuantizedLinear r = random_linear(rng, 32, 48, 4, 16, false, 1);
    CHECK_THAT(packed_format_problem(r, 32, 48, PackedFormat::gptq_v1),
               Catch::Contains("input dimension 48 is not a multiple of 32"));
  }
  SECTION("an output dimension the zeros cannot be packed along") {
    QuantizedLinear r = random_linear(rng, 24, 64, 3, 32, false, 1);  // 3 bits: 32 zeros per 3 words
    CHECK_THAT(packed_format_problem(r, 24, 64, PackedFormat::gptq_v1),
               Catch::Contains("output dimension 24 is not a multiple of 32"));
  }
  SECTION("act-order in AWQ") {
    QuantizedLinear r = random_linear(rng, 32, 64, 4, 32, true, 0);
    REQUIRE(r.g_idx != std::vector<int32_t>(r.g_idx.size(), 0));  // the shuffle made groups non-contiguous
    CHECK_THAT(packed_format_problem(r, 32, 64, PackedFormat::awq_gemm), Catch::Contains("act-order") && Catch::Contains("no g_idx"));
    CHECK(packed_format_problem(r, 32, 64, PackedFormat::gptq_v2) == "");
  }
  SECTION("weights kept exact beside the codes, a scale beyond fp16") {
    QuantizedLinear r = q;
    r.sparse.push_back({3, 1.5f});
    CHECK_THAT(packed_format_problem(r, 32, 64, PackedFormat::gptq_v1), Catch::Contains("keeps 1 weights exact"));
    q.scales(2, 0) = 70000.0f;
    CHECK_THAT(packed_format_problem(q, 32, 64, PackedFormat::gptq_v2), Catch::Contains("70000") && Catch::Contains("beyond fp16"));
    q.scales(2, 0) = std::nanf("");
    CHECK_THAT(packed_format_problem(q, 32, 64, PackedFormat::awq_gemm), Catch::Contains("beyond fp16"));
  }
  SECTION("3 bits in AWQ") {
    QuantizedLinear r = random_linear(rng, 32, 64, 3, 32, false, 0);
    CHECK_THAT(packed_format_problem(r, 32, 64, PackedFormat::awq_gemm), Catch::Contains("3-bit codes") && Catch::Contains("4 bits only"));
    CHECK(packed_format_problem(r, 32, 64, PackedFormat::gptq_v2) == "");
  }
}

TEST_CASE("unpack_linear refuses bad files naming the file and the tensor", "[export][bad-input]") {
  std::mt19937 rng(11);
  TempDir dir;
  const QuantizedLinear q = random_linear(rng, 32, 64, 4, 32, false, 1);
  const PackedGrid grid{PackedFormat::gptq_v1, 4, 32};
  const std::string file = (dir / "model.safetensors").string();
  std::vector<TensorToWrite> ts = pack_linear(q, 32, 64, PackedFormat::gptq_v1, "m.l");
  REQUIRE(bit_equal(load_back(dir, ts, "m.l", 32, 64, grid), exported_weight(q, 32, 64)));
  auto without = [&](const std::string& name) {
    std::vector<TensorToWrite> v;
    for (const TensorToWrite& t : ts)
      if (t.name != name) v.push_back(t);
    return v;
  };
  auto replaced = [&](const TensorToWrite& r) {
    std::vector<TensorToWrite> v = without(r.name);
    v.push_back(r);
    return v;
  };
  SECTION("no g_idx: groups of consecutive columns") {  // the spec writes it, but contiguous groups read the same without
    REQUIRE(bit_equal(load_back(dir, without("m.l.g_idx"), "m.l", 32, 64, grid), exported_weight(q, 32, 64)));
  }
  SECTION("missing qzeros") {  // no file holds it: the directory is named
    REQUIRE_THROWS_WITH(load_back(dir, without("m.l.qzeros"), "m.l", 32, 64, grid),
                        Catch::Contains(dir.path().string()) && Catch::Contains("'m.l.qzeros'") && Catch::Contains("missing"));
  }
  SECTION("truncated qzeros: one group row short") {
    const std::vector<uint32_t> w = words_of(ts, "m.l.qzeros");  // (2, 4)
    const TensorToWrite t = i32_tensor("m.l.qzeros", {1, 4}, reinterpret_cast<const int32_t*>(w.data()));
    REQUIRE_THROWS_WITH(load_back(dir, replaced(t), "m.l", 32, 64, grid),
                        Catch::Contains(file) && Catch::Contains("'m.l.qzeros'") && Catch::Contains("[1, 4], expected [2, 4]"));
  }
  SECTION("a file cut short") {
    write_safetensors(dir / "model.safetensors", ts);
    std::filesystem::resize_file(dir / "model.safetensors", std::filesystem::file_size(dir / "model.safetensors") - 16);
    REQUIRE_THROWS_WITH(SafetensorsSet::open_dir(dir.path()), Catch::Contains(file));
  }
  SECTION("qweight packed for another width") {  // the same codes at 8 bits: (16, 32) where 4 bits implies (8, 32)
    const auto t8 = pack_linear(random_linear(rng, 32, 64, 8, 32, false, 1), 32, 64, PackedFormat::gptq_v1, "m.l");
    REQUIRE_THROWS_WITH(load_back(dir, replaced(find_tensor(t8, "m.l.qweight")), "m.l", 32, 64, grid),
                        Catch::Contains(file) && Catch::Contains("'m.l.qweight'") && Catch::Contains("[16, 32], expected [8, 32]"));
  }
  SECTION("scales as float32") {
    const Matrix st = q.scales.transpose();  // (G, out) row-major
    REQUIRE_THROWS_WITH(load_back(dir, replaced(f32_tensor("m.l.scales", {2, 32}, st.data())), "m.l", 32, 64, grid),
                        Catch::Contains(file) && Catch::Contains("'m.l.scales'") && Catch::Contains("dtype") &&
                            Catch::Contains("expected"));
  }
  SECTION("g_idx out of range") {
    std::vector<int32_t> g = q.g_idx;
    g[37] = 2;  // two groups: 0..1
    REQUIRE_THROWS_WITH(load_back(dir, replaced(i32_tensor("m.l.g_idx", {64}, g.data())), "m.l", 32, 64, grid),
                        Catch::Contains(file) && Catch::Contains("'m.l.g_idx'") && Catch::Contains("2 at column 37") &&
                            Catch::Contains("0..1"));
    g[37] = -1;
    REQUIRE_THROWS_WITH(load_back(dir, replaced(i32_tensor("m.l.g_idx", {64}, g.data())), "m.l", 32, 64, grid),
                        Catch::Contains("-1 at column 37"));
  }
  SECTION("AWQ: qzeros missing, qweight shaped as GPTQ") {
    const QuantizedLinear a = random_linear(rng, 32, 64, 4, 32, false, 0);
    const PackedGrid awq{PackedFormat::awq_gemm, 4, 32};
    std::vector<TensorToWrite> at = pack_linear(a, 32, 64, PackedFormat::awq_gemm, "m.l");
    REQUIRE(bit_equal(load_back(dir, at, "m.l", 32, 64, awq), exported_weight(a, 32, 64)));
    std::vector<TensorToWrite> no_zeros;
    for (const TensorToWrite& t : at)
      if (t.name != "m.l.qzeros") no_zeros.push_back(t);
    REQUIRE_THROWS_WITH(load_back(dir, no_zeros, "m.l", 32, 64, awq), Catch::Contains("'m.l.qzeros'") && Catch::Contains("missing"));
    REQUIRE_THROWS_WITH(load_back(dir, ts, "m.l", 32, 64, awq),  // the GPTQ tensors read as AWQ
                        Catch::Contains(file) && Catch::Contains("'m.l.qweight'") && Catch::Contains("expected [64, 4]"));
  }
}
