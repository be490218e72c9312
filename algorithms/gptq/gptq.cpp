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
  static constexpr auto damp_frac = qlab::sdk::float_param("damp_frac", 0.01, "dampening as a fraction of mean(diag H)").range(0.0, 10.0);
  static constexpr auto block_size = qlab::sdk::int_param("block_size", 128, "columns per lazy-update block").range(1, 65536);
  static constexpr auto act_order = qlab::sdk::bool_param("act_order", false, "quantize columns by descending diag(H) (desc_act)");
  static constexpr auto static_groups = qlab::sdk::bool_param("static_groups", false, "fit every group's parameters before any update");
  static constexpr auto group_fit =
      qlab::sdk::string_param("group_fit", "reference",
                              "reference: groups fitted on W without the block's pending in-block updates (IST-DASLab); updated: on fully updated columns")
          .choices("reference|updated");
  static constexpr auto search = qlab::sdk::string_param("search", "none", "range per row/group: none or mse (GPTQ's shrink search)").choices("none|mse");
  static constexpr auto max_damp_retries =
      qlab::sdk::int_param("max_damp_retries", 6, "×10 dampening retries when H is not positive definite").range(0, 20);
  static constexpr qlab_param_decl params[] = {damp_frac, block_size, act_order, static_groups, group_fit, search, max_damp_retries};

  // Published tables call GPTQ with act-order "gptq-r" (the GPTQ README's "--act-order" rows).
  static const char* method_name(const qlab::sdk::Params& p) { return p.get(act_order) ? "gptq-r" : "gptq"; }

  explicit Gptq(const qlab::sdk::Params& p) {
    opt_.damp_frac = p.get(damp_frac);
    opt_.block_size = static_cast<int32_t>(p.get(block_size));
    opt_.act_order = p.get(act_order);
    opt_.static_groups = p.get(static_groups);
    opt_.fit_on_updated = p.get(group_fit) == "updated";
    opt_.mse = p.get(search) == "mse";
    opt_.max_damp_retries = static_cast<int32_t>(p.get(max_damp_retries));
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
    add_metric(out.metrics, out.n_metrics, "on_device", r.on_device ? 1.0 : 0.0);
  }

 private:
  qlab::gptq::Options opt_;
};

}  // namespace

QLAB_PLUGIN(Gptq)
