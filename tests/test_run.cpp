// The run room's packed block checkpoint: codes packed to their bit width against a naive bit
// stream and hand-computed words; every built-in plugin's walked blocks stored packed and
// rebuilt bit for bit; the footprint of 4-bit g128; corrupt and truncated files refused
// naming the file and the tensor.
#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <fstream>
#include <random>

#include "config/experiment.h"
#include "format/llama2c_loader.h"
#include "format/safetensors.h"
#include "plugin_host/params.h"
#include "plugin_host/plugin_instance.h"
#include "plugin_host/plugin_loader.h"
#include "run/block_checkpoint.h"
#include "run/code_packing.h"
#include "run/packed_block_source.h"
#include "support/experiment_file.h"
#include "util/error.h"
#include "walk/layer_walker.h"
#include "walk/linear_hooks.h"
#include "walk/pipeline.h"

using namespace qlab;
using namespace qlab::test;

namespace {
// Reference: one bool per stream bit, code i's bit j at i·bits + j, words assembled from it.
std::vector<uint32_t> naive_pack(const std::vector<uint8_t>& codes, int32_t bits) {
  std::vector<bool> stream;
  for (uint8_t c : codes)
    for (int32_t j = 0; j < bits; ++j) stream.push_back((c >> j) & 1);
  std::vector<uint32_t> words((stream.size() + 31) / 32, 0u);
  for (size_t k = 0; k < stream.size(); ++k)
    if (stream[k]) words[k / 32] |= 1u << (k % 32);
  return words;
}

bool same_bits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() && std::memcmp(a.data(), b.data(), static_cast<size_t>(a.size()) * 4) == 0;
}
}  // namespace

TEST_CASE("codes pack to their bit width: hand cases", "[run][packed]") {
  CHECK(pack_codes({1, 2, 3}, 4, "t") == std::vector<uint32_t>{0x321u});
  CHECK(pack_codes({3, 0, 1}, 2, "t") == std::vector<uint32_t>{0x13u});  // 01 00 11
  // 7 codes of 5 bits: the seventh (31) straddles: its low 2 bits end word 0, its high 3 start word 1.
  CHECK(pack_codes({31, 1, 0, 0, 0, 0, 31}, 5, "t") == std::vector<uint32_t>{0xC000003Fu, 0x7u});
  CHECK(pack_codes({0xAB, 0xCD, 0xEF, 0x01, 0x23}, 8, "t") == std::vector<uint32_t>{0x01EFCDABu, 0x23u});
  CHECK_THROWS_WITH(pack_codes({1, 8}, 3, "0.mlp.up_proj"), "0.mlp.up_proj: code 8 at flat index 1 does not fit in 3 bits");
  CHECK_THROWS_WITH(pack_codes({1}, 9, "x"), "x: cannot pack 9-bit codes (1..8 bits)");
}

TEST_CASE("codes of every width 2..8 round-trip and match a naive bit stream, odd counts", "[run][packed]") {
  std::mt19937 rng(5);
  for (int32_t bits = 2; bits <= 8; ++bits)
    for (int64_t n : {1, 7, 31, 33, 97, 1001}) {
      std::vector<uint8_t> codes(static_cast<size_t>(n));
      for (uint8_t& c : codes) c = static_cast<uint8_t>(rng() % (1u << bits));
      codes.back() = static_cast<uint8_t>((1u << bits) - 1);  // the top code in the padded last word
      const std::vector<uint32_t> words = pack_codes(codes, bits, "t");
      CHECK(static_cast<int64_t>(words.size()) == (n * bits + 31) / 32);
      CHECK(words == naive_pack(codes, bits));
      CHECK(unpack_codes(words.data(), static_cast<int64_t>(words.size()), n, bits, "t") == codes);
    }
  const std::vector<uint32_t> words = pack_codes({1, 2, 3}, 4, "t");
  CHECK_THROWS_WITH(unpack_codes(words.data(), 1, 9, 4, "f: tensor 'L.codes'"), "f: tensor 'L.codes': 1 packed words, expected 2 for 9 codes of 4 bits");
}

namespace {
struct Stored {
  int packed = 0, as_float = 0;
  int factored = 0;  // codebooks stored as one level table and a scale per group
};

// The bundled model walked under `body`: each finished block through the checkpoint, read
// back through PackedBlockSource and compared bit for bit with the walked block.
Stored walk_through_checkpoint(const std::string& body) {
  TempDir dir;
  Experiment ex = load_experiment(write_bundled_experiment(dir / "exp.toml", body));
  const RunConfig& run = ex.runs.at(0);
  PluginRegistry reg = PluginRegistry::discover({});
  Pipeline pipeline = build_pipeline(run, reg);
  InMemorySource source(load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin"));
  std::vector<std::vector<int32_t>> calib(4, std::vector<int32_t>(64));
  for (size_t s = 0; s < calib.size(); ++s)
    for (size_t t = 0; t < 64; ++t) calib[s][t] = static_cast<int32_t>((s * 131 + t * 7) % 512);
  const LayerPlan plan = resolve_plan(run, source.config(), source.linears(), pipeline.needs());
  ActivationPlan act{run.act, {}};
  BlockCheckpoint checkpoint((dir / "log.h5").string(), "r0000");
  const PackedBlockSource packed(source, checkpoint);
  Stored stored;
  CallbackSink sink([&](const BlockResult& r, const Block& block, const ActivationPlan& a) {
    checkpoint.put(r, block, a);
    const Block back = packed.load_block(r.block);
    const auto want = block.linears();
    const auto got = back.linears();
    for (size_t i = 0; i < want.size(); ++i) {
      INFO(want[i]->name);
      CHECK(same_bits(got[i]->weight, want[i]->weight));
    }
    CHECK(back.attn_norm.weight == block.attn_norm.weight);
    CHECK(back.mlp_norm.weight == block.mlp_norm.weight);
    const auto f = SafetensorsFile::open(checkpoint.file(r.block));
    for (const Linear* l : want) {
      (f->has(l->name + ".packing") ? stored.packed : stored.as_float)++;
      stored.factored += f->has(l->name + ".levels");
    }
  });
  walk_layers(source, plan, calib, pipeline, act, sink, false);
  return stored;
}
}  // namespace

TEST_CASE("every built-in plugin's blocks are stored packed and rebuilt bit for bit", "[run][packed]") {
  // 5 blocks × 7 linears of the bundled model, all packed: each plugin's dequant is exactly
  // QuantizedLinear::dequantize of what it returned.
  const std::string uniform = "[quant]\nbits = 4\ngroup_size = 32\n";
  for (const std::string& pipeline : std::vector<std::string>{uniform + "[[pipeline]]\nplugin = \"rtn\"\n",
                                      "[quant]\nbits = 3\ngroup_size = 16\nsym = true\n[[pipeline]]\nplugin = \"rtn\"\n",
                                      uniform + "[[pipeline]]\nplugin = \"gptq\"\n",
                                      uniform + "[[pipeline]]\nplugin = \"gptq\"\nact_order = true\n",
                                      uniform + "[[pipeline]]\nplugin = \"awq\"\n[[pipeline]]\nplugin = \"rtn\"\n",
                                      "[quant]\nbits = 4\ngroup_size = 64\n[[pipeline]]\nplugin = \"nf4\"\n",
                                      "[quant]\nbits = 4\ngroup_size = 64\n[[pipeline]]\nplugin = \"nf4\"\ndouble_quant = true\n",
                                      "[quant]\nbits = 3\ngroup_size = 0\n[[pipeline]]\nplugin = \"cluster\"\n",
                                      "[quant]\nbits = 3\ngroup_size = 0\n[[pipeline]]\nplugin = \"cluster\"\nsparse_fraction = 0.01\n"}) {
    INFO(pipeline);
    const Stored stored = walk_through_checkpoint(pipeline);
    CHECK(stored.packed == 35);
    CHECK(stored.as_float == 0);
    // NF4's codebooks are its 16 levels times each group's absmax: 4 + 32/64 bits per weight
    // instead of 4 + 16·32/64; cluster's k-means centroids share no table.
    CHECK(stored.factored == (pipeline.find("nf4") != std::string::npos ? 35 : 0));
  }
}

namespace {
// Block 0 of the bundled model with q_proj replaced by a 256 × 1024 weight quantized by RTN
// at 4 bits, group 128 (asymmetric), checkpointed to dir/log.h5.blocks/r0000/block_0000.
struct G128Block {
  Block float_block, block;
  BlockCheckpoint checkpoint;
};
G128Block checkpoint_g128(const TempDir& dir) {
  static PluginRegistry reg = PluginRegistry::discover({});
  const LoadedPlugin& p = reg.get("rtn");
  PluginInstance inst(p, resolve_params(*p.descriptor, {}, "test"));
  G128Block g{InMemorySource(load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin")).load_block(0), {},
              BlockCheckpoint((dir / "log.h5").string(), "r0000")};
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  g.float_block.q.weight = Matrix(256, 1024);
  for (int64_t i = 0; i < g.float_block.q.weight.size(); ++i) g.float_block.q.weight.data()[i] = normal(rng);
  g.block = g.float_block;
  BlockResult r;
  r.quantized.push_back(quantize_linear(g.block.q, 0, {4, 128, 0, QLAB_RANGE_MINMAX}, inst, qlab_stats{}));
  g.block.q.weight = r.quantized[0].dequant;
  g.checkpoint.put(r, g.block, ActivationPlan{});
  return g;
}
}  // namespace

TEST_CASE("4-bit g128 is stored in 4 + 48/128 bits per weight: packed codes, f32 scales, exact fp16 zeros", "[run][packed]") {
  TempDir dir;
  G128Block g = checkpoint_g128(dir);
  const auto f = SafetensorsFile::open(g.checkpoint.file(0));
  const std::string q = g.block.q.name;
  REQUIRE(f->has(q + ".packing"));
  CHECK(!f->has(q));       // no float copy
  CHECK(!f->has(q + ".g_idx"));  // the trivial one is implied
  CHECK(f->info(q + ".scales").dtype == Dtype::f32);  // RTN scales are not fp16 numbers
  CHECK(f->info(q + ".zeros").dtype == Dtype::f16);   // integer zeros 0..15 are
  uint64_t bytes = 0;
  for (const char* part : {".packing", ".codes", ".scales", ".zeros"}) bytes += f->info(q + part).end - f->info(q + part).begin;
  // codes 256·1024·4 bits, per row 8 groups of a 32-bit scale and a 16-bit zero, 12 bytes of packing.
  CHECK(bytes == 256 * 1024 / 2 + 256 * 8 * (4 + 2) + 12);
  const double bits_per_weight = 8.0 * static_cast<double>(bytes) / (256.0 * 1024.0);
  CHECK(bits_per_weight <= 4 + 48.0 / 128 + 0.001);
  Block back = g.float_block;
  ActivationPlan ranges;
  g.checkpoint.restore(0, back, ranges);
  CHECK(same_bits(back.q.weight, g.block.q.weight));
  CHECK(same_bits(back.down.weight, g.block.down.weight));  // a float linear stays float
}

TEST_CASE("a corrupt or truncated packed block fails naming the file and the tensor", "[run][packed][bad-input]") {
  TempDir dir;
  G128Block g = checkpoint_g128(dir);
  const std::string path = g.checkpoint.file(0), q = g.block.q.name;
  // The same tensors rewritten with one tensor altered (or added).
  auto rewrite = [&](const std::string& altered, const std::function<TensorToWrite(const std::string&)>& make) {
    std::vector<TensorToWrite> tensors;
    {
      const auto f = SafetensorsFile::open(path);
      for (const auto& [name, info] : f->tensors()) {
        if (name == altered) tensors.push_back(make(name));
        else if (info.dtype == Dtype::i32) tensors.push_back(i32_tensor(name, info.shape, f->to_i32(name).data()));
        else tensors.push_back(f32_tensor(name, info.shape, f->to_matrix(name).data()));
      }
      if (!f->has(altered)) tensors.push_back(make(altered));
    }
    write_safetensors(path, tensors);
  };
  auto restore = [&] {
    Block back = g.float_block;
    ActivationPlan ranges;
    g.checkpoint.restore(0, back, ranges);
  };
  SECTION("codes one word short") {
    const std::vector<int32_t> words(256 * 1024 * 4 / 32 - 1, 0);
    rewrite(q + ".codes", [&](const std::string& n) { return i32_tensor(n, {static_cast<int64_t>(words.size())}, words.data()); });
    CHECK_THROWS_WITH(restore(), path + ": tensor '" + q + ".codes': 32767 packed words, expected 32768 for 262144 codes of 4 bits");
  }
  SECTION("scales of the wrong shape") {
    const std::vector<float> scales(256 * 4, 1.0f);
    rewrite(q + ".scales", [&](const std::string& n) { return f32_tensor(n, {256, 4}, scales.data()); });
    CHECK_THROWS_WITH(restore(), path + ": tensor '" + q + ".scales' has shape [256, 4], expected [256, 8]");
  }
  SECTION("a bit width out of range") {
    const int32_t packing[3] = {9, 8, 128};
    rewrite(q + ".packing", [&](const std::string& n) { return i32_tensor(n, {3}, packing); });
    CHECK_THROWS_WITH(restore(), path + ": tensor '" + q + ".packing' holds 9 bits, 8 groups per row and 128 columns per group for 1024 columns");
  }
  SECTION("a g_idx past the groups") {
    std::vector<int32_t> g_idx(1024, 0);
    g_idx[5] = 8;
    rewrite(q + ".g_idx", [&](const std::string& n) { return i32_tensor(n, {1024}, g_idx.data()); });
    CHECK_THROWS_WITH(restore(), path + ": " + q + ": g_idx[5] = 8 is outside 0..7");
  }
  SECTION("the file truncated") {
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 1000);
    CHECK_THROWS_WITH(restore(), Catch::Contains(path + ": tensor '"));
  }
  SECTION("the file missing") {
    std::filesystem::remove(path);
    CHECK_THROWS_WITH(restore(), Catch::Contains(path + ": --resume: the finished block's weights are missing"));
  }
}
