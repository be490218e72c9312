// `qlab export --format gguf`: a done run of a LLaMA-family model as a GGUF v3 file for
// llama.cpp (../shared/reference/export-formats.md §3): llama.* metadata with the types its
// loader requires, the tokenizer (SentencePiece pieces, scores and token types, from a
// SentencePiece model or a llama2.c tokenizer), q/k rows in llama.cpp's interleaved RoPE
// order, and each quantized linear mapped exactly where a ggml type holds its grid (4-bit
// symmetric → Q4_0, 4-bit asymmetric → Q4_1 with m = −s·z, 8-bit symmetric → Q8_0, groups of
// 32·k contiguous columns), float otherwise: rows not a multiple of 32 fall back to the float
// type (printed); other grids (2/3-bit, NF4, act-order) are refused unless re-encoded with a
// llama.cpp type the user names. A provenance record (qlab.*) goes into the metadata.
#pragma once
#include <filesystem>
#include <string>

#include "export/export_report.h"
#include "export/quantized_run.h"
#include "format/ggml_blocks.h"

namespace qlab {

struct GgufExportOptions {
  GgmlType float_type = GgmlType::F32;  // tensors that are not quantized (norms are always F32)
  bool all_float = false;               // every weight as float_type (the run's dequantized weights)
  std::string requantize;               // "", q4_0, q4_1, q8_0: re-encode grids GGUF cannot hold
  bool overwrite = false;               // replace an earlier qlab export
};

ExportReport export_gguf(const QuantizedRun& run, const std::filesystem::path& out, const GgufExportOptions& options);

}  // namespace qlab
