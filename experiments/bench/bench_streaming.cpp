// Time per block of the streamed path (each block converted from the mapped safetensors when
// it is needed, the vocabulary tables read in chunks) against the in-memory path (the whole
// model converted to float32 first, as qlab did before it streamed), for block-major
// evaluation and for a GPTQ walk, on a model directory such as make_synthetic.py's
// llama-2-7b --blocks 4. Target: the streamed path within 10% of the in-memory one.
//
//   qlab_bench_streaming --model DIR [--threads N] [--seqlen 2048] [--segments 2] [--calibration 1 (0: no walk)]
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.h"
#include "config/experiment.h"
#include "eval/perplexity.h"
#include "format/model_loader.h"
#include "plan/layer_plan.h"
#include "plugin_host/plugin_loader.h"
#include "util/parallel.h"
#include "walk/layer_walker.h"
#include "walk/pipeline.h"

using namespace qlab;
using namespace qlab::bench;

namespace {

std::vector<int32_t> ids_of(int64_t n, int64_t vocab, int64_t salt) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) ids[static_cast<size_t>(t)] = static_cast<int32_t>((t * 7919 + salt * 104729) % vocab);
  return ids;
}

// Seconds of a GPTQ w4 g128 walk of every block of `source`.
double walk_seconds(const WeightSource& source, const PluginRegistry& reg, const std::vector<std::vector<int32_t>>& calib) {
  RunConfig run;
  run.format = {4, 128, 0, QLAB_RANGE_GPTQ};
  run.pipeline = {{"gptq", {}, "bench"}};
  Pipeline p = build_pipeline(run, reg);
  ActivationPlan act{run.act, {}};
  const LayerPlan plan = resolve_plan(run, source.config(), source.linears(), p.needs());
  CallbackSink sink([](const BlockResult&, const Block&, const ActivationPlan&) {});
  return seconds_of([&] { walk_layers(source, plan, calib, p, act, sink, false); });
}

void row(const char* what, double streamed, double in_memory, int64_t blocks) {
  fmt::print("{:<34} streamed {:7.2f} s/block  in memory {:7.2f} s/block  streamed/in-memory {:.3f}  [target <= 1.10]\n", what,
             streamed / static_cast<double>(blocks), in_memory / static_cast<double>(blocks), streamed / in_memory);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  int threads = 2;
  int64_t seq_len = 2048, segments = 2, calibration = 1;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--model")) model_dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seqlen")) seq_len = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--segments")) segments = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--calibration")) calibration = std::stoll(argv[i + 1]);
  }
  if (model_dir.empty()) {
    fmt::print(stderr, "usage: qlab_bench_streaming --model DIR [--threads N] [--seqlen T] [--segments S] [--calibration C]\n");
    return 2;
  }
  set_threads(threads);
  const auto streamed = open_weight_source(model_dir);
  const int64_t blocks = streamed->n_blocks(), vocab = streamed->config().vocab_size;
  fmt::print("{}: {} blocks, d {}, vocab {}; threads {}\n", model_dir, blocks, streamed->config().dim, vocab, threads);

  const std::vector<int32_t> tokens = ids_of(seq_len * segments, vocab, 0);
  PerplexityOptions opts;
  opts.seq_len = seq_len;
  opts.max_segments = segments;
  opts.progress = false;
  PerplexityResult from_files, from_memory;
  const double eval_streamed = seconds_of([&] { from_files = perplexity(*streamed, tokens, opts); });
  Model whole;
  const double load = seconds_of([&] { whole = streamed->load_model(); });
  const double eval_in_memory = seconds_of([&] { from_memory = perplexity(whole, tokens, opts); });
  const double convert = seconds_of([&] {
    for (int64_t b = 0; b < blocks; ++b) streamed->load_block(b);
  });
  fmt::print("loading the whole model in float32 (the in-memory path's extra step): {:.1f} s; one block from the "
             "files: {:.2f} s\n", load, convert / static_cast<double>(blocks));
  row(fmt::format("eval, {} x {} tokens", segments, seq_len).c_str(), eval_streamed, eval_in_memory, blocks);
  fmt::print("  perplexity streamed {:.6f}, in memory {:.6f}\n", from_files.ppl, from_memory.ppl);

  if (calibration == 0) return 0;  // evaluation only
  PluginRegistry reg = PluginRegistry::discover({});
  std::vector<std::vector<int32_t>> calib;
  for (int64_t s = 0; s < calibration; ++s) calib.push_back(ids_of(seq_len, vocab, s + 1));
  const double walk_streamed = walk_seconds(*streamed, reg, calib);
  const double walk_in_memory = walk_seconds(InMemorySource(std::move(whole)), reg, calib);
  row(fmt::format("GPTQ w4 g128 walk, {} x {} tokens", calibration, seq_len).c_str(), walk_streamed, walk_in_memory, blocks);
  return 0;
}
