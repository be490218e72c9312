// AWQ on the bundled model: the scale search runs the inspected modules through the host,
// folds the chosen scales, and beats RTN at 3 bits (group 32); AWQ+GPTQ runs.
#include <catch2/catch.hpp>
#include <cmath>

#include "config/experiment.h"
#include "log/log_summary.h"
#include "run/experiment_runner.h"
#include "support/experiment_file.h"
#include "support/hf_dir.h"
#include "forward/forward.h"
#include "format/hf_loader.h"
#include "walk/layer_walker.h"

using namespace qlab;
using namespace qlab::test;

TEST_CASE("AWQ at 3 bits beats RTN on the bundled model, AWQ+GPTQ runs", "[awq][slow]") {
  TempDir dir;
  std::ofstream(dir / "awq.toml") << bundled_header({.name = "awq", .n_segments = 32, .calibration_seq_len = 256, .eval_seq_len = 512, .eval_max_segments = 96})
                                  << "[quant]\nbits = 3\ngroup_size = 32\nrange = \"minmax\"\n[walker]\npropagate = \"float\"\n"
                                  << "[[pipeline]]\nplugin = \"awq\"\n[[pipeline]]\nplugin = \"rtn\"\n"
                                  << "[sweep]\nmode = \"zip\"\n"
                                  << "\"pipeline.1.plugin\" = [\"rtn\", \"rtn\", \"gptq\", \"rtn\"]\n"
                                  << "\"pipeline.awq.duo_scaling\" = [false, false, false, true]\n";
  Experiment ex = load_experiment((dir / "awq.toml").string());
  // r0000 becomes plain RTN, the baseline.
  ex.runs[0].pipeline.erase(ex.runs[0].pipeline.begin());
  RunOptions opt{(dir / "awq.h5").string(), false, {}, false};
  ExperimentSummary s = run_experiment(ex, opt);
  REQUIRE(s.runs.size() == 4);
  for (const RunSummary& r : s.runs) REQUIRE(r.status == "done");
  const double rtn = s.runs[0].ppl.at(0).second, awq = s.runs[1].ppl.at(0).second, awq_gptq = s.runs[2].ppl.at(0).second;
  CHECK(awq < rtn);
  CHECK(awq_gptq < rtn);
  const double duo = s.runs[3].ppl.at(0).second;  // AutoAWQ's default: s = x̄^r / w̄^(1−r)
  INFO("RTN " << rtn << ", AWQ " << awq << ", AWQ+GPTQ " << awq_gptq << ", AWQ duo scaling " << duo);
  CHECK(duo < rtn);
  CHECK(duo != awq);
  // The chosen ratio and loss are logged per linear of each group.
  ExperimentLog log = ExperimentLog::open_read(opt.log_path);
  h5::Handle lin = h5::open_group(log.file(), "runs/r0001/linears");
  std::vector<double> ratio = h5::read_numbers(lin.id(), "awq.ratio");
  REQUIRE(ratio.size() == 35);
  int unscaled = 0;
  for (double v : ratio) {
    if (std::isnan(v)) ++unscaled;  // o_proj: under GQA v → o is not a scalable group
    else CHECK((v >= 0.0 && v < 1.0));
  }
  CHECK(unscaled == 5);
}
