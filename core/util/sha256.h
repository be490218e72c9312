// SHA-256 of files and bytes (OpenSSL), for provenance in logs and loaders.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace qlab {

std::string sha256_hex(std::string_view bytes);
// The bytes of the file from `offset` to its end.
std::string sha256_file(const std::filesystem::path& path, uint64_t offset = 0);

}  // namespace qlab
