// GGUF files and ggml blocks: the block layouts and the header pinned byte by byte against
// bytes built here by hand, write → read round trips with exact values, ggml's reference
// quantizers against a naive restatement, and every refusal of the reader naming the file.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>

#include "format/gguf_file.h"
#include "support/llama2c_file.h"
#include "tensor/half.h"

using namespace qlab;

namespace {
// Little-endian bytes assembled by shifts, independently of the writer.
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& u8(uint8_t v) { return b.push_back(v), *this; }
  Bytes& u16(uint16_t v) { return u8(v & 0xff).u8(v >> 8); }
  Bytes& u32(uint32_t v) { return u16(v & 0xffff).u16(v >> 16); }
  Bytes& u64(uint64_t v) { return u32(v & 0xffffffffu).u32(v >> 32); }
  Bytes& i64(int64_t v) { return u64(static_cast<uint64_t>(v)); }
  Bytes& str(const std::string& s) {
    u64(s.size());
    for (char c : s) u8(static_cast<uint8_t>(c));
    return *this;
  }
  Bytes& append(const Bytes& o) { return b.insert(b.end(), o.b.begin(), o.b.end()), *this; }
  Bytes& pad(size_t n) {
    while (b.size() % n) u8(0);
    return *this;
  }
};

// Tensor info: name, n_dims, ne, type, offset.
Bytes info(const std::string& name, std::vector<int64_t> ne, uint32_t type, uint64_t offset) {
  Bytes b;
  b.str(name).u32(static_cast<uint32_t>(ne.size()));
  for (int64_t d : ne) b.i64(d);
  return b.u32(type).u64(offset), b;
}

// A whole image: header, the encoded KVs and infos, zero padding to 32, data_bytes zeros.
std::vector<uint8_t> image(const Bytes& kvs, int64_t n_kv, const Bytes& infos, int64_t n_tensors, size_t data_bytes,
                           uint32_t version = 3) {
  Bytes b;
  b.u8('G').u8('G').u8('U').u8('F').u32(version).i64(n_tensors).i64(n_kv).append(kvs).append(infos).pad(32);
  b.b.resize(b.b.size() + data_bytes, 0);
  return b.b;
}

void refused(const std::vector<uint8_t>& img, const std::string& problem) {
  INFO(problem);
  REQUIRE_THROWS_WITH(GgufFile::parse(img.data(), img.size(), "bad.gguf"), Catch::Contains("bad.gguf") && Catch::Contains(problem));
}

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// ggml's *_ref quantizers restated plainly (a block at a time, one code per value, then the
// nibbles packed), to check the library's bytes against.
std::vector<uint8_t> naive_q4_0(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t b = 0; b < x.size(); b += 32) {
    float best = 0.0f, signed_best = 0.0f;
    for (size_t j = b; j < b + 32; ++j)
      if (std::fabs(x[j]) > best) best = std::fabs(x[j]), signed_best = x[j];
    const float d = signed_best / -8.0f;
    const float inv = d == 0.0f ? 0.0f : 1.0f / d;
    int q[32];
    for (int j = 0; j < 32; ++j) {
      const float scaled = x[b + j] * inv;
      const float shifted = scaled + 8.5f;
      q[j] = std::min(15, static_cast<int>(std::trunc(shifted)));
    }
    const uint16_t h = f32_to_f16(d);
    out.push_back(h & 0xff), out.push_back(h >> 8);
    for (int j = 0; j < 16; ++j) out.push_back(static_cast<uint8_t>(q[j] + 16 * q[j + 16]));
  }
  return out;
}

std::vector<uint8_t> naive_q4_1(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t b = 0; b < x.size(); b += 32) {
    const float lo = *std::min_element(x.begin() + b, x.begin() + b + 32);
    const float hi = *std::max_element(x.begin() + b, x.begin() + b + 32);
    const float d = (hi - lo) / 15.0f;
    const float inv = d == 0.0f ? 0.0f : 1.0f / d;
    int q[32];
    for (int j = 0; j < 32; ++j) {
      const float scaled = (x[b + j] - lo) * inv;
      const float shifted = scaled + 0.5f;
      q[j] = std::min(15, static_cast<int>(std::trunc(shifted)));
    }
    const uint16_t hd = f32_to_f16(d), hm = f32_to_f16(lo);
    out.push_back(hd & 0xff), out.push_back(hd >> 8), out.push_back(hm & 0xff), out.push_back(hm >> 8);
    for (int j = 0; j < 16; ++j) out.push_back(static_cast<uint8_t>(q[j] + 16 * q[j + 16]));
  }
  return out;
}

std::vector<uint8_t> naive_q8_0(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0.0f;
    for (size_t j = b; j < b + 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float inv = d == 0.0f ? 0.0f : 1.0f / d;
    const uint16_t h = f32_to_f16(d);
    out.push_back(h & 0xff), out.push_back(h >> 8);
    for (int j = 0; j < 32; ++j) out.push_back(static_cast<uint8_t>(static_cast<int8_t>(std::lround(x[b + j] * inv))));
  }
  return out;
}

std::vector<uint8_t> library(size_t (*quantize)(const float*, uint8_t*, int64_t), size_t block_bytes, const std::vector<float>& x) {
  std::vector<uint8_t> out(x.size() / 32 * block_bytes, 0xAA);
  REQUIRE(quantize(x.data(), out.data(), static_cast<int64_t>(x.size())) == out.size());
  return out;
}
}  // namespace

TEST_CASE("Q4_0 block layout: element j low nibble, j+16 high nibble", "[gguf]") {
  uint8_t codes[32];
  for (int j = 0; j < 16; ++j) codes[j] = static_cast<uint8_t>(j), codes[16 + j] = static_cast<uint8_t>(15 - j);
  uint8_t block[kQ4_0Bytes];
  REQUIRE(pack_q4_0_block(0x3800 /* 0.5 */, codes, block) == 18);
  const std::vector<uint8_t> expected = {0x00, 0x38, 0xF0, 0xE1, 0xD2, 0xC3, 0xB4, 0xA5, 0x96, 0x87,
                                         0x78, 0x69, 0x5A, 0x4B, 0x3C, 0x2D, 0x1E, 0x0F};
  CHECK(std::vector<uint8_t>(block, block + 18) == expected);
  float y[32];
  dequantize_row_q4_0(block, y, 32);
  for (int j = 0; j < 32; ++j) CHECK(y[j] == 0.5f * (codes[j] - 8));
  CHECK(y[0] == -4.0f);
  CHECK(y[31] == -4.0f);
  CHECK(y[15] == 3.5f);
  codes[5] = 16;
  REQUIRE_THROWS_WITH(pack_q4_0_block(0x3800, codes, block), Catch::Contains("code 16 at position 5"));
}

TEST_CASE("Q4_1 block layout: d, m, then the same nibbles", "[gguf]") {
  uint8_t codes[32];
  for (int j = 0; j < 32; ++j) codes[j] = static_cast<uint8_t>((3 * j + 1) % 16);
  uint8_t block[kQ4_1Bytes];
  REQUIRE(pack_q4_1_block(0x3c00 /* 1 */, 0xbd00 /* -1.25 */, codes, block) == 20);
  CHECK(block[0] == 0x00);
  CHECK(block[1] == 0x3c);
  CHECK(block[2] == 0x00);
  CHECK(block[3] == 0xbd);
  for (int j = 0; j < 16; ++j) CHECK(block[4 + j] == (codes[j] | (codes[j + 16] << 4)));
  CHECK(block[4] == 0x11);  // codes[0] = 1, codes[16] = 49 % 16 = 1
  CHECK(block[5] == 0x44);  // codes[1] = 4, codes[17] = 52 % 16 = 4
  float y[32];
  dequantize_row_q4_1(block, y, 32);
  for (int j = 0; j < 32; ++j) CHECK(y[j] == static_cast<float>(codes[j]) - 1.25f);
  CHECK(y[0] == -0.25f);
}

TEST_CASE("Q8_0 block layout: d then 32 signed bytes", "[gguf]") {
  int8_t codes[32];
  for (int j = 0; j < 32; ++j) codes[j] = static_cast<int8_t>(j - 16);
  codes[0] = -128, codes[31] = 127;
  uint8_t block[kQ8_0Bytes];
  REQUIRE(pack_q8_0_block(0x3400 /* 0.25 */, codes, block) == 34);
  CHECK(block[0] == 0x00);
  CHECK(block[1] == 0x34);
  CHECK(block[2] == 0x80);        // -128
  CHECK(block[2 + 1] == 0xf1);    // -15
  CHECK(block[2 + 15] == 0xff);   // -1
  CHECK(block[2 + 16] == 0x00);
  CHECK(block[2 + 31] == 0x7f);
  float y[32];
  dequantize_row_q8_0(block, y, 32);
  CHECK(y[0] == -32.0f);
  CHECK(y[1] == -3.75f);
  CHECK(y[15] == -0.25f);
  CHECK(y[31] == 31.75f);
}

TEST_CASE("ggml reference quantizers match a naive restatement byte for byte", "[gguf]") {
  std::vector<std::vector<float>> rows;
  rows.push_back(std::vector<float>(64, 0.0f));
  std::vector<float> negative_max(32);  // largest magnitude at a negative value
  for (int j = 0; j < 32; ++j) negative_max[j] = 0.125f * static_cast<float>(j % 9);
  negative_max[7] = -4.0f;
  rows.push_back(negative_max);
  std::vector<float> tie(32, 0.0f);  // +4 and -4: the first wins
  tie[0] = 4.0f, tie[1] = -4.0f, tie[2] = 1.0f;
  rows.push_back(tie);
  std::vector<float> lcg(96);  // pseudo-random values in (-1, 1)
  uint32_t s = 12345;
  for (float& v : lcg) s = s * 1664525u + 1013904223u, v = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
  rows.push_back(lcg);
  std::vector<float> halves(32);  // Q8_0 at d = 1: .5 rounds away from zero
  for (int j = 0; j < 32; ++j) halves[j] = static_cast<float>(j - 16) + 0.5f;
  halves[31] = 127.0f;
  rows.push_back(halves);

  for (size_t r = 0; r < rows.size(); ++r) {
    INFO("row " << r);
    CHECK(library(quantize_row_q4_0, kQ4_0Bytes, rows[r]) == naive_q4_0(rows[r]));
    CHECK(library(quantize_row_q4_1, kQ4_1Bytes, rows[r]) == naive_q4_1(rows[r]));
    CHECK(library(quantize_row_q8_0, kQ8_0Bytes, rows[r]) == naive_q8_0(rows[r]));
  }

  // Exact bytes where the arithmetic is exact.
  const auto z4 = library(quantize_row_q4_0, kQ4_0Bytes, rows[0]);
  CHECK(z4[0] == 0x00);
  CHECK(z4[1] == 0x80);  // d = 0 / -8 = -0
  CHECK(z4[2] == 0x88);  // every code is 8
  CHECK(z4[17] == 0x88);
  for (uint8_t b : library(quantize_row_q4_1, kQ4_1Bytes, rows[0])) CHECK(b == 0);
  for (uint8_t b : library(quantize_row_q8_0, kQ8_0Bytes, rows[0])) CHECK(b == 0);

  const auto n4 = library(quantize_row_q4_0, kQ4_0Bytes, negative_max);  // d = 0.5, id = 2
  CHECK(n4[0] == 0x00);
  CHECK(n4[1] == 0x38);
  float y[32];
  dequantize_row_q4_0(n4.data(), y, 32);
  CHECK(y[7] == -4.0f);                  // the max itself: code 0
  CHECK((n4[2 + 7] & 0x0f) == 0);
  CHECK(y[8] == 1.0f);                   // 1.0 · 2 + 8.5 = 10.5 → 10
  CHECK(y[1] == 0.0f);                   // 0.125 · 2 + 8.5 = 8.75 → 8
  CHECK(y[2] == 0.5f);                   // 0.25 · 2 + 8.5 = 9 → 9
  const auto t4 = library(quantize_row_q4_0, kQ4_0Bytes, tie);  // d = -0.5: +4 → code 0, -4 → 16 → 15
  CHECK((t4[2] & 0x0f) == 0);
  CHECK((t4[3] & 0x0f) == 15);
  dequantize_row_q4_0(t4.data(), y, 32);
  CHECK(y[0] == 4.0f);
  CHECK(y[1] == -3.5f);

  const auto h8 = library(quantize_row_q8_0, kQ8_0Bytes, halves);  // d = 127 / 127 = 1
  CHECK(h8[0] == 0x00);
  CHECK(h8[1] == 0x3c);
  CHECK(static_cast<int8_t>(h8[2 + 0]) == -16);  // -15.5 → -16
  CHECK(static_cast<int8_t>(h8[2 + 15]) == -1);  // -0.5 → -1
  CHECK(static_cast<int8_t>(h8[2 + 16]) == 1);   // 0.5 → 1
  CHECK(static_cast<int8_t>(h8[2 + 18]) == 3);   // 2.5 → 3
  CHECK(static_cast<int8_t>(h8[2 + 31]) == 127);

  std::vector<float> bad(32, 0.0f);
  bad[3] = NAN;
  std::vector<uint8_t> out(kQ8_0Bytes);
  REQUIRE_THROWS_WITH(quantize_row_q8_0(bad.data(), out.data(), 32), Catch::Contains("position 3 is not finite"));
  REQUIRE_THROWS_WITH(quantize_row_q4_0(bad.data(), out.data(), 31), Catch::Contains("31 values"));
}

TEST_CASE("GGUF header with 8 keys is written byte for byte", "[gguf]") {
  test::TempDir dir;
  const auto path = dir / "h.gguf";
  {
    GgufWriter w(path);
    w.add_string("general.architecture", "llama");
    w.add_u32("llama.block_count", 5);
    w.add_f32("llama.rope.freq_base", 10000.0f);
    w.add_bool("tokenizer.ggml.add_bos_token", true);
    w.add("test.i8", GgufValue::of_i8(-3));
    w.add("test.u64", GgufValue::of_u64(0x0102030405060708ull));
    w.add_strings("tokenizer.ggml.tokens", {"<unk>", "\xe2\x96\x81" "a"});
    const float scores[] = {0.0f, -1.5f};
    w.add_f32s("tokenizer.ggml.scores", scores);
    w.finish();
  }
  Bytes e;
  e.u8('G').u8('G').u8('U').u8('F').u32(3).i64(0).i64(8);
  e.str("general.architecture").u32(8).str("llama");
  e.str("llama.block_count").u32(4).u32(5);
  e.str("llama.rope.freq_base").u32(6).u32(0x461C4000);  // 10000.0f
  e.str("tokenizer.ggml.add_bos_token").u32(7).u8(1);
  e.str("test.i8").u32(1).u8(0xfd);
  e.str("test.u64").u32(10).u64(0x0102030405060708ull);
  e.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(2).str("<unk>").u64(4).u8(0xe2).u8(0x96).u8(0x81).u8('a');
  e.str("tokenizer.ggml.scores").u32(9).u32(6).u64(2).u32(0).u32(0xBFC00000);  // 0, -1.5
  e.pad(32);
  CHECK(read_file(path) == e.b);
  CHECK(!std::filesystem::exists(dir / "h.gguf.tmp"));
}

TEST_CASE("GGUF tensors lie at padded offsets after an aligned header", "[gguf]") {
  test::TempDir dir;
  for (uint32_t alignment : {0u, 64u}) {
    INFO("alignment " << alignment);
    const auto path = dir / fmt::format("a{}.gguf", alignment);
    const uint64_t align = alignment ? alignment : 32;
    std::vector<uint8_t> a(12, 0x11), b(68, 0x22), c(2, 0x33);
    {
      GgufWriter w(path);
      if (alignment) w.add_u32("general.alignment", alignment);
      w.declare_tensor("a", GgmlType::F32, {3});
      w.declare_tensor("b", GgmlType::Q8_0, {32, 2});
      w.declare_tensor("c", GgmlType::F16, {1});
      w.write_tensor("a", a);
      w.write_tensor("b", b);
      w.write_tensor("c", c);
      w.finish();
    }
    auto f = GgufFile::open(path);
    REQUIRE(f->tensors().size() == 3);
    CHECK(f->alignment() == align);
    CHECK(f->data_start() % align == 0);
    CHECK(f->tensor("a").offset == 0);
    CHECK(f->tensor("b").offset == align);  // 12 bytes padded
    CHECK(f->tensor("c").offset == (align == 32 ? 32 + 96 : 64 + 128));  // b's 68 bytes padded
    CHECK(f->tensor("b").bytes == 68);
    CHECK(std::filesystem::file_size(path) == f->data_start() + f->tensor("c").offset + align);  // the last is padded too
    const auto bytes = read_file(path);
    CHECK(bytes[f->data_start()] == 0x11);
    CHECK(bytes[f->data_start() + 12] == 0);
    CHECK(bytes[f->data_start() + align] == 0x22);
    CHECK(bytes[f->data_start() + f->tensor("c").offset + 1] == 0x33);
    CHECK(f->bytes("b").size() == 68);
    CHECK(f->bytes("b")[67] == 0x22);
  }
}

TEST_CASE("GGUF write then read keeps every value and tensor type exactly", "[gguf]") {
  test::TempDir dir;
  const auto path = dir / "rt.gguf";
  auto le = [](std::initializer_list<uint8_t> v) { return std::vector<uint8_t>(v); };
  // Blocks with exactly representable d and m, so the expected values are exact.
  uint8_t q40[2 * 2 * kQ4_0Bytes], q41[3 * kQ4_1Bytes], q80[4 * kQ8_0Bytes];
  uint8_t c4[32];
  int8_t c8[32];
  for (int b = 0; b < 4; ++b) {
    for (int j = 0; j < 32; ++j) c4[j] = static_cast<uint8_t>((j + 5 * b) % 16);
    pack_q4_0_block(f32_to_f16(0.25f * static_cast<float>(b + 1)), c4, q40 + b * kQ4_0Bytes);
    if (b < 3) pack_q4_1_block(f32_to_f16(0.5f), f32_to_f16(-1.0f * static_cast<float>(b)), c4, q41 + b * kQ4_1Bytes);
    for (int j = 0; j < 32; ++j) c8[j] = static_cast<int8_t>(j * 8 - 128 + b);
    pack_q8_0_block(f32_to_f16(0.125f), c8, q80 + b * kQ8_0Bytes);
  }
  const float f32v[] = {1.5f, -2.0f, 0.25f, 1e-3f, 7.0f, -8.0f};
  const uint16_t f16v[] = {0x3c00, 0xc000, 0x3555, 0x7bff};
  const uint16_t bf16v[] = {0x3f80, 0xc0a0};
  {
    GgufWriter w(path);
    w.add("u8", GgufValue::of_u8(250));
    w.add("i8", GgufValue::of_i8(-100));
    w.add("u16", GgufValue::of_u16(65000));
    w.add("i16", GgufValue::of_i16(-30000));
    w.add_u32("u32", 4000000000u);
    w.add_i32("i32", -2000000000);
    w.add_f32("f32", 3.14159f);
    w.add_bool("bool", false);
    w.add_string("str", "h\xc3\xa9llo");
    w.add("u64", GgufValue::of_u64(1ull << 60));
    w.add("i64", GgufValue::of_i64(-(1ll << 60)));
    w.add("f64", GgufValue::of_f64(2.718281828459045));
    w.add("a_u8", GgufValue::of_array(GgufType::u8, le({1, 2, 255})));
    w.add("a_u32", GgufValue::of_array(GgufType::u32, le({1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})));
    w.add("a_bool", GgufValue::of_array(GgufType::boolean, le({1, 0, 1})));
    w.add("a_f64", GgufValue::of_array(GgufType::f64, le({0, 0, 0, 0, 0, 0, 0xf0, 0x3f})));
    w.add("a_empty", GgufValue::of_array(GgufType::i16, {}));
    const int32_t ints[] = {1, -1, 2147483647};
    w.add_i32s("a_i32", ints);
    const float floats[] = {0.5f, -0.0f};
    w.add_f32s("a_f32", floats);
    w.add_strings("a_str", {"", "x", "yz"});
    w.declare_tensor("f32", GgmlType::F32, {3, 2});
    w.declare_tensor("f16", GgmlType::F16, {4});
    w.declare_tensor("bf16", GgmlType::BF16, {2});
    w.declare_tensor("q4_0", GgmlType::Q4_0, {64, 2});
    w.declare_tensor("q4_1", GgmlType::Q4_1, {32, 3});
    w.declare_tensor("q8_0", GgmlType::Q8_0, {32, 2, 2});
    w.write_tensor("f32", {reinterpret_cast<const uint8_t*>(f32v), sizeof(f32v)});
    w.write_tensor("f16", {reinterpret_cast<const uint8_t*>(f16v), sizeof(f16v)});
    w.write_tensor("bf16", {reinterpret_cast<const uint8_t*>(bf16v), sizeof(bf16v)});
    w.write_tensor("q4_0", q40);
    w.write_tensor("q4_1", q41);
    w.write_tensor("q8_0", q80);
    w.finish();
  }
  auto f = GgufFile::open(path);
  CHECK(f->version() == 3);
  CHECK(f->kvs().size() == 20);
  CHECK(f->kvs()[0].first == "u8");  // file order
  CHECK(f->value("u8").u8() == 250);
  CHECK(f->value("i8").i8() == -100);
  CHECK(f->value("u16").u16() == 65000);
  CHECK(f->value("i16").i16() == -30000);
  CHECK(f->u32("u32") == 4000000000u);
  CHECK(f->value("i32").i32() == -2000000000);
  CHECK(f->f32("f32") == 3.14159f);
  CHECK(f->value("bool").boolean() == false);
  CHECK(f->str("str") == "h\xc3\xa9llo");
  CHECK(f->value("u64").u64() == (1ull << 60));
  CHECK(f->value("i64").i64() == -(1ll << 60));
  CHECK(f->value("f64").f64() == 2.718281828459045);
  CHECK(f->value("a_u8").bytes == le({1, 2, 255}));
  CHECK(f->value("a_u8").array_size() == 3);
  CHECK(f->value("a_u32").u32_array() == std::vector<uint32_t>{1, 0xffffffffu});
  CHECK(f->value("a_bool").bytes == le({1, 0, 1}));
  CHECK(f->value("a_f64").array_size() == 1);
  CHECK(f->value("a_f64").type_text() == "array[f64]");
  CHECK(f->value("a_empty").array_size() == 0);
  CHECK(f->value("a_i32").i32_array() == std::vector<int32_t>{1, -1, 2147483647});
  CHECK(f->value("a_f32").f32_array() == std::vector<float>{0.5f, -0.0f});
  CHECK(std::signbit(f->value("a_f32").f32_array()[1]));
  CHECK(f->value("a_str").str_array() == std::vector<std::string>{"", "x", "yz"});

  const Matrix m32 = f->to_matrix("f32");
  REQUIRE(m32.rows() == 2);
  REQUIRE(m32.cols() == 3);
  for (int i = 0; i < 6; ++i) CHECK(m32(i / 3, i % 3) == f32v[i]);
  const Matrix m16 = f->to_matrix("f16");
  CHECK(m16.rows() == 1);
  CHECK(m16(0, 0) == 1.0f);
  CHECK(m16(0, 1) == -2.0f);
  CHECK(m16(0, 2) == 0.333251953125f);
  CHECK(m16(0, 3) == 65504.0f);
  const Matrix mb = f->to_matrix("bf16");
  CHECK(mb(0, 0) == 1.0f);
  CHECK(mb(0, 1) == -5.0f);
  const Matrix m40 = f->to_matrix("q4_0");
  REQUIRE(m40.rows() == 2);
  REQUIRE(m40.cols() == 64);
  for (int b = 0; b < 4; ++b)
    for (int j = 0; j < 32; ++j) CHECK(m40(b / 2, (b % 2) * 32 + j) == 0.25f * static_cast<float>(b + 1) * static_cast<float>((j + 5 * b) % 16 - 8));
  const Matrix m41 = f->to_matrix("q4_1");
  REQUIRE(m41.rows() == 3);
  for (int b = 0; b < 3; ++b)
    for (int j = 0; j < 32; ++j) CHECK(m41(b, j) == 0.5f * static_cast<float>((j + 5 * b) % 16) - static_cast<float>(b));
  const Matrix m80 = f->to_matrix("q8_0");
  REQUIRE(m80.rows() == 4);  // ne[1] · ne[2]
  for (int b = 0; b < 4; ++b)
    for (int j = 0; j < 32; ++j) CHECK(m80(b, j) == 0.125f * static_cast<float>(j * 8 - 128 + b));
  const int32_t ids[] = {3, 0};
  const Matrix sub = f->rows("q8_0", ids);
  REQUIRE(sub.rows() == 2);
  CHECK(sub.row(0) == m80.row(3));
  CHECK(sub.row(1) == m80.row(0));
  const int32_t outside[] = {4};
  REQUIRE_THROWS_WITH(f->rows("q8_0", outside), Catch::Contains("rt.gguf") && Catch::Contains("row 4 of tensor 'q8_0'"));
  REQUIRE_THROWS_WITH(f->tensor("nope"), Catch::Contains("rt.gguf") && Catch::Contains("no tensor 'nope'"));
  REQUIRE_THROWS_WITH(f->value("nope"), Catch::Contains("rt.gguf") && Catch::Contains("no key 'nope'"));
}

TEST_CASE("GGUF typed accessors refuse another type naming file and key", "[gguf]") {
  Bytes kv;
  kv.str("llama.block_count").u32(6).u32(0x40a00000);  // f32 5.0
  kv.str("tokenizer.ggml.scores").u32(9).u32(5).u64(1).u32(7);  // array[i32]
  const auto img = image(kv, 2, {}, 0, 0);
  auto f = GgufFile::parse(img.data(), img.size(), "x.gguf");
  CHECK(f->f32("llama.block_count") == 5.0f);
  REQUIRE_THROWS_WITH(f->u32("llama.block_count"), "x.gguf: key 'llama.block_count' has type f32, expected u32");
  REQUIRE_THROWS_WITH(f->value("tokenizer.ggml.scores").f32_array(),
                      "x.gguf: key 'tokenizer.ggml.scores' has type array[i32], expected array[f32]");
  REQUIRE_THROWS_WITH(f->str("tokenizer.ggml.scores"), Catch::Contains("has type array[i32], expected string"));
  CHECK(f->value("tokenizer.ggml.scores").i32_array() == std::vector<int32_t>{7});
}

TEST_CASE("GGUF writer refuses bad declarations and leaves no half file", "[gguf]") {
  test::TempDir dir;
  const auto path = dir / "w.gguf";
  {
    GgufWriter w(path);
    w.add_u32("k", 1);
    REQUIRE_THROWS_WITH(w.add_u32("k", 2), Catch::Contains("w.gguf") && Catch::Contains("key 'k' added twice"));
    REQUIRE_THROWS_WITH(w.add_u32("general.alignment", 48), Catch::Contains("w.gguf") && Catch::Contains("48, not a power of 2"));
    REQUIRE_THROWS_WITH(w.add("general.alignment", GgufValue::of_i32(64)),
                        Catch::Contains("key 'general.alignment' has type i32, expected u32"));
    REQUIRE_THROWS_WITH(w.declare_tensor("q", GgmlType::Q4_0, {48, 2}),
                        Catch::Contains("w.gguf") && Catch::Contains("tensor 'q' of type Q4_0 has ne[0] = 48, not a multiple of its block size 32"));
    REQUIRE_THROWS_WITH(w.declare_tensor("five", GgmlType::F32, {1, 1, 1, 1, 1}), Catch::Contains("tensor 'five' has 5 dimensions"));
    REQUIRE_THROWS_WITH(w.declare_tensor(std::string(64, 'n'), GgmlType::F32, {1}), Catch::Contains("at most 63"));
    w.declare_tensor("a", GgmlType::F32, {2});
    w.declare_tensor("b", GgmlType::F32, {1});
    REQUIRE_THROWS_WITH(w.declare_tensor("a", GgmlType::F16, {2}), Catch::Contains("tensor 'a' declared twice"));
    const uint8_t eight[8] = {}, four[4] = {};
    REQUIRE_THROWS_WITH(w.write_tensor("b", four), Catch::Contains("tensor 'b' written out of order: the next declared tensor is 'a'"));
    REQUIRE_THROWS_WITH(w.write_tensor("a", four), Catch::Contains("tensor 'a' has 4 bytes, but F32 × 2 needs 8"));
    w.write_tensor("a", eight);
    REQUIRE_THROWS_WITH(w.add_u32("late", 1), Catch::Contains("after the first tensor"));
    REQUIRE_THROWS_WITH(w.finish(), Catch::Contains("w.gguf") && Catch::Contains("tensor 'b' was declared but never written"));
    CHECK(std::filesystem::exists(dir / "w.gguf.tmp"));
  }
  CHECK(!std::filesystem::exists(dir / "w.gguf.tmp"));  // the destructor removed it
  CHECK(!std::filesystem::exists(path));

  { std::ofstream(path) << "old"; }
  REQUIRE_THROWS_WITH(GgufWriter(path), Catch::Contains("w.gguf") && Catch::Contains("already exists"));
  {
    GgufWriter w(path, /*overwrite=*/true);
    w.add_u32("k", 1);
    w.finish();
  }
  CHECK(GgufFile::open(path)->u32("k") == 1);
}

TEST_CASE("GGUF reader refuses malformed files naming the file and the problem", "[gguf]") {
  const Bytes none;
  Bytes one_kv;
  one_kv.str("k").u32(4).u32(1);

  // A valid file to start from, then one defect at a time.
  const auto ok = image(one_kv, 1, info("w", {32, 2}, 8, 0), 1, 68);
  CHECK(GgufFile::parse(ok.data(), ok.size(), "ok.gguf")->tensor("w").bytes == 68);

  auto magic = ok;
  magic[3] = 'G';
  refused(magic, "not a GGUF file (magic 'GGUG'");
  refused(std::vector<uint8_t>{'G', 'G'}, "not a GGUF file (2 bytes)");
  refused(image(none, 0, none, 0, 0, 1), "GGUF version 1 is not supported");
  refused(image(none, 0, none, 0, 0, 4), "GGUF version 4 is not supported");
  CHECK(GgufFile::parse(image(none, 0, none, 0, 0, 2).data(), 32, "v2.gguf")->version() == 2);
  refused(std::vector<uint8_t>(ok.begin(), ok.begin() + 10), "truncated header");
  refused(std::vector<uint8_t>(ok.begin(), ok.end() - 1), "truncated: tensor 'w' needs bytes");
  refused(image(none, 1000, none, 0, 0), "header claims 1000 keys");
  refused(image(none, 0, none, -1, 0), "header claims -1 tensors");

  Bytes kv;
  kv.str("k").u32(13).u32(1);
  refused(image(kv, 1, none, 0, 0), "key 'k' has unknown value type 13");
  kv = {};
  kv.str("k").u32(9).u32(9).u64(1);
  refused(image(kv, 1, none, 0, 8), "key 'k' is an array of arrays");
  kv = {};
  kv.str("k").u32(9).u32(20).u64(1);
  refused(image(kv, 1, none, 0, 8), "key 'k' has unknown array element type 20");
  kv = {};
  kv.str("k").u32(8).u64(1000).u8('a');
  refused(image(kv, 1, none, 0, 0), "truncated value of key 'k'");
  kv = {};
  kv.str("k").u32(9).u32(5).u64(1ull << 62);
  refused(image(kv, 1, none, 0, 0), "truncated value of key 'k': 4611686018427387904 i32 values cannot fit");
  kv = {};
  kv.str("k").u32(9).u32(8).u64(1ull << 40);
  refused(image(kv, 1, none, 0, 0), "strings cannot fit");
  kv = {};
  kv.str("k").u32(7).u8(2);
  refused(image(kv, 1, none, 0, 0), "key 'k' has bool byte 2");
  kv = {};
  kv.str("k").u32(4).u32(1).str("k").u32(4).u32(2);
  refused(image(kv, 2, none, 0, 0), "duplicate key 'k'");
  kv = {};
  kv.str("").u32(4).u32(1);
  refused(image(kv, 1, none, 0, 0), "key 0 is empty");
  kv = {};
  kv.str("general.alignment").u32(4).u32(24);
  refused(image(kv, 1, none, 0, 0), "general.alignment is 24, not a power of 2");
  kv = {};
  kv.str("general.alignment").u32(5).u32(32);
  refused(image(kv, 1, none, 0, 0), "key 'general.alignment' has type i32, expected u32");

  refused(image(none, 0, info("w", {32, 2}, 99, 0), 1, 256), "tensor 'w' has ggml type id 99");
  refused(image(none, 0, info("w", {48, 2}, 2, 0), 1, 256), "tensor 'w' of type Q4_0 has ne[0] = 48, not a multiple of its block size 32");
  refused(image(none, 0, info("w", {1, 1, 1, 1, 1}, 0, 0), 1, 256), "tensor 'w' has 5 dimensions");
  refused(image(none, 0, info("w", {}, 0, 0), 1, 256), "tensor 'w' has 0 dimensions");
  refused(image(none, 0, info("w", {32, -2}, 0, 0), 1, 256), "tensor 'w' has ne[1] = -2, negative");
  refused(image(none, 0, info("w", {1ll << 40, 1ll << 40}, 0, 0), 1, 256), "tensor 'w' has more elements than an int64 holds");
  refused(image(none, 0, info("w", {8}, 0, 16), 1, 256), "tensor 'w' has offset 16, not a multiple of the alignment 32");
  refused(image(none, 0, info("w", {8}, 0, 32), 1, 256), "tensor 'w' has offset 32, expected 0");
  Bytes two = info("a", {16}, 0, 0);  // 64 bytes
  two.append(info("b", {8}, 0, 64));
  const auto valid_two = image(none, 0, two, 2, 96);
  CHECK(GgufFile::parse(valid_two.data(), valid_two.size(), "two.gguf")->tensor("b").offset == 64);
  two = info("a", {16}, 0, 0);
  two.append(info("b", {8}, 0, 32));
  refused(image(none, 0, two, 2, 96), "tensor 'b' has offset 32, expected 64: it overlaps tensor 'a'");
  two = info("a", {8}, 0, 0);
  two.append(info("a", {8}, 0, 32));
  refused(image(none, 0, two, 2, 96), "duplicate tensor name 'a'");
  refused(image(none, 0, info(std::string(64, 'n'), {8}, 0, 0), 1, 256), "ggml allows at most 63");
  Bytes cut;
  cut.u8('G').u8('G').u8('U').u8('F').u32(3).i64(1).i64(1).str("k").u32(8).str(std::string(40, 'v')).append(info("w", {8}, 0, 0));
  cut.b.resize(cut.b.size() - 3);  // inside the offset
  refused(cut.b, "truncated tensor info of 'w'");
}
