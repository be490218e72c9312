// GPTQ's whole solve on a compute backend, with the gptq plugin's semantics (IST-DASLab's
// fasterquant: dead columns, act-order, ×10 dampening retries, lazy block updates, the
// reference's group fitting): W and the prepared H cross to the backend once, the factor of
// H⁻¹, the column loop (Backend::gptq_block) and the lazy updates (Backend::gemm_window) run
// there, and the results come back once. Parameters fitted before the loop (per row, static
// groups, with or without the MSE search) are fitted on the host, as the plugin does.
#pragma once
#include "backend/backend.h"
#include "qlab/plugin.h"

namespace qlab {

// Whether gptq_on_backend runs these options and this format; the rest (groups fitted on
// updated columns, the MSE search for groups fitted in the loop, blocks wider than
// kGptqBlockMaxColumns) is the plugin's own loop.
bool gptq_on_backend_supports(const qlab_format& format, const qlab_gptq_options& opt);

// Fills out's dequant, codes, scales, zeros and g_idx as the plugin would. Fails when the
// options are not supported or H stays not positive definite after the retries.
qlab_gptq_result gptq_on_backend(Backend& backend, const qlab_linear_in& in, const qlab_gptq_options& opt,
                                 qlab_quantize_out& out);

}  // namespace qlab
