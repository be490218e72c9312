#include "export/export_run.h"

#include <filesystem>

#include "export/hf_export.h"
#include "export/quantized_run.h"
#include "log/experiment_log.h"
#include "util/error.h"

namespace qlab {

ExportResult export_run(const ExportRequest& r, ExperimentLog& log) {
  const QuantizedRun run = open_quantized_run(r.log_path, r.run_id);
  ExportResult result;
  result.path = std::filesystem::absolute(r.out).string();
  const StoragePrecision float_dtype = r.float_dtype == "f32" ? StoragePrecision::f32 : StoragePrecision::f16;
  if (r.format == "gptq" || r.format == "awq") {
    HfExportOptions o;
    o.format = r.format == "awq" ? PackedFormat::awq_gemm : PackedFormat::gptq_v1;
    if (r.gptq_checkpoint_format == "gptq") o.gptq_checkpoint_format = PackedFormat::gptq_v1;
    if (r.gptq_checkpoint_format == "gptq_v2") o.gptq_checkpoint_format = PackedFormat::gptq_v2;
    o.float_dtype = float_dtype;
    o.overwrite = r.overwrite;
    result.report = export_hf(run, r.out, o);
  } else {
    fail("--format {}: unknown (gptq, awq, gguf)", r.format);
  }
  log.write_export(r.run_id, r.format, {result.path, result.report.max_abs_change(), result.report.re_encoded(), ""});
  return result;
}

}  // namespace qlab
