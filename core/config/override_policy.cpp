#include "config/override_policy.h"

#include <fnmatch.h>

#include "config/experiment.h"

namespace qlab {

bool glob_match(const std::string& pattern, const std::string& text) {
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

std::optional<qlab_format> format_for(const RunConfig& run, const std::string& id) {
  qlab_format f = run.format;
  bool skip = id == "lm_head";  // the references never quantize lm_head or the embeddings
  for (const OverrideRule& o : run.overrides) {
    if (!glob_match(o.match, id)) continue;
    if (o.skip) skip = *o.skip;
    if (o.bits) f.bits = *o.bits;
    if (o.group_size) f.group_size = *o.group_size;
    if (o.sym) f.sym = *o.sym ? 1 : 0;
  }
  if (skip) return std::nullopt;
  return f;
}

}  // namespace qlab
