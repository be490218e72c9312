// gptq: the plugin's declaration and glue; the math is in gptq_solve.cpp.
#include <qlab/plugin.hpp>

#include "gptq_solve.h"

namespace {

class Gptq {
 public:
  static constexpr const char* name = "gptq";
  static constexpr const char* version = "1.0.0";
  static constexpr const char* summary = "GPTQ: Hessian-based error-compensating quantization (IST-DASLab/gptq semantics)";
  static constexpr uint32_t stats = QLAB_STAT_HESSIAN;
  static constexpr qlab_param_decl params[] = {
      {"damp_frac", QLAB_PARAM_FLOAT, "0.01", "dampening as a fraction of mean(diag H)", 1, 0.0, 10.0, nullptr},
      {"block_size", QLAB_PARAM_INT, "128", "columns per lazy-update block", 1, 1, 65536, nullptr},
      {"act_order", QLAB_PARAM_BOOL, "false", "quantize columns by descending diag(H) (desc_act)", 0, 0, 0, nullptr},
      {"static_groups", QLAB_PARAM_BOOL, "false", "fit every group's parameters before any update", 0, 0, 0, nullptr},
      {"group_fit", QLAB_PARAM_STRING, "\"reference\"", "reference: groups fitted on W without the block's pending in-block updates (IST-DASLab); updated: on fully updated columns", 0, 0, 0, "reference|updated"},
      {"search", QLAB_PARAM_STRING, "\"none\"", "range per row/group: none or mse (GPTQ's shrink search)", 0, 0, 0, "none|mse"},
      {"max_damp_retries", QLAB_PARAM_INT, "6", "×10 dampening retries when H is not positive definite", 1, 0, 20, nullptr},
  };

  explicit Gptq(const qlab::sdk::Params& p) {
    opt_.damp_frac = p.get_float("damp_frac");
    opt_.block_size = static_cast<int32_t>(p.get_int("block_size"));
    opt_.act_order = p.get_bool("act_order");
    opt_.static_groups = p.get_bool("static_groups");
    opt_.fit_on_updated = p.get_string("group_fit") == "updated";
    opt_.mse = p.get_string("search") == "mse";
    opt_.max_damp_retries = static_cast<int32_t>(p.get_int("max_damp_retries"));
  }

  void quantize(const qlab_linear_in& in, qlab_quantize_out& out) {
    qlab::gptq::Result r = qlab::gptq::quantize(in, out, opt_);
    using qlab::sdk::add_metric;
    add_metric(out.metrics, out.n_metrics, "loss", r.loss);
    add_metric(out.metrics, out.n_metrics, "damp", r.damp);
    add_metric(out.metrics, out.n_metrics, "damp_retries", r.damp_retries);
    add_metric(out.metrics, out.n_metrics, "n_dead", r.n_dead);
    add_metric(out.metrics, out.n_metrics, "time_factor_s", r.time_factor_s);
    add_metric(out.metrics, out.n_metrics, "time_solve_s", r.time_solve_s);
  }

 private:
  qlab::gptq::Options opt_;
};

}  // namespace

QLAB_PLUGIN(Gptq)
