// qlab: dispatches the subcommand; every error surfaces here as one line and exit code 1.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <map>

#include "cli/commands.h"
#include "util/error.h"
#include "util/omp_wait_policy.h"

int main(int argc, char** argv) {
  qlab::reexec_with_passive_omp_wait(argv);
  CLI::App app{"qlab: post-training quantization research framework"};
  app.set_version_flag("--version", QLAB_VERSION);
  app.require_subcommand(1);
  std::map<std::string, qlab::cli::Command> commands{
      {"eval", qlab::cli::add_eval(app)},
      {"generate", qlab::cli::add_generate(app)},
      {"convert", qlab::cli::add_convert(app)},
      {"tokenize", qlab::cli::add_tokenize(app)},
      {"plugins", qlab::cli::add_plugins(app)},
      {"run", qlab::cli::add_run(app)},
      {"report", qlab::cli::add_report(app)},
      {"merge", qlab::cli::add_merge(app)},
      {"layer", qlab::cli::add_layer(app)},
  };
  CLI11_PARSE(app, argc, argv);
  try {
    for (CLI::App* sub : app.get_subcommands()) return commands.at(sub->get_name())();
  } catch (const qlab::Error& e) {
    fmt::print(stderr, "qlab: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "qlab: internal error: {}\n", e.what());
    return 2;
  }
  return 0;
}
