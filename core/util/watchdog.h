// Ends the process when one watched call outlives its limit. A plugin hook stuck in a loop
// cannot be stopped from inside the process, so it is stopped the way a crash is: the
// watchdog prints what overran and raises SIGABRT, which the run's crash marker
// (run/crash_marker.h) records, so `--resume` marks that run crashed and goes on.
#pragma once
#include <string>

namespace qlab {

void set_watch_limit(double seconds);  // 0: no limit (the default)
const char* watchdog_cause();          // what overran, once the watchdog fired; else nullptr

class Watch {  // one call under watch while it lives (calls are not nested)
 public:
  explicit Watch(std::string what);
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
};

}  // namespace qlab
