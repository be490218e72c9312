// `qlab report --plot OUT.png`: two panels drawn by gnuplot (Debian's gnuplot-nox) from the
// log's numbers: perplexity against average bits per weight, one series per method, and
// each run's relative block output error against depth.
#pragma once
#include <string>

#include "log/log_summary.h"

namespace qlab {

void plot_report(const ExperimentSummary& s, const std::string& png_path);

}  // namespace qlab
