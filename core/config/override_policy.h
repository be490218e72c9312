// The override policy: the format each linear gets once the [[override]] rules that match
// its id are applied in file order. lm_head is never quantized unless a rule says so (none
// may: the schema refuses it).
#pragma once
#include <optional>
#include <string>

#include "qlab/plugin.h"

namespace qlab {

struct RunConfig;

// The format a linear gets after the overrides that match it; nullopt = skipped.
std::optional<qlab_format> format_for(const RunConfig& run, const std::string& linear_id);
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace qlab
