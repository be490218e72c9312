// qlab: dispatches the subcommand; every error surfaces here as one line and exit code 1
// (2 only for an internal error that no check anticipated).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "cli/commands.h"
#include "util/error.h"
#include "util/allocator_tuning.h"
#include "util/omp_wait_policy.h"

namespace {
// Leaves without running the libraries' exit-time finalizers: the command has closed every
// file it wrote, and the CUDA libraries' finalizers (run even by a CPU-only command, which
// links them) fault ~60 MiB of their code into memory on the way out, a peak that belongs to
// no computation.
[[noreturn]] void exit_now(int code) {
  std::fflush(nullptr);
  std::_Exit(code);
}
}  // namespace

int main(int argc, char** argv) {
  qlab::reexec_with_passive_omp_wait(argv);
  qlab::keep_freed_activations_for_reuse();
  CLI::App app{"qlab: post-training quantization research framework"};
  app.set_version_flag("--version", QLAB_VERSION);
  app.require_subcommand(1);
  std::map<std::string, qlab::cli::Command> commands{
      {"eval", qlab::cli::add_eval(app)},
      {"generate", qlab::cli::add_generate(app)},
      {"convert", qlab::cli::add_convert(app)},
      {"export", qlab::cli::add_export(app)},
      {"tokenize", qlab::cli::add_tokenize(app)},
      {"plugins", qlab::cli::add_plugins(app)},
      {"run", qlab::cli::add_run(app)},
      {"report", qlab::cli::add_report(app)},
      {"merge", qlab::cli::add_merge(app)},
      {"layer", qlab::cli::add_layer(app)},
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    fmt::print(stderr, "qlab: error: {} (see --help)\n", e.what());  // usage errors exit 1, as every error does
    return 1;
  }
  try {
    for (CLI::App* sub : app.get_subcommands()) exit_now(commands.at(sub->get_name())());
  } catch (const qlab::Error& e) {
    fmt::print(stderr, "qlab: error: {}\n", e.what());
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    if (e.path1().empty()) fmt::print(stderr, "qlab: error: {}\n", e.what());
    else fmt::print(stderr, "qlab: error: {}: {}\n", e.path1().string(), e.code().message());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "qlab: error: out of memory (a size in the command or the experiment is too large for this machine)\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "qlab: internal error: {}\n", e.what());
    return 2;
  }
  return 0;
}
