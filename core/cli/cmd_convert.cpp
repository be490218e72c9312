// `qlab convert`: writes a loaded LLaMA-family model as a Hugging Face directory.
#include <fmt/format.h>

#include "cli/commands.h"
#include "format/hf_loader.h"
#include "format/model_loader.h"
#include "tokenizer/tokenizer_loader.h"
#include "util/error.h"
#include "util/file_io.h"

#include <filesystem>

namespace qlab::cli {

Command add_convert(CLI::App& app) {
  auto model = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("convert", "write a LLaMA-family model (e.g. a llama2.c checkpoint) as a Hugging Face directory");
  cmd->add_option("--model", *model, "model to read")->required();
  cmd->add_option("--out", *out, "directory to write (config.json, model.safetensors)")->required();
  return [model, out]() {
    const PathKind out_kind = path_kind(*out);
    if (out_kind != PathKind::missing && out_kind != PathKind::directory) fail("{}: exists and is not a directory", *out);
    Model m = load_model(*model);
    write_hf_llama(m, *out);
    // Bring the llama2.c tokenizer along, so the directory evaluates on its own.
    if (!std::filesystem::is_directory(*model)) {
      auto tok = load_tokenizer_for(m, "");
      std::filesystem::copy_file(tok->source(), std::filesystem::path(*out) / std::filesystem::path(tok->source()).filename(),
                                 std::filesystem::copy_options::overwrite_existing);
    }
    fmt::print("wrote {} ({} layers, {} linears) as a Hugging Face LLaMA directory\n", *out, m.blocks.size(), m.linears().size());
    return 0;
  };
}

}  // namespace qlab::cli
