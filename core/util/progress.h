// Progress lines for long work on stderr: "eval: 12/40 segments, 3.1 s, 7.2 s left".
// On a terminal the line is rewritten in place; otherwise a line at most every few seconds.
#pragma once
#include <chrono>
#include <string>

namespace qlab {

class Progress {
 public:
  Progress(std::string label, long long total, std::string unit, bool enabled = true);
  void advance(long long n = 1);  // n more units done
  void finish();                  // final line (terminal only), idempotent
  double elapsed_s() const;

 private:
  void print(bool final_line);
  std::string label_, unit_;
  long long total_, done_ = 0;
  bool enabled_, is_tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

std::string format_duration(double seconds);  // "42.0 s", "3 m 10 s", "1 h 02 m"

}  // namespace qlab
