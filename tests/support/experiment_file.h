// Test support: experiment files on the bundled model (stories260K, TinyStories calibration
// and evaluation text), written as the header below followed by a test's own sections.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/llama2c_file.h"

namespace qlab::test {

struct BundledExperiment {
  std::string name = "t";
  int64_t n_segments = 16, calibration_seq_len = 128;
  int64_t eval_seq_len = 256, eval_max_segments = 8;
};

// name, [model], [calibration] and [eval] on the bundled files.
inline std::string bundled_header(const BundledExperiment& e = {}) {
  const std::string root = source_dir().string();
  return "name = \"" + e.name + "\"\n[model]\npath = \"" + root + "/datasets/stories260K/stories260K.bin\"\n" +
         "[calibration]\ndata = \"text:" + root + "/datasets/tinystories/tinystories_calib.txt\"\n" +
         "n_segments = " + std::to_string(e.n_segments) + "\nseq_len = " + std::to_string(e.calibration_seq_len) + "\n" +
         "[eval]\ndata = \"text:" + root + "/datasets/tinystories/tinystories_eval.txt\"\nseq_len = " + std::to_string(e.eval_seq_len) +
         "\nmax_segments = " + std::to_string(e.eval_max_segments) + "\n";
}

// Writes bundled_header(e) + body to `file`; returns its path as a string.
inline std::string write_bundled_experiment(const std::filesystem::path& file, const std::string& body, const BundledExperiment& e = {}) {
  std::ofstream(file) << bundled_header(e) << body;
  return file.string();
}

}  // namespace qlab::test
