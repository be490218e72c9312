// rotate: QuaRot's rotations (Ashkboos et al. 2024) as a model-scope transform. The residual
// stream is rotated by a randomized Hadamard matrix diag(±1)·H (the host's service, seeded),
// which the host folds into the weights after folding the RMSNorms; with `online`, the forward
// pass also applies a Hadamard to down_proj's input (its weight holds W·H). Compose it with a
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
  static constexpr const char* summary = "QuaRot: randomized Hadamard rotation of the residual stream, online Hadamard before down_proj";
  static constexpr auto seed = qlab::sdk::int_param("seed", 0, "draws the Hadamard's random signs").range(0, 2147483647);
  static constexpr auto online =
      qlab::sdk::bool_param("online", true, "apply a Hadamard to down_proj's input in the forward pass (QuaRot's online transform)");
  static constexpr qlab_param_decl params[] = {seed, online};
  static constexpr int32_t naming = QLAB_NAMING_OWN;

  explicit Rotate(const qlab::sdk::Params& p) : seed_(static_cast<uint64_t>(p.get(seed))), online_(p.get(online)) {}

  void transform_model(const qlab_model_in& in, qlab_model_out& out) {
    if (in.norm_kind != QLAB_NORM_RMS || !in.pre_norm)
      throw qlab::sdk::Failure(std::string("rotate needs pre-norm RMSNorm blocks (the LLaMA family); ") + in.family + " has none");
    qlab_error err{};
    if (in.hadamard(in.host, in.dim, seed_, out.rotation, &err) != 0) throw qlab::sdk::Failure(err.message);
    out.wrote_rotation = 1;
    out.online = online_ ? QLAB_ONLINE_DOWN_HADAMARD : 0;
    out.online_seed = seed_;
    qlab::sdk::add_metric(out.metrics, out.n_metrics, "online_down_hadamard", online_ ? 1.0 : 0.0);
  }

 private:
  uint64_t seed_;
  bool online_;
};

}  // namespace

QLAB_PLUGIN(Rotate)
