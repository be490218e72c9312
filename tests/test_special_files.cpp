// Paths that are not plain files: FIFOs, devices, directories, symlink loops and /proc
// files are refused by name before any read, and never block.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "data/calibration.h"
#include "data/data_spec.h"
#include "format/hf_loader.h"
#include "format/llama2c_loader.h"
#include "format/model_loader.h"
#include "tokenizer/tokenizer_loader.h"
#include "support/llama2c_file.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace qlab;
using namespace qlab::test;

namespace {
const std::filesystem::path kBundled = source_dir() / "datasets/stories260K/stories260K.bin";
std::filesystem::path make_fifo(const TempDir& dir, const std::string& name) {
  const std::filesystem::path p = dir / name;
  REQUIRE(mkfifo(p.c_str(), 0600) == 0);
  return p;
}
}  // namespace

TEST_CASE("file reads refuse FIFOs, devices, directories and symlink loops by name", "[io][bad-input]") {
  TempDir dir;
  const auto fifo = make_fifo(dir, "pipe");
  REQUIRE_THROWS_WITH(read_text_file(fifo), fifo.string() + ": not a regular file (a FIFO)");
  REQUIRE_THROWS_WITH(read_binary_file("/dev/zero"), "/dev/zero: not a regular file (a character device)");
  REQUIRE_THROWS_WITH(read_text_file(dir.path()), dir.path().string() + ": is a directory, expected a file");
  REQUIRE_THROWS_WITH(read_text_file(dir / "absent"), (dir / "absent").string() + ": no such file");
  std::filesystem::create_symlink(dir / "loop", dir / "loop");
  REQUIRE_THROWS_WITH(read_text_file(dir / "loop"), (dir / "loop").string() + ": too many levels of symbolic links");
  CHECK(path_kind(dir / "absent") == PathKind::missing);
  CHECK(path_kind(fifo) == PathKind::other);
  // /proc/self/mem is a "regular" file of size 0 whose first page cannot be read.
  REQUIRE_THROWS_WITH(read_text_file("/proc/self/mem"), Catch::StartsWith("/proc/self/mem: read failed after 0 bytes"));
}

TEST_CASE("model files that are FIFOs or symlink loops are refused without blocking", "[io][hf][bad-input]") {
  TempDir dir;
  write_hf_llama(load_llama2c(kBundled), dir / "hf");
  std::filesystem::rename(dir / "hf/model.safetensors", dir / "weights");
  REQUIRE(mkfifo((dir / "hf/model.safetensors").c_str(), 0600) == 0);
  REQUIRE_THROWS_WITH(load_model(dir / "hf"), (dir / "hf/model.safetensors").string() + ": not a regular file (a FIFO)");

  std::filesystem::remove(dir / "hf/model.safetensors");
  std::filesystem::create_symlink("model.safetensors", dir / "hf/model.safetensors");
  REQUIRE_THROWS_WITH(load_model(dir / "hf"), (dir / "hf/model.safetensors").string() + ": too many levels of symbolic links");

  std::filesystem::remove(dir / "hf/model.safetensors");
  std::filesystem::rename(dir / "weights", dir / "hf/model.safetensors");
  std::filesystem::rename(dir / "hf/config.json", dir / "config_real.json");
  std::filesystem::create_symlink("config.json", dir / "hf/config.json");
  REQUIRE_THROWS_WITH(load_model(dir / "hf"), (dir / "hf/config.json").string() + ": too many levels of symbolic links");

  const auto fifo_bin = make_fifo(dir, "model.bin");
  REQUIRE_THROWS_WITH(load_model(fifo_bin), fifo_bin.string() + ": not a regular file (a FIFO)");
  const auto fifo_tok = make_fifo(dir, "tokenizer.json");
  REQUIRE_THROWS_WITH(load_tokenizer(fifo_tok), fifo_tok.string() + ": not a regular file (a FIFO)");
}

TEST_CASE("data specs name FIFOs, devices and directories for what they are", "[io][data][bad-input]") {
  TempDir dir;
  auto tok = load_tokenizer(source_dir() / "datasets/stories260K/tok512.bin");
  const auto fifo = make_fifo(dir, "text.txt");
  REQUIRE_THROWS_WITH(load_eval_tokens("text:" + fifo.string(), *tok, 64), fifo.string() + ": not a regular file (a FIFO)");
  REQUIRE_THROWS_WITH(load_eval_tokens("text:/dev/zero", *tok, 64), "/dev/zero: not a regular file (a character device)");
  REQUIRE_THROWS_WITH(load_eval_tokens("text:" + dir.path().string(), *tok, 64),
                      dir.path().string() + ": is a directory; a text: spec names one file");
  // C4 specs still take a directory holding the split's usual file.
  REQUIRE_THROWS_WITH(load_eval_tokens("c4:" + dir.path().string(), *tok, 64),
                      (dir / "c4-validation.00000-of-00008.json.gz").string() + ": no such file");
  const auto fifo_gz = make_fifo(dir, "c4.json.gz");
  REQUIRE_THROWS_WITH(load_eval_tokens("c4:" + fifo_gz.string(), *tok, 64), fifo_gz.string() + ": not a regular file (a FIFO)");

  CalibrationSpec spec{"text:/proc/self/mem", Sampler::gptq, 4, 32, 0};
  REQUIRE_THROWS_WITH(sample_calibration(spec, *tok), Catch::StartsWith("/proc/self/mem: read failed after 0 bytes"));
  spec.data = "text:" + dir.path().string();
  REQUIRE_THROWS_WITH(sample_calibration(spec, *tok), dir.path().string() + ": is a directory; a text: spec names one file");
}
