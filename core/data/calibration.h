// Calibration segments drawn exactly as the reference code draws them.
//   sampler "gptq": Python's random.seed(seed), then per segment
//       c4:PATH         redraw documents (randint over the shard) until one tokenizes to
//                       ≥ seq_len tokens, then a window at randint(0, len − seq_len − 1);
//       wikitext2:PATH  windows of the training text (rows joined with " ", as get_wikitext2);
//       ptb:PATH        windows of the sentences joined with " " (get_ptb_new);
//       text:PATH       windows of the whole file.
//   sampler "awq": lines in file order (JSON lines' "text", or plain lines), stripped and
//       encoded with BOS; lines over seq_len tokens skipped until n_segments lines are kept;
//       all concatenated and cut into seq_len blocks, tail dropped (llm-awq's pile-val loader;
//       the reference's dataset.shuffle(seed=42) is not redone: give the file pre-shuffled).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/data_spec.h"
#include "tokenizer/tokenizer.h"
#include "util/name_table.h"

namespace qlab {

enum class Sampler { gptq, awq };
inline constexpr NameTable<Sampler, 2> kSamplers{{{{Sampler::gptq, "gptq"}, {Sampler::awq, "awq"}}}};

struct CalibrationSpec {
  std::string data;  // a data spec, as for evaluation
  Sampler sampler = Sampler::gptq;
  int64_t n_segments = 128;
  int64_t seq_len = 2048;
  int64_t seed = 0;  // as Python's random.seed(int): negative seeds act as their absolute value
};

struct CalibrationSet {
  std::vector<std::vector<int32_t>> segments;
  std::vector<int64_t> document;  // document (or line) index per segment, −1 for one stream
  std::vector<int64_t> start;     // first token of the window within it
  DataProvenance provenance;
};

CalibrationSet sample_calibration(const CalibrationSpec& spec, const Tokenizer& tokenizer);

// Fails unless the n_segments × seq_len token ids the spec asks for fit in available memory
// (checked at experiment load and again before sampling).
void check_calibration_tokens_fit(const CalibrationSpec& spec);

}  // namespace qlab
