// rotate: QuaRot's rotations (Ashkboos et al. 2024) as a model-scope transform. The residual
// stream is rotated by a randomized Hadamard matrix diag(±1)·H (the host's service, seeded),
// which the host folds into the weights after folding the RMSNorms. QuaRot's online Hadamards,
// each on by default and each a switch for ablations: before down_proj (its weight holds W·H),
// on the value/output path (per value head, folded into v_proj; across o_proj's input), and on
// each head of q and k after RoPE (for a quantized K cache). Compose it with a
// quantizer (rtn, gptq) to quantize the rotated weights; with act_bits = 4 and act_clip_ratio
// = 0.9 it is QuaRot's W4A4 recipe.
#include <qlab/plugin.hpp>

#include <cstdint>
#include <string>

namespace {

class Rotate {
 public:
  static constexpr const char* name = "rotate";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary =
      "QuaRot: randomized Hadamard rotation of the residual stream, online Hadamards before down_proj and o_proj and on q, k";
  static constexpr auto seed = qlab::sdk::int_param("seed", 0, "draws the Hadamard's random signs").range(0, 2147483647);
  static constexpr auto online_down =
      qlab::sdk::bool_param("online_down", true, "a Hadamard on down_proj's input in the forward pass");
  static constexpr auto online_value_output = qlab::sdk::bool_param(
      "online_value_output", true, "a Hadamard per value head (folded into v_proj) and across o_proj's input");
  static constexpr auto online_query_key =
      qlab::sdk::bool_param("online_query_key", true, "a Hadamard per head of q and k after RoPE, before the K cache is quantized");
  static constexpr qlab_param_decl params[] = {seed, online_down, online_value_output, online_query_key};
  static constexpr int32_t naming = QLAB_NAMING_OWN;
  // The published name: rotate → gptq is "quarot+gptq" (QuaRot's tables), rotate → rtn "quarot" (RTN names
  // no method of its own after a transform, as awq → rtn is "awq").
  static const char* method_name(const qlab::sdk::Params&) { return "quarot"; }

  explicit Rotate(const qlab::sdk::Params& p) : seed_(static_cast<uint64_t>(p.get(seed))) {
    if (p.get(online_down)) online_ |= QLAB_ONLINE_DOWN_HADAMARD;
    if (p.get(online_value_output)) online_ |= QLAB_ONLINE_VALUE_OUTPUT_HADAMARD;
    if (p.get(online_query_key)) online_ |= QLAB_ONLINE_QUERY_KEY_HADAMARD;
  }

  void transform_model(const qlab_model_in& in, qlab_model_out& out) {
    if (in.norm_kind != QLAB_NORM_RMS || !in.pre_norm)
      throw qlab::sdk::Failure(std::string("rotate needs pre-norm RMSNorm blocks (the LLaMA family); ") + in.family + " has none");
    qlab_error err{};
    if (in.hadamard(in.host, in.dim, seed_, out.rotation, &err) != 0) throw qlab::sdk::Failure(err.message);
    out.wrote_rotation = 1;
    out.online = online_;
    out.online_seed = seed_;
    qlab::sdk::add_metric(out.metrics, out.n_metrics, "online_transforms", static_cast<double>(online_));
  }

 private:
  uint64_t seed_;
  uint32_t online_ = 0;  // qlab_online mask
};

}  // namespace

QLAB_PLUGIN(Rotate)
