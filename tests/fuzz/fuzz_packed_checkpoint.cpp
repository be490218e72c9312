// libFuzzer target: a GPTQ checkpoint's model.safetensors made of the fuzz input, beside a fixed
// one-block LLaMA config.json with a quantization_config, opened and read through HfSource
// (header checks, then every packed linear unpacked as its block loads). Only qlab::Error may
// come out.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "format/hf_source.h"
#include "util/error.h"

namespace {

const std::filesystem::path& checkpoint_dir() {
  static const std::filesystem::path dir = [] {
    const auto d = std::filesystem::temp_directory_path() / ("qlab_fuzz_packed_" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    std::ofstream(d / "config.json") << R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 32,
 "max_position_embeddings": 64, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": true,
 "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 32, "desc_act": true, "sym": true,
                         "checkpoint_format": "gptq"}})";
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path& dir = checkpoint_dir();
  {
    std::ofstream f(dir / "model.safetensors", std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    qlab::HfSource source(dir);
    for (int64_t i = 0; i < source.config().n_layers; ++i) source.load_block(i);
    source.load_outer();
  } catch (const qlab::Error&) {
  }
  return 0;
}
