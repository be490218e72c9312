// One export of a done run, as `qlab export` and an experiment's [export] table ask for it:
// opens the run, writes the format, prints nothing, and records the export in the log
// (/runs/<run>/exports/<format>: path, largest weight change, tensors re-encoded).
#pragma once
#include <string>

#include "export/export_report.h"
#include "log/experiment_log.h"

namespace qlab {

struct ExportRequest {
  std::string log_path, run_id;
  std::string format;                  // gptq | awq | gguf
  std::string out;                     // directory (gptq, awq) or file (gguf)
  std::string gptq_checkpoint_format;  // "", gptq, gptq_v2
  std::string float_dtype;             // "", f16, f32: the tensors that are not quantized ("": f16 for gptq/awq, f32 for gguf)
  std::string gguf_tensor_type;        // "", f32, f16: every weight as float
  std::string gguf_requantize;         // "", q4_0, q4_1, q8_0: re-encode what GGUF cannot hold
  bool overwrite = false;
};

struct ExportResult {
  std::string path;
  ExportReport report;
};

// Records the export (or, when it throws, nothing) in `log`, the run's log opened for writing.
ExportResult export_run(const ExportRequest& request, ExperimentLog& log);

}  // namespace qlab
