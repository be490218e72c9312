// The model in memory: data only. Blocks of named linears and norms, addressed by their
// Hugging Face names ("3.self_attn.q_proj", "3.mlp.down_proj", "lm_head"), so quantization
// code can find any linear or norm without knowing where it came from.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace qlab {

enum class NormKind { rms, layer };       // RMSNorm (LLaMA) or LayerNorm with bias (OPT)
enum class MlpKind { swiglu, relu };      // down(silu(gate x) * up x)  or  fc2(relu(fc1 x))
enum class PositionKind { rope, learned };

struct ModelConfig {
  std::string arch = "llama";  // adapter family
  int64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int64_t vocab_size = 0, max_seq_len = 0;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  NormKind norm = NormKind::rms;
  MlpKind mlp = MlpKind::swiglu;
  PositionKind position = PositionKind::rope;
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

struct Block {
  int index = 0;
  Norm attn_norm, mlp_norm;       // input_layernorm, post_attention_layernorm
  Linear q, k, v, o;              // self_attn.{q,k,v,o}_proj
  Linear gate, up, down;          // mlp.{gate,up,down}_proj (gate empty for a ReLU MLP)

  std::vector<Linear*> linears();  // the non-empty ones, in forward order
  std::vector<const Linear*> linears() const;
  // Linears grouped by the input they share, in forward order: [q, k, v], [o], [gate, up]
  // (or [fc1]), [down]. Statistics are captured once per group.
  std::vector<std::vector<Linear*>> input_groups();
  // The block's scalable groups, from its shapes and the architecture: norm → [q, k, v] and
  // norm → [gate, up] / [fc1] (pre-norm blocks only: a post-norm output also feeds the
  // residual), v → o when their shapes match (not under GQA), up → down (fc1 → fc2).
  std::vector<ScalableGroup> scalable_groups(const ModelConfig& config);
};

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

// Builds an empty LLaMA-style block with the Hugging Face names and the config's shapes.
Block make_llama_block(const ModelConfig& config, int index);
// The same for OPT: self_attn.{q,k,v,out}_proj, fc1, fc2, self_attn_layer_norm,
// final_layer_norm, biases everywhere.
Block make_opt_block(const ModelConfig& config, int index);

// Checks every weight for NaN/Inf; throws naming `source` and the tensor.
void check_finite(const Model& model);

}  // namespace qlab
