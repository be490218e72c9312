// Known sha256 of the zero-shot data files, so a loaded task says whether it read the
// release the reference numbers were computed from. A file that differs is not refused: a
// user may evaluate a copy of their own.
#pragma once
#include <string>
#include <string_view>

namespace qlab {

// For the file at `relative_path` under the data directory (e.g. "piqa/dev.jsonl") with
// content `bytes`: "verified: <release> sha256 matches", "differs from <release> (sha256 <hex>)"
// or "no known checksum".
std::string checksum_note(const std::string& relative_path, std::string_view bytes);

}  // namespace qlab
