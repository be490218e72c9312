// File-backed weight sources: blocks served one at a time equal the whole-model load, the
// names and shapes are known before any weight is read, and a bad file fails at open.
#include <catch2/catch.hpp>

#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>

#include "format/hf_loader.h"
#include "format/hf_source.h"
#include "format/llama2c_loader.h"
#include "format/model_loader.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "support/llama_family_ref.h"
#include "tensor/half.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::filesystem::path kBundled = source_dir() / "datasets/stories260K/stories260K.bin";

void check_same_blocks(const WeightSource& src, const Model& whole) {
  REQUIRE(src.n_blocks() == int64_t(whole.blocks.size()));
  for (int64_t i = src.n_blocks() - 1; i >= 0; --i) {  // any order: each block is read on its own
    Block b = src.load_block(i);
    const Block& w = whole.blocks[size_t(i)];
    REQUIRE(b.linears().size() == w.linears().size());
    for (size_t j = 0; j < w.linears().size(); ++j) {
      CHECK(b.linears()[j]->name == w.linears()[j]->name);
      CHECK(b.linears()[j]->weight == w.linears()[j]->weight);
      CHECK(b.linears()[j]->bias == w.linears()[j]->bias);
    }
    REQUIRE(b.norms().size() == w.norms().size());
    for (size_t j = 0; j < w.norms().size(); ++j) CHECK(b.norms()[j]->weight == w.norms()[j]->weight);
  }
}

void check_same_shapes(const WeightSource& src, Model whole) {
  std::vector<LinearShape> shapes = src.linears();
  std::vector<Linear*> linears = whole.linears();
  REQUIRE(shapes.size() == linears.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    CHECK(shapes[i].name == linears[i]->name);
    CHECK(shapes[i].out_features == linears[i]->out_features());
    CHECK(shapes[i].in_features == linears[i]->in_features());
    CHECK(shapes[i].has_bias == (linears[i]->bias.size() > 0));
  }
}
}  // namespace

TEST_CASE("llama2.c source: blocks read by seeking equal the Hugging Face copy's", "[weight_source]") {
  TempDir dir;
  auto src = open_weight_source(kBundled);
  Model whole = src->load_model();
  // An independent path to the same weights: the directory written from the whole model.
  write_hf_llama(whole, dir / "hf");
  HfSource hf(dir / "hf");
  check_same_blocks(hf, whole);
  check_same_blocks(*src, load_hf_model(dir / "hf"));
  check_same_shapes(*src, whole);
  const Model outer = src->load_outer();
  CHECK(outer.blocks.empty());
  CHECK(outer.embed_tokens.size() == 0);  // the vocabulary tables are read a few rows at a time
  CHECK(outer.lm_head.weight.size() == 0);
  const std::vector<int32_t> ids{511, 0, 7, 8, 9};
  for (VocabTable t : {VocabTable::embedding, VocabTable::head}) {
    const Matrix rows = src->vocab_rows(t, ids), from_hf = hf.vocab_rows(t, ids);
    const Matrix& table = t == VocabTable::embedding ? whole.embed_tokens : whole.lm_head.weight;
    for (size_t i = 0; i < ids.size(); ++i) {
      CHECK(rows.row(static_cast<int64_t>(i)) == table.row(ids[i]));
      CHECK(from_hf.row(static_cast<int64_t>(i)) == table.row(ids[i]));
    }
  }
  const std::vector<int32_t> outside{3, 512};
  REQUIRE_THROWS_WITH(src->vocab_rows(VocabTable::embedding, outside), Catch::Contains("token id 512 is outside the model's vocabulary of 512"));
  REQUIRE_THROWS_WITH(hf.vocab_rows(VocabTable::head, outside), Catch::Contains("token id 512 is outside the model's vocabulary of 512"));
  REQUIRE_THROWS_WITH(src->load_block(5), Catch::Contains("block 5 requested, the model has 5"));
}

TEST_CASE("Hugging Face source: names, shapes and blocks without loading the model, bad files fail at open", "[weight_source]") {
  TempDir dir;
  LlamaShape s;
  s.arch = "Qwen3ForCausalLM";
  s.qk_norm = true;
  s.layers = 3;
  TensorMap t = random_llama(s, 4);
  write_hf_dir(dir / "q", llama_config(s), t);
  auto src = open_weight_source(dir / "q");
  CHECK(src->config().arch == "qwen3");
  Model whole = load_model(dir / "q");
  check_same_blocks(*src, whole);
  check_same_shapes(*src, whole);
  // Blocks hold the file's values: block 2's k_norm is the tensor written.
  Block b = src->load_block(2);
  const auto& k_norm = t.at("model.layers.2.self_attn.k_norm.weight").data;
  for (int64_t i = 0; i < s.head_dim; ++i) CHECK(b.k_norm.weight[i] == k_norm[size_t(i)]);

  // A wrong shape in the last block is found when the directory is opened, not at block 2.
  TensorMap bad = t;
  bad["model.layers.2.mlp.down_proj.weight"] = {{s.hidden, s.ffn + 1}, std::vector<float>(size_t(s.hidden * (s.ffn + 1)), 0.0f)};
  write_hf_dir(dir / "bad", llama_config(s), bad);
  REQUIRE_THROWS_WITH(open_weight_source(dir / "bad"),
                      Catch::Contains("tensor 'model.layers.2.mlp.down_proj.weight' has shape [32, 49], the config needs [32, 48]"));
  // Non-finite values are found when the block holding them is converted.
  bad = t;
  bad["model.layers.1.self_attn.q_norm.weight"].data[2] = std::nanf("");
  write_hf_dir(dir / "nan", llama_config(s), bad);
  auto nan_src = open_weight_source(dir / "nan");
  CHECK_NOTHROW(nan_src->load_block(0));
  REQUIRE_THROWS_WITH(nan_src->load_block(1), Catch::Contains("tensor '1.self_attn.q_norm' has a non-finite value"));
}

namespace {
// Resident-set figures of this process from /proc/self/status, in bytes.
int64_t status_bytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;  // "VmHWM:  1234 kB"
  FAIL("no " << key << " in /proc/self/status");
  return 0;
}

// Resident bytes of the mappings of `file` (the safetensors reader's map), from /proc/self/smaps.
int64_t mapped_rss(const std::filesystem::path& file) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool inside = false;
  int64_t total = 0;
  while (std::getline(in, line)) {
    const bool header = !line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < line.find(' ');
    if (header) inside = line.size() >= file.string().size() && line.compare(line.size() - file.string().size(), std::string::npos, file.string()) == 0;
    else if (inside && line.rfind("Rss:", 0) == 0) total += std::stoll(line.substr(4)) * 1024;
  }
  return total;
}

// IEEE half decoded by hand (normal and subnormal; the test writes no Inf/NaN).
float half_ref(uint16_t h) {
  const int e = (h >> 10) & 31, m = h & 1023;
  const double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return static_cast<float>(h >> 15 ? -v : v);
}
}  // namespace

TEST_CASE("Hugging Face source: an fp16 walk keeps one block resident and reads the file's values exactly", "[weight_source]") {
  TempDir dir;
  LlamaShape s;
  s.hidden = 256, s.ffn = 704, s.layers = 16, s.heads = s.kv_heads = 4, s.head_dim = 64, s.vocab = 64;
  std::map<std::string, std::vector<uint16_t>> codes;
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : random_llama(s, 7)) {
    TensorToWrite w{name, Dtype::f16, t.shape, std::vector<uint8_t>(t.data.size() * 2)};
    std::vector<uint16_t>& c = codes[name];
    for (float x : t.data) c.push_back(f32_to_f16(x));
    std::memcpy(w.bytes.data(), c.data(), w.bytes.size());
    out.push_back(std::move(w));
  }
  std::filesystem::create_directories(dir / "m");
  write_safetensors(dir / "m" / "model.safetensors", out);
  std::ofstream(dir / "m" / "config.json") << llama_config(s).dump();
  auto src = open_weight_source(dir / "m");

  // One block's need while it is read: its float32 copy plus its mapped fp16 pages.
  const int64_t block_params = 4 * s.hidden * s.hidden + 3 * s.hidden * s.ffn + 2 * s.hidden;
  const int64_t block_need = block_params * (4 + 2);
  const Block first = src->load_block(0);
  {
    std::ofstream reset("/proc/self/clear_refs");  // "5": VmHWM restarts from the current RSS
    reset << "5";
  }
  const int64_t before = status_bytes("VmRSS");
  REQUIRE(status_bytes("VmHWM") <= before + 4096 * 16);  // the reset took effect (else the check below could not fail)
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t i = 0; i < s.layers; ++i) src->load_block(i);
  // Kept resident, the walk's file pages alone (16 blocks × 2 bytes/param, 26 MB) would be
  // 4× one block's need; the margin of two blocks' need leaves one for the allocator's
  // retained free memory and thread stacks.
  const int64_t growth = status_bytes("VmHWM") - before;
  INFO("VmHWM grew " << growth << " bytes; one block needs " << block_need << ", the file holds "
                     << s.layers * block_params * 2 << " bytes of blocks");
  CHECK(growth < 2 * block_need);
  // The file's pages were released after each block's conversion: none of the map stays resident.
  CHECK(mapped_rss(dir / "m" / "model.safetensors") == 0);

  // Pages released and read again give the file's values, decoded exactly.
  const Block again = src->load_block(0);
  CHECK(again.q.weight == first.q.weight);
  CHECK(again.down.weight == first.down.weight);
  const std::vector<uint16_t>& down = codes.at("model.layers.0.mlp.down_proj.weight");
  for (int64_t r = 0; r < s.hidden; r += 37)
    for (int64_t c = 0; c < s.ffn; c += 53) CHECK(again.down.weight(r, c) == half_ref(down[size_t(r * s.ffn + c)]));
}

TEST_CASE("Hugging Face source: a file that goes away or changes mid-run fails naming it, and reads again once restored", "[weight_source]") {
  TempDir dir;
  LlamaShape s;
  s.layers = 2;
  write_hf_dir(dir / "m", llama_config(s), random_llama(s, 5));
  const std::filesystem::path file = dir / "m" / "model.safetensors", aside = dir / "aside.safetensors";
  auto src = open_weight_source(dir / "m");
  const Block before = src->load_block(1);
  std::filesystem::rename(file, aside);
  REQUIRE_THROWS_WITH(src->load_block(1), Catch::Contains(file.string() + ": the file went away while qlab was reading it"));
  const std::vector<int32_t> ids{1, 2};
  REQUIRE_THROWS_WITH(src->vocab_rows(VocabTable::embedding, ids), Catch::Contains(file.string() + ": the file went away"));
  std::filesystem::rename(aside, file);  // back where it was: the same file, so reading goes on
  CHECK(src->load_block(1).down.weight == before.down.weight);
  // A different file in its place (as a copy, or a re-download, would be) is refused.
  std::filesystem::copy_file(file, aside);
  std::filesystem::remove(file);
  std::filesystem::rename(aside, file);
  REQUIRE_THROWS_WITH(src->load_block(0), Catch::Contains(file.string() + ": the file was replaced or changed size"));
  CHECK(open_weight_source(dir / "m")->load_block(1).down.weight == before.down.weight);  // a new run (--resume) reads it
}
