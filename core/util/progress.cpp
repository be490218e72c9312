#include "util/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace qlab {

std::string format_duration(double s) {
  if (s < 60) return fmt::format("{:.1f} s", s);
  long long t = static_cast<long long>(s + 0.5);
  if (t < 3600) return fmt::format("{} m {:02} s", t / 60, t % 60);
  return fmt::format("{} h {:02} m", t / 3600, (t % 3600) / 60);
}

Progress::Progress(std::string label, long long total, std::string unit, bool enabled)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      is_tty_(isatty(fileno(stderr)) != 0), start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(long long n) {
  done_ += n;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  if ((is_tty_ && since > 0.2) || (!is_tty_ && since > 5.0)) {
    last_print_ = now;
    print(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_ && is_tty_) print(true);
}

void Progress::print(bool final_line) {
  double elapsed = elapsed_s();
  std::string left;
  if (done_ > 0 && done_ < total_)
    left = ", " + format_duration(elapsed / done_ * (total_ - done_)) + " left";
  std::string line = fmt::format("{}: {}/{} {}, {}{}", label_, done_, total_, unit_,
                                 format_duration(elapsed), left);
  if (is_tty_)
    fmt::print(stderr, "\r{:<78}{}", line, final_line ? "\n" : "");
  else
    fmt::print(stderr, "{}\n", line);
  std::fflush(stderr);
}

}  // namespace qlab
