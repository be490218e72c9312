// Readers that turn corpus files into the rows the Hugging Face dataset scripts yield, so
// the reference code's joins can be applied to them verbatim.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace qlab {

// WikiText raw (wiki.*.raw), as the `wikitext` dataset script: one row per line; a line with
// any non-space character keeps its trailing "\n", a whitespace-only line becomes "".
std::vector<std::string> read_wikitext_rows(const std::filesystem::path& path);

// PTB text-only (ptb.*.txt), as the `ptb_text_only` script: one stripped sentence per line.
std::vector<std::string> read_ptb_sentences(const std::filesystem::path& path);

// JSON lines (C4, Pile): the "text" field of each line; .gz files are decompressed (zlib).
// Errors name the file and the line.
std::vector<std::string> read_json_lines_text(const std::filesystem::path& path);

// Plain text lines without their "\n" (a Pile-style file of one document per line).
std::vector<std::string> read_lines(const std::filesystem::path& path);

std::string join(const std::vector<std::string>& rows, const std::string& separator);

// Python's str.strip(): drops leading and trailing ASCII whitespace.
std::string strip(const std::string& s);

}  // namespace qlab
