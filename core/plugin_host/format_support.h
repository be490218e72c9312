// The formats a plugin declares it supports (qlab_support): the check the pipeline runs
// before any weight is loaded, and the text `qlab plugins` and the errors show.
#pragma once
#include <string>

#include "qlab/plugin.h"

namespace qlab {

// "" when the plugin supports `f`, else what is wrong: "bits = 3, but it supports bits 4".
std::string unsupported_format(const qlab_plugin& plugin, const qlab_format& f);
// "bits 4; group_size a multiple of 32" or "any format".
std::string describe_support(const qlab_support& s);

}  // namespace qlab
