// The model in memory: data only. Blocks of named linears and norms, addressed by their
// Hugging Face names ("3.self_attn.q_proj", "3.mlp.down_proj", "lm_head"), so quantization
// code can find any linear or norm without knowing where it came from.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tensor/hadamard.h"
#include "tensor/tensor.h"

namespace qlab {

enum class NormKind { rms, layer };       // RMSNorm (LLaMA) or LayerNorm with bias (OPT)
enum class MlpKind { swiglu, relu, moe };  // down(silu(gate x) * up x), fc2(relu(fc1 x)), routed experts
enum class PositionKind { rope, learned };

// Hugging Face's rope_scaling: how the rotary frequencies are rescaled for longer contexts.
enum class RopeScalingKind { none, linear, dynamic, llama3 };
struct RopeScaling {
  RopeScalingKind kind = RopeScalingKind::none;
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  int64_t original_max_position = 0;                      // llama3, dynamic
};

struct ModelConfig {
  std::string arch = "llama";  // the family's row in the architecture table (model/arch.h)
  int64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int64_t vocab_size = 0, max_seq_len = 0;
  int64_t n_experts = 0;  // mixture-of-experts blocks only
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling;
  int32_t bos_id = 1, eos_id = 2;
  bool pre_norm = true;          // false: OPT-350M's post-LayerNorm blocks
  int64_t position_offset = 0;   // OPT's learned positions start at row 2
  int64_t sliding_window = 0;    // Mistral: attention window (0 = none); longer segments are refused

  int64_t kv_dim() const { return n_kv_heads * head_dim; }
};

struct Linear {
  std::string name;  // stable id, e.g. "0.self_attn.q_proj"
  Matrix weight;     // out × in
  Vector bias;       // empty when the layer has none

  int64_t out_features() const { return weight.rows(); }
  int64_t in_features() const { return weight.cols(); }
};

struct Norm {
  std::string name;
  Vector weight;
  Vector bias;  // LayerNorm only
};

// A producer (norm or linear) whose output feeds only its consumer linears: a per-channel
// scale s can be divided out of the producer and multiplied into the consumers' input
// columns without changing the block's function (AWQ, SmoothQuant). `inspect` is the
// module whose output measures a candidate scale (AWQ's module2inspect).
enum class ProducerKind { norm, linear };
enum class Inspect { consumers, attention, mlp };  // the first consumer alone, the attention sub-block, the MLP

struct ScalableGroup {
  std::string name;                 // the producer's name, e.g. "3.input_layernorm", "3.mlp.up_proj"
  ProducerKind producer_kind = ProducerKind::norm;
  Norm* norm = nullptr;             // the producer, when it is a norm
  Linear* producer = nullptr;       // the producer, when it is a linear
  std::vector<Linear*> consumers;
  Inspect inspect = Inspect::consumers;
};

// A tensor's role in a block; the architecture table (model/arch.h) names it per family.
// The router and expert slots describe mixture-of-experts blocks, which are not run yet.
enum class Slot { attn_norm, q, k, v, q_norm, k_norm, o, mlp_norm, gate, up, down, router, expert_gate, expert_up, expert_down };

struct Arch;

// One block's tensors in named slots; which slots a block has, their names and how they
// group come from its family's row (`arch`), so the walker never asks which family it is.
// The dense slots stay named members: the walker, the runner and the forward pass address
// them directly, and a mixture-of-experts block (which needs per-expert vectors) is only
// described by the table so far.
struct Block {
  int index = 0;
  const Arch* arch = nullptr;     // the family's table row (static; never null once built)
  Norm attn_norm, mlp_norm;       // input_layernorm, post_attention_layernorm
  Norm q_norm, k_norm;            // Qwen3: per-head RMSNorm of q and k before RoPE; empty otherwise
  Linear q, k, v, o;              // self_attn.{q,k,v,o}_proj
  Linear gate, up, down;          // mlp.{gate,up,down}_proj (gate empty for a ReLU MLP)
  // QuaRot's online Hadamard: every forward pass turns down_proj's input x into x·H, and the
  // weight holds W·H, so the block's function is unchanged while x·H has no outlier channel.
  // Null: none (every model as loaded).
  std::shared_ptr<const HadamardPlan> down_hadamard;
  // Its attention counterparts (model/residual_rotation.h): on the value/output path a per-head
  // Hadamard of the attention output (undoing the Hᵀ folded into v_proj) and then the full one
  // on o_proj's input (W_o holds it); the per-head one on q and k after RoPE (q·kᵀ keeps it).
  std::shared_ptr<const HadamardPlan> value_head_hadamard, o_hadamard, qk_hadamard;

  const Arch& architecture() const;  // *arch; throws when the block was built without one
  Linear& linear(Slot slot);
  const Linear& linear(Slot slot) const;
  Norm& norm(Slot slot);
  const Norm& norm(Slot slot) const;
  std::vector<Linear*> linears();  // the family's linears, in forward order
  std::vector<const Linear*> linears() const;
  std::vector<const Norm*> norms() const;  // the family's norms, in forward order
  // Linears grouped by the input they share, in forward order: [q, k, v], [o], [gate, up]
  // (or [fc1]), [down]. Statistics are captured once per group.
  std::vector<std::vector<Linear*>> input_groups();
  // The family's scalable groups that keep the block's function (see GroupRow in arch.h):
  // norm → [q, k, v] and norm → [gate, up] / [fc1] in pre-norm blocks, v → o when the
  // shapes match (not under GQA), up → down (fc1 → fc2).
  std::vector<ScalableGroup> scalable_groups(const ModelConfig& config);
};

// The two vocabulary-sized tables, which sources serve a few rows at a time
// (WeightSource::vocab_rows) so neither is held whole in float32.
enum class VocabTable { embedding, head };
// Rows `ids` of one table in float32: from a model in memory (vocab_rows_of in forward.h)
// or a source's file (WeightSource::vocab_rows).
using VocabRows = std::function<Matrix(VocabTable, std::span<const int32_t> ids)>;

struct Model {
  ModelConfig config;
  std::string source;  // file or directory it was loaded from
  Matrix embed_tokens;    // vocab × embedding width (OPT-350M: word_embed_proj_dim)
  Matrix embed_positions;  // learned positions (OPT), empty for RoPE models
  Linear project_in, project_out;  // OPT-350M: embedding width ↔ dim; empty otherwise
  std::vector<Block> blocks;
  Norm final_norm;  // empty weight: none (OPT-350M)
  Linear lm_head;

  std::vector<Linear*> linears();        // every linear, blocks first, lm_head last
  Linear* find_linear(const std::string& name);
};

// Checks every weight for NaN/Inf; throws naming `source` and the tensor.
void check_finite(const Model& model);
// The same for one block (a model without blocks checks what lies outside them).
void check_finite(const Block& block, const std::string& source);
// The same for rows read from one tensor.
void check_finite(const Matrix& rows, const std::string& source, const std::string& tensor);

}  // namespace qlab
