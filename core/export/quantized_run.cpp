#include "export/quantized_run.h"

#include <algorithm>
#include <filesystem>

#include "format/model_loader.h"
#include "log/experiment_log.h"
#include "log/h5.h"
#include "util/error.h"
#include "util/sha256.h"

namespace qlab {

Block QuantizedRun::block(int64_t index) const {
  Block b = source->load_block(index);
  ActivationPlan ranges;
  blocks->restore(index, b, ranges);
  return b;
}

std::vector<QuantizedLinear> QuantizedRun::quantized(int64_t index, const Block& block) const {
  return blocks->read_quantized(index, block);
}

bool QuantizedRun::tied_head() const {
  const int64_t V = source->config().vocab_size;
  for (int64_t r = 0; r < V; r += 1024) {
    const std::vector<int32_t> ids = id_range(r, std::min(V, r + 1024));
    if (source->vocab_rows(VocabTable::head, ids) != source->vocab_rows(VocabTable::embedding, ids)) return false;
  }
  return true;
}

std::string QuantizedRun::source_sha256() const {
  namespace fs = std::filesystem;
  if (!fs::is_directory(model_path)) return sha256_file(model_path);
  // A directory: the digest of its weight and config files' digests, by name.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(model_path)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && (e.path().extension() == ".safetensors" || name == "config.json" || name == "model.safetensors.index.json"))
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::string listing;
  for (const fs::path& f : files) listing += f.filename().string() + " " + sha256_file(f) + "\n";
  return sha256_hex(listing);
}

QuantizedRun open_quantized_run(const std::string& log_path, const std::string& run_id) {
  const ExperimentLog log = ExperimentLog::open_read(log_path);
  const hid_t f = log.file();
  if (!h5::exists(f, "runs/" + run_id)) {
    std::string known;
    if (h5::exists(f, "runs")) {
      h5::Handle runs = h5::open_group(f, "runs");
      for (const std::string& r : h5::children(runs.id())) known += (known.empty() ? "" : ", ") + r;
    }
    fail("{}: no run '{}' (runs: {})", log_path, run_id, known.empty() ? "none" : known);
  }
  h5::Handle g = h5::open_group(f, "runs/" + run_id);
  auto attr = [&](const char* name) { return h5::has_attr(g.id(), name) ? h5::attr_string(g.id(), name) : std::string(); };
  const std::string status = attr("status");
  if (status != "done")
    fail("{}: run {} is {}{}; only a done run can be exported", log_path, run_id, status.empty() ? "not started" : status,
         attr("error").empty() ? "" : " (" + attr("error") + ")");
  if (h5::has_attr(g.id(), "identity.a_bits") && h5::attr_int(g.id(), "identity.a_bits") != 16)
    fail("{}: run {} quantizes activations to {} bits; GPTQ, AWQ and GGUF checkpoints hold weight-only quantization", log_path,
         run_id, h5::attr_int(g.id(), "identity.a_bits"));
  QuantizedRun run;
  run.log_path = std::filesystem::absolute(log_path).string();
  run.run_id = run_id;
  run.experiment = h5::attr_string(f, "experiment");
  run.qlab_version = h5::attr_string(f, "qlab_version");
  if (!h5::exists(f, "runs/" + run_id + "/provenance"))
    fail("{}: run {} does not record the model it read (a log from before qlab export); run it again", log_path, run_id);
  h5::Handle prov = h5::open_group(f, "runs/" + run_id + "/provenance");
  auto provenance = [&](const char* name) { return h5::has_attr(prov.id(), name) ? h5::attr_string(prov.id(), name) : std::string(); };
  run.model_path = provenance("model_path");
  run.tokenizer_path = provenance("tokenizer_path");
  run.method = attr("identity.method");
  run.w_bits = h5::has_attr(g.id(), "identity.w_bits") ? h5::attr_int(g.id(), "identity.w_bits") : 0;
  run.group_size = h5::has_attr(g.id(), "identity.group_size") ? h5::attr_int(g.id(), "identity.group_size") : 0;
  run.quantizer = provenance("quantizer");
  run.quantizer_params = provenance("quantizer_params");
  if (h5::exists(f, "runs/" + run_id + "/model_transform")) {
    h5::Handle t = h5::open_group(f, "runs/" + run_id + "/model_transform");
    fail("{}: run {} quantized a model rotated by '{}': its online Hadamards and rotated embeddings have no Hugging Face "
         "or GGUF form here, so it cannot be exported",
         log_path, run_id, h5::attr_string(t.id(), "plugin"));
  }
  run.source = open_weight_source(run.model_path);
  run.blocks = std::make_unique<BlockCheckpoint>(run.log_path, run_id);
  for (int64_t b = 0; b < run.source->n_blocks(); ++b)
    if (!std::filesystem::exists(run.blocks->file(b)))
      fail("{}: run {}'s packed blocks are not there ({} is missing): a run's blocks are removed when it finishes; run it "
           "with `qlab run --keep-quantized`, or name it in the experiment's [export] table",
           log_path, run_id, run.blocks->file(b));
  return run;
}

}  // namespace qlab
