// The rules of the weight format (bits, group_size, sym, range), checked in this one place
// for [quant], [[override]] rules and `qlab layer --set`. `key` is the name the caller's user
// wrote ("quant.bits", "override bits", "bits"); `where` locates it.
#pragma once
#include <cstdint>
#include <string>

#include "plugin_host/params.h"
#include "qlab/plugin.h"
#include "util/name_table.h"

namespace qlab {

inline constexpr NameTable<int32_t, 2> kGridRanges{{{{QLAB_RANGE_GPTQ, "gptq"}, {QLAB_RANGE_MINMAX, "minmax"}}}};

int32_t checked_bits(int64_t bits, const std::string& where, const std::string& key);              // 2..8
int32_t checked_group_size(int64_t group_size, const std::string& where, const std::string& key);  // >= 0, 0 = per output channel
int32_t parse_grid_range(const std::string& name, const std::string& where, const std::string& key);  // gptq | minmax

// Sets format key `key` (bits, group_size, sym or range) of `f` from a --set value; false
// when `key` is not a format key.
bool set_format_key(qlab_format& f, const std::string& key, const ParamValue& value, const std::string& where);

}  // namespace qlab
