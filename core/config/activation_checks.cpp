#include "config/activation_checks.h"

#include <cmath>

#include "config/experiment.h"
#include "config/toml_fields.h"

namespace qlab {

void parse_activation_quant(const std::string& file, const toml::table& q, RunConfig& r) {
  r.act.bits = get<int32_t>(file, q, "act_bits", "quant", 0);
  if (r.act.bits != 0 && (r.act.bits < 2 || r.act.bits > 16)) fail("{}: quant.act_bits = {} is outside 2..16 (0 = off)", at(file, q), r.act.bits);
  const bool off = r.act.bits == 0;
  for (const char* key : {"act_scheme", "act_calibrator", "act_percentile", "act_outlier_threshold", "act_clip_ratio"})
    if (off && q.contains(key)) fail("{}: quant.{} has no effect while quant.act_bits is 0 (activations unquantized); set act_bits", at(file, q), key);
  try {
    r.act.scheme = parse_act_scheme(get<std::string>(file, q, "act_scheme", "quant", "per_token"));
    r.act_calibration.method = parse_range_calibrator(get<std::string>(file, q, "act_calibrator", "quant", "minmax"));
  } catch (const Error& e) {
    fail("{}: quant: {}", at(file, q), e.what());
  }
  const bool is_static = r.act.scheme == ActScheme::static_range;
  if (!is_static && q.contains("act_calibrator"))
    fail("{}: quant.act_calibrator calibrates static ranges, but act_scheme is dynamic ('{}'); set act_scheme = \"static\"", at(file, q), act_scheme_name(r.act.scheme));
  r.act_calibration.percentile = get<double>(file, q, "act_percentile", "quant", 99.99);
  if (q.contains("act_percentile") && r.act_calibration.method != RangeCalibrator::percentile)
    fail("{}: quant.act_percentile is used only by act_calibrator = \"percentile\"", at(file, q));
  if (!(r.act_calibration.percentile > 0.0 && r.act_calibration.percentile <= 100.0))
    fail("{}: quant.act_percentile = {} is outside (0, 100]", at(file, q), r.act_calibration.percentile);
  r.act.outlier_threshold = static_cast<float>(get<double>(file, q, "act_outlier_threshold", "quant", 0.0));
  if (!(r.act.outlier_threshold >= 0.0f) || !std::isfinite(r.act.outlier_threshold))
    fail("{}: quant.act_outlier_threshold must be a finite value >= 0 (LLM.int8() uses 6.0; 0 = off)", at(file, q));
  r.act.clip_ratio = static_cast<float>(get<double>(file, q, "act_clip_ratio", "quant", 1.0));
  if (!(r.act.clip_ratio > 0.0f && r.act.clip_ratio <= 1.0f))
    fail("{}: quant.act_clip_ratio = {} is outside (0, 1] (QuaRot's W4A4 uses 0.9)", at(file, q), r.act.clip_ratio);
  if (is_static && q.contains("act_clip_ratio"))
    fail("{}: quant.act_clip_ratio scales dynamic ranges; act_scheme = \"static\" calibrates its own", at(file, q));
  r.act.kv_bits = get<int32_t>(file, q, "kv_bits", "quant", 0);
  if (r.act.kv_bits != 0 && (r.act.kv_bits < 2 || r.act.kv_bits > 8))
    fail("{}: quant.kv_bits = {} is outside 2..8 (0 = an unquantized KV cache)", at(file, q), r.act.kv_bits);
  r.act.kv_clip_ratio = static_cast<float>(get<double>(file, q, "kv_clip_ratio", "quant", 1.0));
  if (!(r.act.kv_clip_ratio > 0.0f && r.act.kv_clip_ratio <= 1.0f))
    fail("{}: quant.kv_clip_ratio = {} is outside (0, 1] (QuaRot's KV cache uses 0.95)", at(file, q), r.act.kv_clip_ratio);
  if (r.act.kv_bits == 0 && q.contains("kv_clip_ratio"))
    fail("{}: quant.kv_clip_ratio has no effect while quant.kv_bits is 0 (an unquantized KV cache); set kv_bits", at(file, q));
  if (is_static && r.act.outlier_threshold > 0)
    fail("{}: quant.act_outlier_threshold (LLM.int8()) picks outlier columns per input, dynamically; it cannot combine with act_scheme = \"static\"", at(file, q));
}

}  // namespace qlab
