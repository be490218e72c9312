// Architectures as data: one table per family says what a block holds (each tensor's slot,
// its name inside the layer, which is both qlab's id after "<block>." and the Hugging Face
// name after "<layers prefix><block>."), which linears share an input, which producers can
// carry a per-channel scale into which consumers, and the kinds block_forward dispatches on.
// Loaders, block_layout and the walker's groups all read these rows; nothing else spells a
// tensor name or asks "is this OPT?". llm-compressor's LayerMap and ggml's type_traits, as C++.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"

namespace qlab {

// A size the config decides.
enum class Dim { model, q, kv, hidden, head, n_experts };
int64_t dim_size(const ModelConfig& config, Dim d);

enum class TensorKind { linear, norm };
enum class BiasRule { optional, required };  // loaded when present, or refused when missing

// One tensor of a block. Names holding "{e}" repeat once per expert (e = 0..n_experts-1).
struct TensorRow {
  Slot slot;
  TensorKind kind;
  const char* name;  // "self_attn.q_proj", "fc1", "block_sparse_moe.experts.{e}.w1"
  Dim rows, cols;    // linears: out × in; norms: rows = the weight's length (cols unused)
  BiasRule bias = BiasRule::optional;
  bool per_expert() const;
};

// A producer whose output feeds only its consumers (see ScalableGroup). The group exists
// only where scaling keeps the block's function: a norm producer in pre-norm blocks (a
// post-norm output also feeds the residual), a linear producer when every consumer's input
// width equals its output width (not under grouped-query attention for v → o).
struct GroupRow {
  Slot producer;
  std::vector<Slot> consumers;
  Inspect inspect = Inspect::consumers;
};

struct Arch {
  std::string family;                      // ModelConfig::arch: "llama", "opt", "qwen3", "mixtral"
  std::vector<std::string> hf_names;       // config.json architectures[0] or model_type
  NormKind norm = NormKind::rms;
  MlpKind mlp = MlpKind::swiglu;
  PositionKind position = PositionKind::rope;
  std::vector<TensorRow> tensors;          // forward order
  std::vector<std::vector<Slot>> input_groups;  // slots sharing an input, forward order
  std::vector<GroupRow> scalable_groups;
  const char* final_norm = "norm";  // the norm after the last block: "norm", OPT's "final_layer_norm"
  bool has(Slot s) const;
  const TensorRow& row(Slot s) const;
};

// Every family qlab knows, one file each (arch_llama.cpp, arch_opt.cpp, arch_qwen3.cpp,
// arch_mixtral.cpp).
const std::vector<const Arch*>& arch_table();
const Arch& arch_llama();
const Arch& arch_opt();
const Arch& arch_qwen3();
const Arch& arch_mixtral();
// By ModelConfig::arch; throws naming the family and the known ones.
const Arch& arch_of(const std::string& family);
// By config.json's architectures[0] or model_type; nullptr when unknown.
const Arch* arch_for_hf_name(const std::string& name);

// A tensor's names inside block `index`, one per expert for per-expert rows.
std::vector<std::string> tensor_names(const TensorRow& row, int64_t index, int64_t n_experts);

// An empty block of the family: every name set, no weight allocated.
Block named_block(const Arch& arch, int64_t index);

}  // namespace qlab
