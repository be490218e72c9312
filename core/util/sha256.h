// SHA-256 of files and bytes (OpenSSL), for provenance in logs and loaders.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace qlab {

std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace qlab
