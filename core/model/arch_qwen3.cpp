// Qwen3: the LLaMA block plus a per-head RMSNorm on q and k (over head_dim, before RoPE),
// an explicit head_dim that may differ from hidden_size / num_attention_heads, no q/k/v bias.
// q_norm and k_norm sit after their linears, so scaling attn_norm into q, k, v still keeps
// the block's function.
#include "model/arch.h"

namespace qlab {

const Arch& arch_qwen3() {
  static const Arch arch{
      "qwen3",
      {"Qwen3ForCausalLM", "qwen3"},
      NormKind::rms,
      MlpKind::swiglu,
      PositionKind::rope,
      {
          {Slot::attn_norm, TensorKind::norm,   "input_layernorm",          Dim::model,  Dim::model},
          {Slot::q,         TensorKind::linear, "self_attn.q_proj",         Dim::q,      Dim::model},
          {Slot::k,         TensorKind::linear, "self_attn.k_proj",         Dim::kv,     Dim::model},
          {Slot::v,         TensorKind::linear, "self_attn.v_proj",         Dim::kv,     Dim::model},
          {Slot::q_norm,    TensorKind::norm,   "self_attn.q_norm",         Dim::head,   Dim::head},
          {Slot::k_norm,    TensorKind::norm,   "self_attn.k_norm",         Dim::head,   Dim::head},
          {Slot::o,         TensorKind::linear, "self_attn.o_proj",         Dim::model,  Dim::q},
          {Slot::mlp_norm,  TensorKind::norm,   "post_attention_layernorm", Dim::model,  Dim::model},
          {Slot::gate,      TensorKind::linear, "mlp.gate_proj",            Dim::hidden, Dim::model},
          {Slot::up,        TensorKind::linear, "mlp.up_proj",              Dim::hidden, Dim::model},
          {Slot::down,      TensorKind::linear, "mlp.down_proj",            Dim::model,  Dim::hidden},
      },
      {{Slot::q, Slot::k, Slot::v}, {Slot::o}, {Slot::gate, Slot::up}, {Slot::down}},
      {
          {Slot::attn_norm, {Slot::q, Slot::k, Slot::v}, Inspect::attention},
          {Slot::v,         {Slot::o},                   Inspect::consumers},
          {Slot::mlp_norm,  {Slot::gate, Slot::up},      Inspect::mlp},
          {Slot::up,        {Slot::down},                Inspect::consumers},
      },
  };
  return arch;
}

}  // namespace qlab
