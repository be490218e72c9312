// Whole-file reads with errors that name the file. Every path is checked with stat before
// it is opened: FIFOs, devices and directories are refused instead of blocking or reading
// forever, and symlink loops are named as such.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qlab {

enum class PathKind { missing, regular, directory, other };

// What `path` names (symlinks followed). Fails on a symlink loop or a path stat cannot read.
PathKind path_kind(const std::filesystem::path& path);

// Fails unless `path` is a regular file: "no such file", "is a directory, expected a file",
// "not a regular file (a FIFO)".
void require_regular_file(const std::filesystem::path& path);

std::string read_text_file(const std::filesystem::path& path);
std::vector<uint8_t> read_binary_file(const std::filesystem::path& path);

}  // namespace qlab
