// OPT: LayerNorm with bias, fc2(relu(fc1 x)), learned positions, biases on every linear;
// pre- or post-norm per do_layer_norm_before (ModelConfig::pre_norm).
#include "model/arch.h"

namespace qlab {

const Arch& arch_opt() {
  static const Arch arch{
      "opt",
      {"OPTForCausalLM", "opt"},
      NormKind::layer,
      MlpKind::relu,
      PositionKind::learned,
      {
          {Slot::attn_norm, TensorKind::norm,   "self_attn_layer_norm", Dim::model,  Dim::model, BiasRule::required},
          {Slot::q,         TensorKind::linear, "self_attn.q_proj",     Dim::model,  Dim::model, BiasRule::required},
          {Slot::k,         TensorKind::linear, "self_attn.k_proj",     Dim::model,  Dim::model, BiasRule::required},
          {Slot::v,         TensorKind::linear, "self_attn.v_proj",     Dim::model,  Dim::model, BiasRule::required},
          {Slot::o,         TensorKind::linear, "self_attn.out_proj",   Dim::model,  Dim::model, BiasRule::required},
          {Slot::mlp_norm,  TensorKind::norm,   "final_layer_norm",     Dim::model,  Dim::model, BiasRule::required},
          {Slot::up,        TensorKind::linear, "fc1",                  Dim::hidden, Dim::model, BiasRule::required},
          {Slot::down,      TensorKind::linear, "fc2",                  Dim::model,  Dim::hidden, BiasRule::required},
      },
      {{Slot::q, Slot::k, Slot::v}, {Slot::o}, {Slot::up}, {Slot::down}},
      {
          {Slot::attn_norm, {Slot::q, Slot::k, Slot::v}, Inspect::attention},
          {Slot::v,         {Slot::o},                   Inspect::consumers},
          {Slot::mlp_norm,  {Slot::up},                  Inspect::mlp},
          {Slot::up,        {Slot::down},                Inspect::consumers},
      },
      "final_layer_norm",
  };
  return arch;
}

}  // namespace qlab
