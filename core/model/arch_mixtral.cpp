// Mixtral: the LLaMA attention with a mixture-of-experts MLP (a router over n_experts SwiGLU
// experts, w1 = gate, w3 = up, w2 = down). Described for layouts and plans; routing and
// experts are not run yet, so loading one is refused by named_block.
// Each expert sees only the tokens routed to it, so its w1/w3 and its w2 are input groups of
// their own, repeated per expert; the router shares the normed input with no expert.
#include "model/arch.h"

namespace qlab {

const Arch& arch_mixtral() {
  static const Arch arch{
      "mixtral",
      {"MixtralForCausalLM", "mixtral"},
      NormKind::rms,
      MlpKind::moe,
      PositionKind::rope,
      {
          {Slot::attn_norm,   TensorKind::norm,   "input_layernorm",                  Dim::model,     Dim::model},
          {Slot::q,           TensorKind::linear, "self_attn.q_proj",                 Dim::q,         Dim::model},
          {Slot::k,           TensorKind::linear, "self_attn.k_proj",                 Dim::kv,        Dim::model},
          {Slot::v,           TensorKind::linear, "self_attn.v_proj",                 Dim::kv,        Dim::model},
          {Slot::o,           TensorKind::linear, "self_attn.o_proj",                 Dim::model,     Dim::q},
          {Slot::mlp_norm,    TensorKind::norm,   "post_attention_layernorm",         Dim::model,     Dim::model},
          {Slot::router,      TensorKind::linear, "block_sparse_moe.gate",            Dim::n_experts, Dim::model},
          {Slot::expert_gate, TensorKind::linear, "block_sparse_moe.experts.{e}.w1",  Dim::hidden,    Dim::model},
          {Slot::expert_up,   TensorKind::linear, "block_sparse_moe.experts.{e}.w3",  Dim::hidden,    Dim::model},
          {Slot::expert_down, TensorKind::linear, "block_sparse_moe.experts.{e}.w2",  Dim::model,     Dim::hidden},
      },
      {{Slot::q, Slot::k, Slot::v}, {Slot::o}, {Slot::router}, {Slot::expert_gate, Slot::expert_up}, {Slot::expert_down}},
      {
          {Slot::attn_norm, {Slot::q, Slot::k, Slot::v},                           Inspect::attention},
          {Slot::v,         {Slot::o},                                             Inspect::consumers},
          {Slot::mlp_norm,  {Slot::router, Slot::expert_gate, Slot::expert_up},    Inspect::mlp},
          {Slot::expert_up, {Slot::expert_down},                                   Inspect::consumers},
      },
  };
  return arch;
}

}  // namespace qlab
