// Paths in an experiment file: relative to the file's directory, and free to name
// environment variables ("${QLAB_MODELS:-models}/opt-125m", a default after ":-") so
// experiment files can be shared across machines.
#pragma once
#include <filesystem>
#include <string>

namespace qlab {

// ${NAME} and ${NAME:-default} replaced; an unset variable without a default is an error.
std::string expand_env(const std::string& text);
// `raw` with variables expanded, relative to `base` unless absolute ("" stays "").
std::string resolve_path(const std::filesystem::path& base, const std::string& raw);
// A data spec "kind:PATH" with its path resolved (a bare path as resolve_path).
std::string resolve_spec(const std::filesystem::path& base, const std::string& spec);

}  // namespace qlab
