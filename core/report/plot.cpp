#include "report/plot.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "util/error.h"

namespace qlab {

namespace {
std::string quoted(std::string s) {  // a gnuplot string literal
  std::string out = "\"";
  for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}
}  // namespace

void plot_report(const ExperimentSummary& s, const std::string& png_path) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0)
    fail("--plot {}: gnuplot is not installed (Debian: apt-get install gnuplot-nox)", png_path);
  std::string dir_template = (std::filesystem::temp_directory_path() / "qlab_plot_XXXXXX").string();
  if (!mkdtemp(dir_template.data())) fail("--plot {}: cannot create a temporary directory for gnuplot's input", png_path);
  const std::filesystem::path dir = dir_template;
  struct Cleanup {  // gnuplot's input goes whether the plot succeeds or not
    std::filesystem::path dir;
    ~Cleanup() { std::error_code ec; std::filesystem::remove_all(dir, ec); }
  } cleanup{dir};
  // Left: ppl against bits, per method (runs without an identity are named by their setting).
  std::map<std::string, std::vector<std::pair<double, double>>> series;
  std::string dataset = s.float_ppl.empty() ? "" : s.float_ppl[0].first;
  for (const RunSummary& r : s.runs) {
    if (r.status != "done" || r.ppl.empty()) continue;
    const std::string method = r.identity.count("method") ? r.identity.at("method") : setting_text(r.sweep_point);
    series[method].push_back({r.bits_per_weight, r.ppl[0].second});
  }
  std::string ppl_plot;
  int k = 0;
  for (auto& [method, points] : series) {
    std::sort(points.begin(), points.end());
    const std::string file = (dir / fmt::format("ppl{}.dat", k++)).string();
    std::ofstream out(file);
    for (const auto& [b, p] : points) out << b << " " << p << "\n";
    ppl_plot += fmt::format("{}{} using 1:2 with linespoints lw 2 pt 7 title {}", ppl_plot.empty() ? "" : ", ", quoted(file), quoted(method));
  }
  if (!s.float_ppl.empty()) ppl_plot += fmt::format(", {} with lines dt 2 lc rgb 'black' title 'float'", s.float_ppl[0].second);
  // Right: relative block output error against block index, one line per run.
  std::string err_plot;
  for (const RunSummary& r : s.runs) {
    if (r.block_error.empty()) continue;
    const std::string file = (dir / fmt::format("err_{}.dat", r.run_id)).string();
    std::ofstream out(file);
    for (size_t b = 0; b < r.block_error.size(); ++b) out << b << " " << std::max(r.block_error[b], 1e-12) << "\n";
    err_plot += fmt::format("{}{} using 1:2 with linespoints pt 7 ps 0.6 title {}", err_plot.empty() ? "" : ", ", quoted(file),
                            quoted(s.runs.size() > 14 ? r.run_id : r.run_id + " " + setting_text(r.sweep_point)));  // long grids: ids only
  }
  if (ppl_plot.empty() || err_plot.empty()) fail("--plot {}: the log has no finished runs to plot", png_path);
  const std::string script = (dir / "plot.gp").string();
  std::ofstream(script) << "set terminal pngcairo noenhanced size 1600,800 font 'DejaVu Sans,10'\n"
                        << "set output " << quoted(png_path) << "\n"
                        << "set multiplot layout 1,2 title " << quoted(s.experiment) << "\n"
                        << "set logscale y\nset grid\nset key top right\n"
                        << "set xlabel 'average bits per weight'\nset ylabel " << quoted("perplexity (" + dataset + ")") << "\n"
                        << "plot " << ppl_plot << "\n"
                        << "set xlabel 'block'\nset ylabel 'relative block output error'\nset xtics 1\n"
                        << (s.runs.size() > 14 ? "set key outside right font ',8'\n" : "set key below font ',8'\n")
                        << "plot " << err_plot << "\nunset multiplot\n";
  const int rc = std::system(fmt::format("gnuplot {} 2> {}", quoted(script), quoted((dir / "gnuplot.err").string())).c_str());
  if (rc != 0) {
    std::ifstream err(dir / "gnuplot.err");
    std::string msg((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    fail("--plot {}: gnuplot failed: {}", png_path, msg);
  }
}

}  // namespace qlab
