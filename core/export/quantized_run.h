// A done run of an experiment log as the exporters read it: the float model it quantized,
// its tokenizer, its settings, and its packed blocks (LOG.blocks/<run>/, kept by
// `qlab run --keep-quantized` or exported at once by the experiment's [export] table).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "model/weight_source.h"
#include "run/block_checkpoint.h"

namespace qlab {

struct QuantizedRun {
  std::string log_path, run_id, experiment, qlab_version;
  std::string model_path, tokenizer_path;  // absolute, as the run read them
  std::string method;                      // "gptq", "awq+rtn"
  int64_t w_bits = 0, group_size = 0;
  std::string quantizer, quantizer_params; // the plugin that made the codes, its parameters ("damp_frac=0.01, act_order=true")
  std::unique_ptr<WeightSource> source;    // the float model (embeddings, lm_head, shapes)
  std::unique_ptr<BlockCheckpoint> blocks;

  // The float block `index` with the run's result in place (quantized linears dequantized,
  // folded norms), and its packed linears as the quantizer left them.
  Block block(int64_t index) const;
  std::vector<QuantizedLinear> quantized(int64_t index, const Block& block) const;
  // The source's sha256 (a directory's: of its weight and config files' digests), for the
  // checkpoints' provenance records.
  std::string source_sha256() const;
  // Whether lm_head is the embedding table (compared in chunks of rows, never whole).
  bool tied_head() const;
};

// Throws naming the log and the run when it is absent, not done (failed, running: its error
// quoted), quantized activations (no export format holds them), or its packed blocks are gone
// or incomplete (they are removed when a run finishes unless --keep-quantized).
QuantizedRun open_quantized_run(const std::string& log_path, const std::string& run_id);

}  // namespace qlab
