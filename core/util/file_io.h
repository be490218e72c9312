// Whole-file reads with errors that name the file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qlab {

std::string read_text_file(const std::filesystem::path& path);
std::vector<uint8_t> read_binary_file(const std::filesystem::path& path);

}  // namespace qlab
