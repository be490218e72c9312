// `qlab export LOG.h5 --run r0003 --format gptq|awq|gguf --out PATH`: a done run's packed
// blocks as a checkpoint other tools load, with a table of what mapped exactly.
#include <fmt/format.h>

#include "cli/commands.h"
#include "export/export_run.h"
#include "util/error.h"

namespace qlab::cli {

Command add_export(CLI::App& app) {
  auto o = std::make_shared<ExportRequest>();
  auto log = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("export", "write a done run as a GPTQ or AWQ Hugging Face directory, or a GGUF file for llama.cpp");
  cmd->add_option("log", *log, "the experiment log (LOG.h5) whose run to export")->required();
  cmd->add_option("--run", o->run_id, "run id (r0003); its packed blocks must be kept (qlab run --keep-quantized)")->required();
  cmd->add_option("--format", o->format, "gptq | awq | gguf")->required()->check(CLI::IsMember({"gptq", "awq", "gguf"}));
  cmd->add_option("--out", o->out, "directory (gptq, awq) or .gguf file to write")->required();
  cmd->add_option("--checkpoint-format", o->gptq_checkpoint_format,
                  "gptq: gptq (v1, zeros stored minus one) or gptq_v2; default v1 for symmetric grids, v2 otherwise")
      ->check(CLI::IsMember({"gptq", "gptq_v2"}));
  cmd->add_option("--float-dtype", o->float_dtype, "dtype of the tensors that are not quantized: f16 or f32 (default f16 for gptq and awq, as their consumers expect; f32 for gguf)")
      ->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_option("--tensor-type", o->gguf_tensor_type,
                  "gguf: store every weight as f32 or f16 instead of mapping the run's grid (the float parts follow --float-dtype)")
      ->check(CLI::IsMember({"f32", "f16"}));
  cmd->add_option("--allow-requantize", o->gguf_requantize,
                  "gguf: re-encode linears whose grid GGUF cannot hold with this llama.cpp type (q4_0, q4_1, q8_0); the log records the new error")
      ->check(CLI::IsMember({"q4_0", "q4_1", "q8_0"}));
  cmd->add_flag("--overwrite", o->overwrite, "replace an earlier qlab export at --out (never anything else)");
  return [o, log]() {
    o->log_path = *log;
    ExperimentLog writer = ExperimentLog::amend(o->log_path);
    const ExportResult r = export_run(*o, writer);
    fmt::print("{}", r.report.table().render());
    fmt::print("wrote {} ({} of run {}; largest weight change {:.3g}{})\n", r.path, o->format, o->run_id, r.report.max_abs_change(),
               r.report.re_encoded() > 0 ? fmt::format(", {} tensors re-encoded", r.report.re_encoded()) : "");
    return 0;
  };
}

}  // namespace qlab::cli
