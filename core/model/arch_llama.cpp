// LLaMA and the families that share its block (Mistral, Qwen2; llama2.c checkpoints):
// RMSNorm, SwiGLU MLP, RoPE; q/k/v biases when the checkpoint has them (Qwen2).
#include "model/arch.h"

namespace qlab {

const Arch& arch_llama() {
  static const Arch arch{
      "llama",
      {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "llama", "mistral", "qwen2"},
      NormKind::rms,
      MlpKind::swiglu,
      PositionKind::rope,
      {
          {Slot::attn_norm, TensorKind::norm,   "input_layernorm",          Dim::model,  Dim::model},
          {Slot::q,         TensorKind::linear, "self_attn.q_proj",         Dim::q,      Dim::model},
          {Slot::k,         TensorKind::linear, "self_attn.k_proj",         Dim::kv,     Dim::model},
          {Slot::v,         TensorKind::linear, "self_attn.v_proj",         Dim::kv,     Dim::model},
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
