#include "export/export_run.h"

#include <filesystem>

#include "export/gguf_export.h"
#include "export/hf_export.h"
#include "export/quantized_run.h"
#include "log/experiment_log.h"
#include "util/error.h"

namespace qlab {

ExportResult export_run(const ExportRequest& r, ExperimentLog& log) {
  const QuantizedRun run = open_quantized_run(r.log_path, r.run_id);
  ExportResult result;
  result.path = std::filesystem::absolute(r.out).string();
  // Unset: fp16 for GPTQ/AWQ (the consumers' torch_dtype), float32 for GGUF (exact).
  const std::string float_name = !r.float_dtype.empty() ? r.float_dtype : r.format == "gguf" ? "f32" : "f16";
  const StoragePrecision float_dtype = float_name == "f32" ? StoragePrecision::f32 : StoragePrecision::f16;
  if (r.format == "gptq" || r.format == "awq") {
    HfExportOptions o;
    o.format = r.format == "awq" ? PackedFormat::awq_gemm : PackedFormat::gptq_v1;
    if (r.gptq_checkpoint_format == "gptq") o.gptq_checkpoint_format = PackedFormat::gptq_v1;
    if (r.gptq_checkpoint_format == "gptq_v2") o.gptq_checkpoint_format = PackedFormat::gptq_v2;
    o.float_dtype = float_dtype;
    o.overwrite = r.overwrite;
    result.report = export_hf(run, r.out, o);
  } else if (r.format == "gguf") {
    GgufExportOptions o;
    o.float_type = float_name == "f16" ? GgmlType::F16 : GgmlType::F32;
    o.all_float = !r.gguf_tensor_type.empty();
    if (r.gguf_tensor_type == "f16") o.float_type = GgmlType::F16;
    if (r.gguf_tensor_type == "f32") o.float_type = GgmlType::F32;
    o.requantize = r.gguf_requantize;
    o.overwrite = r.overwrite;
    result.report = export_gguf(run, r.out, o);
  } else {
    fail("--format {}: unknown (gptq, awq, gguf)", r.format);
  }
  log.write_export(r.run_id, r.format, {result.path, result.report.max_abs_change(), result.report.re_encoded(), ""});
  return result;
}

}  // namespace qlab
