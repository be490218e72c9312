#include "format/hf_quantization.h"

#include <algorithm>
#include <cctype>

#include "util/error.h"
#include "util/file_io.h"

namespace qlab {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The first of `keys` present (AutoGPTQ and AutoAWQ spell some settings their own way).
const nlohmann::json* field(const nlohmann::json& q, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (q.contains(k) && !q[k].is_null()) return &q[k];
  return nullptr;
}

int64_t integer(const nlohmann::json& q, std::initializer_list<const char*> keys, const std::string& where, int64_t fallback) {
  const nlohmann::json* v = field(q, keys);
  if (!v) return fallback;
  if (!v->is_number_integer()) fail("{}: quantization_config.{} must be an integer", where, *keys.begin());
  return v->get<int64_t>();
}

}  // namespace

std::optional<PackedGrid> read_quantization_config(const HfConfig& config, const std::filesystem::path& dir) {
  nlohmann::json q;
  std::string where = config.path();
  if (config.has("quantization_config")) {
    q = config.json()["quantization_config"];
  } else {
    for (const char* name : {"quantize_config.json", "quant_config.json"}) {
      const auto path = dir / name;
      if (path_kind(path) == PathKind::missing) continue;
      q = nlohmann::json::parse(read_text_file(path), nullptr, false);
      where = path.string();
      if (q.is_discarded()) fail("{}: not valid JSON", where);
      break;
    }
    if (q.is_null()) return std::nullopt;
  }
  if (!q.is_object()) fail("{}: quantization_config is not an object", where);
  const nlohmann::json* method = field(q, {"quant_method"});
  const std::string m = method && method->is_string() ? lower(method->get<std::string>())
                        : field(q, {"version"}) ? "awq"  // AutoAWQ's own quant_config.json has no quant_method
                                                : "gptq";
  PackedGrid grid;
  grid.bits = static_cast<int32_t>(integer(q, {"bits", "w_bit"}, where, 4));
  grid.group_size = integer(q, {"group_size", "q_group_size"}, where, 128);
  if (grid.group_size == 0 || grid.group_size < -1) fail("{}: quantization_config.group_size = {} (expected -1 or a positive size)", where, grid.group_size);
  if (m == "gptq") {
    const nlohmann::json* format = field(q, {"checkpoint_format", "format"});
    const std::string f = format && format->is_string() ? lower(format->get<std::string>()) : "gptq";
    if (f == "gptq") grid.format = PackedFormat::gptq_v1;
    else if (f == "gptq_v2") grid.format = PackedFormat::gptq_v2;
    else fail("{}: GPTQ checkpoint_format '{}' is not supported (gptq, gptq_v2)", where, f);
    if (grid.bits != 2 && grid.bits != 3 && grid.bits != 4 && grid.bits != 8)
      fail("{}: GPTQ with {} bits is not supported (2, 3, 4, 8)", where, grid.bits);
  } else if (m == "awq") {
    const nlohmann::json* version = field(q, {"version", "format"});
    const std::string v = version && version->is_string() ? lower(version->get<std::string>()) : "gemm";
    if (v != "gemm") fail("{}: AWQ version '{}' is not supported (gemm)", where, v);
    const nlohmann::json* zero_point = field(q, {"zero_point"});
    if (zero_point && !(zero_point->is_boolean() && zero_point->get<bool>()))
      fail("{}: AWQ zero_point = false is not supported (AutoAWQ's GEMM layout stores zeros)", where);
    if (grid.bits != 4) fail("{}: AWQ with {} bits is not supported (4)", where, grid.bits);
    grid.format = PackedFormat::awq_gemm;
  } else {
    fail("{}: quant_method '{}' is not supported (gptq, awq)", where, m);
  }
  return grid;
}

}  // namespace qlab
