// `qlab export --format gptq|awq`: a done run as a Hugging Face directory that transformers,
// vLLM, GPTQModel and AutoAWQ load (../shared/reference/export-formats.md §1–2):
// config.json with quantization_config (and quantize_config.json / quant_config.json beside
// it), the packed linears (format/packed_linear_formats.h) with the run's own codes and zeros
// and fp16 scales, everything else in fp16 (or float32), the tokenizer, and a provenance
// record (experiment, run, qlab version, source sha256) in config.json and every shard's
// metadata. One shard per block plus one for the outer tensors, so memory stays one block's.
#pragma once
#include <filesystem>
#include <optional>

#include "export/export_report.h"
#include "export/quantized_run.h"
#include "format/packed_linear_formats.h"
#include "tensor/half.h"

namespace qlab {

struct HfExportOptions {
  PackedFormat format = PackedFormat::gptq_v1;
  // gptq only: v1 ("gptq", every consumer reads it) unless the grid has a zero of 0, then
  // gptq_v2; set to force one.
  std::optional<PackedFormat> gptq_checkpoint_format;
  StoragePrecision float_dtype = StoragePrecision::f16;  // the tensors that are not packed
  bool overwrite = false;  // replace an earlier qlab export at the same path (never anything else)
};

// Writes `out` (a directory that must not exist, or an earlier qlab export with overwrite);
// throws naming the run and the first linear the format cannot hold, and why.
ExportReport export_hf(const QuantizedRun& run, const std::filesystem::path& out, const HfExportOptions& options);

// Fails unless `out` is absent, or (with overwrite) a file or directory an earlier qlab
// export wrote: an export never replaces data it did not create.
void check_export_target(const std::filesystem::path& out, bool overwrite);

}  // namespace qlab
