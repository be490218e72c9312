#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <mutex>

#include "backend/backend.h"
#include "backend/gptq_on_backend.h"
#include "backend/linalg.h"

namespace qlab {

namespace {
// qlab_linalg.gptq_solve on the Backend in ctx: no exception crosses the C boundary.
int32_t backend_gptq_solve(void* ctx, const qlab_linear_in* in, const qlab_gptq_options* opt, qlab_quantize_out* out,
                           qlab_gptq_result* res, qlab_error* err) {
  auto* backend = static_cast<Backend*>(ctx);
  if (backend->kind() == DeviceKind::cpu || !gptq_on_backend_supports(in->format, *opt)) return QLAB_LINALG_UNSUPPORTED;
  try {
    *res = gptq_on_backend(*backend, *in, *opt, *out);
    return 0;
  } catch (const std::exception& e) {
    std::snprintf(err->message, sizeof err->message, "%s", e.what());
    return 1;
  }
}
}  // namespace

const qlab_linalg* linalg_for(Backend* backend) {
  if (backend == nullptr || backend->kind() == DeviceKind::cpu) return cpu_linalg();
  // One table per backend address, kept for the process: it holds nothing but that address,
  // so a later backend at a reused address gets a correct table.
  static std::mutex mutex;
  static std::map<Backend*, std::unique_ptr<qlab_linalg>> tables;
  const std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<qlab_linalg>& t = tables[backend];
  if (!t) {
    t = std::make_unique<qlab_linalg>(*cpu_linalg());
    t->ctx = backend;
    t->gptq_solve = backend_gptq_solve;
  }
  return t.get();
}

}  // namespace qlab
