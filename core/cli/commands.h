// One entry per `qlab` subcommand: each registers its options on the CLI11 app and
// returns the function that runs it.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace qlab::cli {

using Command = std::function<int()>;

Command add_eval(CLI::App& app);
Command add_generate(CLI::App& app);
Command add_convert(CLI::App& app);
Command add_tokenize(CLI::App& app);
Command add_plugins(CLI::App& app);
Command add_run(CLI::App& app);
Command add_report(CLI::App& app);
Command add_layer(CLI::App& app);
Command add_merge(CLI::App& app);
Command add_export(CLI::App& app);

}  // namespace qlab::cli
