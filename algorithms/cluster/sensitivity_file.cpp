#include "sensitivity_file.h"

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <qlab/half.hpp>
#include <qlab/plugin.hpp>

namespace qlab::cluster {

namespace {
[[noreturn]] void bad(const std::string& path, const std::string& what) { throw qlab::sdk::Failure(path + ": " + what); }
}  // namespace

SensitivityFile::SensitivityFile(std::string path) : path_(std::move(path)) {
  std::ifstream in(path_, std::ios::binary);
  if (!in) bad(path_, "cannot open the sensitivity file");
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  const uint64_t size = std::filesystem::file_size(path_);
  if (!in || header_len == 0 || header_len > size - 8) bad(path_, "not a safetensors file (bad header length)");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  data_offset_ = 8 + header_len;
  try {
    const nlohmann::json j = nlohmann::json::parse(header);
    for (const auto& [name, t] : j.items()) {
      if (name == "__metadata__") continue;
      Entry e;
      e.dtype = t.at("dtype").get<std::string>();
      e.shape = t.at("shape").get<std::vector<int64_t>>();
      e.begin = t.at("data_offsets").at(0).get<uint64_t>();
      e.end = t.at("data_offsets").at(1).get<uint64_t>();
      if (e.end < e.begin || data_offset_ + e.end > size) bad(path_, "tensor '" + name + "' lies outside the file");
      entries_.emplace_back(name, e);
    }
  } catch (const nlohmann::json::exception& e) {
    bad(path_, std::string("unreadable safetensors header: ") + e.what());
  }
}

std::vector<float> SensitivityFile::read(const std::string& id, int64_t rows, int64_t cols) const {
  const std::vector<std::string> names = {id, "model.layers." + id + ".weight", "model.decoder.layers." + id + ".weight"};
  for (const std::string& name : names)
    for (const auto& [n, e] : entries_) {
      if (n != name) continue;
      if (e.shape != std::vector<int64_t>{rows, cols})
        bad(path_, "tensor '" + n + "' has shape [" + (e.shape.empty() ? "" : std::to_string(e.shape[0])) +
                       (e.shape.size() > 1 ? ", " + std::to_string(e.shape[1]) : "") + "], the linear is [" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "]");
      const size_t width = e.dtype == "F32" ? 4 : (e.dtype == "F16" || e.dtype == "BF16") ? 2 : 0;
      if (width == 0) bad(path_, "tensor '" + n + "' is " + e.dtype + "; sensitivities must be F32, F16 or BF16");
      const auto count = static_cast<uint64_t>(rows * cols);
      if (e.end - e.begin != count * width) bad(path_, "tensor '" + n + "' has the wrong byte length for its shape");
      std::ifstream in(path_, std::ios::binary);
      in.seekg(static_cast<std::streamoff>(data_offset_ + e.begin));
      std::vector<float> out(count);
      if (width == 4) {
        in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(count * 4));
      } else {
        std::vector<uint16_t> h(count);
        in.read(reinterpret_cast<char*>(h.data()), static_cast<std::streamsize>(count * 2));
        for (uint64_t i = 0; i < count; ++i) out[i] = e.dtype == "BF16" ? qlab::bf16_to_f32(h[i]) : qlab::f16_to_f32(h[i]);
      }
      if (!in) bad(path_, "tensor '" + n + "' could not be read");
      for (float v : out)
        if (!std::isfinite(v) || v < 0.0f) bad(path_, "tensor '" + n + "' holds a negative or non-finite sensitivity");
      return out;
    }
  bad(path_, "no sensitivity tensor for linear " + id + " (looked for '" + names[0] + "', '" + names[1] + "', '" + names[2] + "')");
}

}  // namespace qlab::cluster
