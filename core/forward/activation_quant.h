// Activation fake-quantization of every quantized linear's input (W8A8 evaluation): a
// quantization-format setting, applied by the forward pass, not by a plugin.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "tensor/tensor.h"
#include "util/name_table.h"

namespace qlab {

enum class ActScheme {
  per_token,   // dynamic absmax per row (SmoothQuant O1, LLM.int8()'s vector-wise)
  per_tensor,  // dynamic absmax over the whole input (SmoothQuant O2)
  static_range // per-tensor range calibrated once (SmoothQuant O3, TensorRT)
};
inline constexpr NameTable<ActScheme, 3> kActSchemes{
    {{{ActScheme::per_token, "per_token"}, {ActScheme::per_tensor, "per_tensor"}, {ActScheme::static_range, "static"}}}};

struct ActivationQuant {
  int32_t bits = 0;  // 0 = off
  ActScheme scheme = ActScheme::per_token;
  // LLM.int8(): input columns with any |x| above this stay in float (0 = off; the paper uses 6.0).
  float outlier_threshold = 0.0f;
  // Dynamic ranges are absmax · clip_ratio (QuaRot's W4A4 uses 0.9); values beyond are clipped.
  float clip_ratio = 1.0f;
  // KV cache: keys (after RoPE) and values quantized per token per head, asymmetric with a
  // group of head_dim, as QuaRot evaluates a 4-bit cache (0 = off).
  int32_t kv_bits = 0;
  // The KV cache's min and max are scaled by this before the grid is fitted (QuaRot's 0.95).
  float kv_clip_ratio = 1.0f;

  bool enabled() const { return bits > 0; }
};

// What the forward pass does to linear inputs in one evaluation: the scheme for every
// block linear and, under static_range, each linear's calibrated range. It belongs to a
// quantized model, not to the weights: the float model is evaluated with none.
struct ActivationPlan {
  ActivationQuant scheme;
  std::map<std::string, float> input_absmax;  // static_range: linear id → calibrated range

  bool enabled() const { return scheme.enabled(); }
  bool kv_enabled() const { return scheme.kv_bits > 0; }
  float absmax_of(const std::string& linear) const;  // 0 when none was calibrated
};

ActScheme parse_act_scheme(const std::string& name);  // per_token | per_tensor | static
const char* act_scheme_name(ActScheme s);

// Asymmetric min/max fake-quantization of every head_dim-wide group of every row (K/V cache),
// the group's min and max scaled by clip_ratio (values beyond clip to the grid's ends).
void fake_quantize_kv(Matrix& x, int64_t head_dim, int32_t bits, float clip_ratio = 1.0f);

// Symmetric absmax fake-quantization of `x` in place. `static_absmax` is the calibrated
// range (used only by ActScheme::static_range; values beyond it are clipped).
// `linear` names the layer in errors.
void fake_quantize_input(const ActivationQuant& q, float static_absmax, const std::string& linear, Matrix& x);

}  // namespace qlab
