// Architectures as data: Qwen3 and Llama-3.x rope scaling against naive references in the
// test, the table's layouts (block_layout) equal to loaded blocks' groups, and a
// mixture-of-experts block described by the table.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "format/hf_loader.h"
#include "forward/forward.h"
#include "forward/rope.h"
#include "model/arch.h"
#include "model/block_layout.h"
#include "support/hf_dir.h"
#include "support/llama2c_file.h"
#include "support/llama_family_ref.h"
#include "support/skip.h"
#include "support/compare.h"

using namespace qlab;
using namespace qlab::test;

namespace {
// Loads `s` written as a Hugging Face directory and returns its logits with the reference's.
double logits_vs_reference(const std::filesystem::path& dir, const LlamaShape& s, unsigned seed, int n_tokens) {
  TensorMap t = random_llama(s, seed);
  write_hf_dir(dir, llama_config(s), t);
  Model m = load_hf_model(dir);
  std::vector<int32_t> tokens = some_tokens(n_tokens, int(s.vocab));
  return max_rel(forward_logits(m, tokens), naive_llama_logits(s, t, tokens));
}
}  // namespace

TEST_CASE("Qwen3: per-head q/k norms, explicit head_dim, tied embeddings match a naive reference", "[arch]") {
  TempDir dir;
  LlamaShape s;
  s.arch = "Qwen3ForCausalLM";
  s.qk_norm = true;
  s.tied = true;
  s.head_dim = 16;  // not hidden / heads = 8
  s.theta = 1000000.0;
  CHECK(logits_vs_reference(dir / "qwen3", s, 11, 24) < 1e-5);
  Model m = load_hf_model(dir / "qwen3");
  CHECK(m.config.arch == "qwen3");
  CHECK(m.config.head_dim == 16);
  CHECK(m.blocks[1].q_norm.name == "1.self_attn.q_norm");
  CHECK(m.blocks[1].q.weight.rows() == 4 * 16);
  // Without q/k norms the same weights are another function: the reference would catch a skipped norm.
  s.arch = "LlamaForCausalLM";
  s.qk_norm = false;
  CHECK(logits_vs_reference(dir / "llama_hd16", s, 11, 24) < 1e-5);
}

TEST_CASE("Qwen3: a missing q_norm is refused naming the tensor", "[arch]") {
  TempDir dir;
  LlamaShape s;
  s.arch = "Qwen3ForCausalLM";
  s.qk_norm = true;
  TensorMap t = random_llama(s, 3);
  t.erase("model.layers.1.self_attn.k_norm.weight");
  write_hf_dir(dir / "q", llama_config(s), t);
  REQUIRE_THROWS_WITH(load_hf_model(dir / "q"), Catch::Contains("missing tensor 'model.layers.1.self_attn.k_norm.weight'"));
}

TEST_CASE("rope scaling: llama3, linear and dynamic match transformers' frequencies in a naive reference", "[arch]") {
  TempDir dir;
  LlamaShape s;
  s.head_dim = 16;
  s.heads = 2;
  s.kv_heads = 1;
  // With head_dim 16 and theta 1e4 the wavelengths run 6.3 .. 2e4: original 16 with factors
  // 1 and 4 puts j = 0 in the smoothed band and the rest in the slowed one.
  s.rope_scaling = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                    {"original_max_position_embeddings", 16}};
  CHECK(logits_vs_reference(dir / "llama3", s, 5, 30) < 1e-5);
  s.rope_scaling = {{"type", "linear"}, {"factor", 4.0}};
  CHECK(logits_vs_reference(dir / "linear", s, 5, 30) < 1e-5);
  // Dynamic NTK raises the base only past the original context: 30 tokens against 12.
  s.rope_scaling = {{"rope_type", "dynamic"}, {"factor", 2.0}, {"original_max_position_embeddings", 12}};
  CHECK(logits_vs_reference(dir / "dynamic", s, 5, 30) < 1e-5);

  // The scaled frequencies differ from the unscaled ones where the math says they must.
  ModelConfig c;
  c.head_dim = 16;
  c.rope_theta = 10000.0f;
  const std::vector<float> plain = rope_inv_freq(c, 30);
  c.rope_scaling = {RopeScalingKind::llama3, 8.0, 1.0, 4.0, 16};
  const std::vector<float> l3 = rope_inv_freq(c, 30);
  // j = 0: wavelength 2π lies in [16/4, 16/1]: smooth = (16/2π - 1)/3, mixed with 1/8 of itself.
  const double smooth = (16.0 / (2 * std::numbers::pi) - 1.0) / 3.0;
  CHECK(l3[0] == Approx((1 - smooth) / 8.0 + smooth).epsilon(1e-6));
  for (size_t j = 1; j < plain.size(); ++j) CHECK(l3[j] == Approx(plain[j] / 8.0).epsilon(1e-6));
}

TEST_CASE("rope scaling: absent, null or dynamic within the original context equals the unscaled path exactly", "[arch]") {
  TempDir dir;
  LlamaShape s;
  TensorMap t = random_llama(s, 9);
  std::vector<int32_t> tokens = some_tokens(20, int(s.vocab));
  write_hf_dir(dir / "none", llama_config(s), t);
  const Matrix plain = forward_logits(load_hf_model(dir / "none"), tokens);
  nlohmann::json c = llama_config(s);
  c["rope_scaling"] = nullptr;
  write_hf_dir(dir / "null", c, t);
  CHECK(forward_logits(load_hf_model(dir / "null"), tokens) == plain);
  c["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 4.0}};  // original = max_position_embeddings = 64 > 20
  write_hf_dir(dir / "dyn", c, t);
  CHECK(forward_logits(load_hf_model(dir / "dyn"), tokens) == plain);
  c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"original_max_position_embeddings", 16}};
  write_hf_dir(dir / "bad", c, t);
  REQUIRE_THROWS_WITH(load_hf_model(dir / "bad"), Catch::Contains("config.json") && Catch::Contains("'llama3' needs a number 'low_freq_factor'"));
}

TEST_CASE("block_layout: the table's names and groups equal the loaded block's", "[arch]") {
  TempDir dir;
  auto same = [](Model& m) {
    for (Block& b : m.blocks) {
      BlockLayout layout = block_layout(m.config, b.index);
      std::vector<std::string> names;
      for (const Linear* l : b.linears()) names.push_back(l->name);
      std::vector<std::string> layout_names;
      for (size_t i = 0; i < layout.linears.size(); ++i) {
        layout_names.push_back(layout.linears[i].name);
        CHECK(layout.linears[i].out_features == b.linears()[i]->out_features());
        CHECK(layout.linears[i].in_features == b.linears()[i]->in_features());
      }
      CHECK(layout_names == names);
      std::vector<std::vector<std::string>> groups;
      for (const auto& g : b.input_groups()) {
        groups.emplace_back();
        for (const Linear* l : g) groups.back().push_back(l->name);
      }
      CHECK(layout.input_groups == groups);
      std::vector<ScalableGroup> sg = b.scalable_groups(m.config);
      REQUIRE(layout.scalable_groups.size() == sg.size());
      for (size_t i = 0; i < sg.size(); ++i) {
        CHECK(layout.scalable_groups[i].producer == sg[i].name);
        CHECK(layout.scalable_groups[i].producer_kind == sg[i].producer_kind);
        CHECK(layout.scalable_groups[i].inspect == sg[i].inspect);
        std::vector<std::string> consumers;
        for (const Linear* l : sg[i].consumers) consumers.push_back(l->name);
        CHECK(layout.scalable_groups[i].consumers == consumers);
      }
    }
  };
  LlamaShape s;  // GQA: no v → o group
  s.arch = "Qwen3ForCausalLM";
  s.qk_norm = true;
  write_hf_dir(dir / "qwen3", llama_config(s), random_llama(s, 1));
  Model qwen = load_hf_model(dir / "qwen3");
  same(qwen);
  CHECK(block_layout(qwen.config, 0).scalable_groups.size() == 3);
  s = LlamaShape{};
  s.kv_heads = s.heads;  // v → o scalable
  write_hf_dir(dir / "llama", llama_config(s), random_llama(s, 2));
  Model llama = load_hf_model(dir / "llama");
  same(llama);
  CHECK(block_layout(llama.config, 1).scalable_groups[1].producer == "1.self_attn.v_proj");
  for (bool pre_norm : {true, false}) {
    OptShape shape{32, 64, 2, 4, 50, 64, 32, pre_norm};
    write_hf_dir(dir / (pre_norm ? "pre" : "post"), opt_config(shape), random_opt(shape, 5));
    Model opt = load_hf_model(dir / (pre_norm ? "pre" : "post"));
    same(opt);
    CHECK(block_layout(opt.config, 0).scalable_groups.size() == (pre_norm ? 4u : 2u));
  }
}

TEST_CASE("mixture of experts: the table describes a Mixtral block's names and groups", "[arch]") {
  ModelConfig c;
  c.arch = "mixtral";
  c.dim = 16;
  c.hidden_dim = 24;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.head_dim = 4;
  c.n_experts = 3;
  BlockLayout l = block_layout(c, 2);
  std::vector<std::string> names;
  for (const LinearShape& s : l.linears) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"2.self_attn.q_proj", "2.self_attn.k_proj", "2.self_attn.v_proj", "2.self_attn.o_proj",
                                          "2.block_sparse_moe.gate", "2.block_sparse_moe.experts.0.w1",
                                          "2.block_sparse_moe.experts.1.w1", "2.block_sparse_moe.experts.2.w1",
                                          "2.block_sparse_moe.experts.0.w3", "2.block_sparse_moe.experts.1.w3",
                                          "2.block_sparse_moe.experts.2.w3", "2.block_sparse_moe.experts.0.w2",
                                          "2.block_sparse_moe.experts.1.w2", "2.block_sparse_moe.experts.2.w2"});
  CHECK(l.linears[4].out_features == 3);   // router: one logit per expert
  CHECK(l.linears[4].in_features == 16);
  CHECK(l.linears[13].out_features == 16);  // w2: hidden → model
  CHECK(l.linears[13].in_features == 24);
  // Each expert sees its own tokens: its w1/w3 and its w2 are input groups of their own.
  using G = std::vector<std::string>;
  CHECK(l.input_groups == std::vector<G>{{"2.self_attn.q_proj", "2.self_attn.k_proj", "2.self_attn.v_proj"},
                                         {"2.self_attn.o_proj"},
                                         {"2.block_sparse_moe.gate"},
                                         {"2.block_sparse_moe.experts.0.w1", "2.block_sparse_moe.experts.0.w3"},
                                         {"2.block_sparse_moe.experts.1.w1", "2.block_sparse_moe.experts.1.w3"},
                                         {"2.block_sparse_moe.experts.2.w1", "2.block_sparse_moe.experts.2.w3"},
                                         {"2.block_sparse_moe.experts.0.w2"},
                                         {"2.block_sparse_moe.experts.1.w2"},
                                         {"2.block_sparse_moe.experts.2.w2"}});
  // The MLP norm feeds the router and every expert; each expert's w3 feeds its own w2.
  REQUIRE(l.scalable_groups.size() == 6);
  CHECK(l.scalable_groups[2].producer == "2.post_attention_layernorm");
  CHECK(l.scalable_groups[2].producer_kind == ProducerKind::norm);
  CHECK(l.scalable_groups[2].inspect == Inspect::mlp);
  CHECK(l.scalable_groups[2].consumers.size() == 7);
  CHECK(l.scalable_groups[2].consumers[0] == "2.block_sparse_moe.gate");
  for (int e = 0; e < 3; ++e) {
    CHECK(l.scalable_groups[3 + e].producer == fmt::format("2.block_sparse_moe.experts.{}.w3", e));
    CHECK(l.scalable_groups[3 + e].producer_kind == ProducerKind::linear);
    CHECK(l.scalable_groups[3 + e].consumers == G{fmt::format("2.block_sparse_moe.experts.{}.w2", e)});
  }
  CHECK(arch_for_hf_name("MixtralForCausalLM") == &arch_mixtral());
  REQUIRE_THROWS_WITH(named_block(arch_mixtral(), 0), Catch::Contains("described by the table but not run yet"));
}
