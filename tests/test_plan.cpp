// The resolved plan (core/plan/): overrides applied in file order with their file:line,
// true-sequential stages, statistics and the groups offered to scaling transforms, all from
// names and shapes; and the walker doing what the plan says, not what the config says.
#include <catch2/catch.hpp>
#include <fstream>

#include "config/experiment.h"
#include "format/llama2c_loader.h"
#include "model/weight_source.h"
#include "plan/layer_plan.h"
#include "plan/plan_print.h"
#include "plugin_host/plugin_loader.h"
#include "support/llama2c_file.h"
#include "support/walk_model.h"
#include "walk/layer_walker.h"
#include "walk/pipeline.h"

using namespace qlab;
using namespace qlab::test;

namespace {

// stories260K: 5 blocks of q 64×64, k/v 32×64, o 64×64, gate/up 172×64, down 64×172.
const InMemorySource& bundled() {
  static const InMemorySource source(load_llama2c(source_dir() / "datasets/stories260K/stories260K.bin"));
  return source;
}

RunConfig run_of(const TempDir& dir, const std::string& body) {
  std::ofstream(dir / "e.toml") << "[model]\npath = \"unused\"\n" << body;
  return load_experiment((dir / "e.toml").string()).runs.at(0);
}

std::vector<std::vector<int32_t>> calibration() {
  std::vector<std::vector<int32_t>> calib(4, std::vector<int32_t>(64));
  for (size_t s = 0; s < calib.size(); ++s)
    for (size_t t = 0; t < 64; ++t) calib[s][t] = static_cast<int32_t>((s * 131 + t * 7) % 512);
  return calib;
}

}  // namespace

TEST_CASE("the plan applies overrides in file order, later rules winning, and names each matching rule's file:line", "[plan]") {
  TempDir dir;
  const RunConfig run = run_of(dir, "[quant]\nbits = 4\ngroup_size = 32\n"           // lines 2-4
                                    "[[override]]\nmatch = \"*.mlp.down_proj\"\nbits = 8\ngroup_size = 0\n"  // 5-8
                                    "[[override]]\nmatch = \"3.*\"\nskip = true\n"     // 9-11
                                    "[[override]]\nmatch = \"3.mlp.down_proj\"\nskip = false\nsym = true\n"  // 12-15
                                    "[[pipeline]]\nplugin = \"rtn\"\n");
  const LayerPlan plan = resolve_plan(run, bundled().config(), bundled().linears(), {});
  REQUIRE(plan.blocks.size() == 5);
  REQUIRE(plan.blocks[0].linears.size() == 7);

  const LinearPlan* q0 = plan.find("0.self_attn.q_proj");
  REQUIRE(q0->format);
  CHECK(q0->format->bits == 4);
  CHECK(q0->format->group_size == 32);
  CHECK(q0->rules.empty());
  CHECK(q0->stats == QLAB_STAT_HESSIAN);  // rtn declares nothing; the host's error measure needs H

  const LinearPlan* down0 = plan.find("0.mlp.down_proj");
  CHECK(down0->format->bits == 8);
  CHECK(down0->format->group_size == 0);
  CHECK(down0->format->sym == 0);
  // The rule is named by its match line.
  CHECK(down0->rules == std::vector<std::string>{dir.path().string() + "/e.toml:6 *.mlp.down_proj"});

  const LinearPlan* o3 = plan.find("3.self_attn.o_proj");
  CHECK(!o3->format);
  CHECK(o3->stats == 0);

  // Skipped by "3.*", brought back by the later rule, with bits from the first and sym from the last.
  const LinearPlan* down3 = plan.find("3.mlp.down_proj");
  REQUIRE(down3->format);
  CHECK(down3->format->bits == 8);
  CHECK(down3->format->sym == 1);
  CHECK(down3->rules.size() == 3);
  CHECK(down3->out_features == 64);
  CHECK(down3->in_features == 172);
  CHECK(plan.find("lm_head") == nullptr);  // outside the blocks: never walked
}

TEST_CASE("true_sequential plans one stage per input group, otherwise one stage for the block", "[plan]") {
  TempDir dir;
  const LayerPlan one = resolve_plan(run_of(dir, "[[pipeline]]\nplugin = \"rtn\"\n"), bundled().config(), bundled().linears(), {});
  CHECK(one.blocks[2].stages == std::vector<std::vector<size_t>>{{}});
  for (const LinearPlan& l : one.blocks[2].linears) CHECK(l.stage == 0);
  const LayerPlan seq = resolve_plan(run_of(dir, "[walker]\ntrue_sequential = true\n[[pipeline]]\nplugin = \"rtn\"\n"), bundled().config(),
                                     bundled().linears(), {});
  CHECK(seq.blocks[2].stages == std::vector<std::vector<size_t>>{{0}, {1}, {2}, {3}});
  const std::vector<int32_t> want = {0, 0, 0, 1, 2, 2, 3};  // q k v | o | gate up | down
  for (size_t i = 0; i < want.size(); ++i) CHECK(seq.blocks[2].linears[i].stage == want[i]);
}

TEST_CASE("scaling transforms are offered only the groups whose first consumer is quantized", "[plan]") {
  TempDir dir;
  const RunConfig run = run_of(dir, "[[override]]\nmatch = \"1.self_attn.q_proj\"\nskip = true\n[[pipeline]]\nplugin = \"rtn\"\n");
  const LayerPlan none = resolve_plan(run, bundled().config(), bundled().linears(), {});
  CHECK(none.blocks[0].offered_groups.empty());  // no group-scope transform, nothing offered
  PipelineNeeds needs;
  needs.group_transforms = true;
  needs.group_stats = QLAB_STAT_ABS_MEAN;
  const LayerPlan plan = resolve_plan(run, bundled().config(), bundled().linears(), needs);
  CHECK(plan.group_stats == QLAB_STAT_ABS_MEAN);
  // LLaMA with GQA: v (32 rows) cannot be scaled into o (64 columns): norm→qkv, norm→gate/up, up→down.
  std::vector<std::string> producers;
  for (const GroupLayout& g : plan.blocks[0].offered_groups) producers.push_back(g.producer);
  CHECK(producers == std::vector<std::string>{"0.input_layernorm", "0.post_attention_layernorm", "0.mlp.up_proj"});
  REQUIRE(plan.blocks[1].offered_groups.size() == 2);  // q skipped: its norm group is kept float
  CHECK(plan.blocks[1].offered_groups[0].producer == "1.post_attention_layernorm");
}

TEST_CASE("the walker quantizes what the plan says, not what the config says, and reports it as executed", "[plan][walker]") {
  TempDir dir;
  const RunConfig run = run_of(dir, "[quant]\nbits = 3\ngroup_size = 16\n[walker]\ntrue_sequential = true\n"
                                    "[[override]]\nmatch = \"*.mlp.down_proj\"\nbits = 8\n[[pipeline]]\nplugin = \"rtn\"\n");
  PluginRegistry reg = PluginRegistry::discover({});
  Pipeline pipeline = build_pipeline(run, reg);
  LayerPlan plan = resolve_plan(run, bundled().config(), bundled().linears(), pipeline.needs());
  // Edited by hand: block 2's o_proj kept float, block 4's q_proj at 5 bits.
  for (LinearPlan& l : plan.blocks[2].linears)
    if (l.id == "2.self_attn.o_proj") {
      l.format.reset();
      l.stats = 0;
    }
  for (LinearPlan& l : plan.blocks[4].linears)
    if (l.id == "4.self_attn.q_proj") l.format->bits = 5;

  const Model float_model = bundled().load_model();
  InMemorySource source(float_model);
  ActivationPlan act{run.act, {}};
  std::map<std::string, int32_t> bits;
  size_t quantized = 0;
  std::vector<Block> walked;
  CallbackSink sink([&](const BlockResult& r, const Block& block, const ActivationPlan&) {
    walked.push_back(block);
    for (const LinearRow& row : r.linears) bits[row.id] = row.bits;
    quantized += r.quantized.size();
    CHECK(r.quantized.size() == r.linears.size());
    for (const QuantizedLinear& q : r.quantized)  // the sink receives the product, and the block holds its dequantized weight
      for (const Linear* l : block.linears())
        if (l->name == q.name) CHECK(l->weight == q.dequant);
  });
  const LayerPlan executed = walk_layers(source, plan, calibration(), pipeline, act, sink, false);
  CHECK(quantized == 5 * 7 - 1);
  CHECK(bits.count("2.self_attn.o_proj") == 0);
  CHECK(walked.at(2).o.weight == float_model.blocks[2].o.weight);
  CHECK(bits.at("4.self_attn.q_proj") == 5);
  CHECK(bits.at("4.self_attn.k_proj") == 3);
  CHECK(bits.at("1.mlp.down_proj") == 8);
  CHECK(plan_text(executed) == plan_text(plan));
  const LinearPlan* o2 = executed.find("2.self_attn.o_proj");
  CHECK(!o2->format);
  CHECK(o2->stats == 0);
  CHECK(o2->stage == 1);
}
