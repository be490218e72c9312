#include "util/watchdog.h"

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

namespace qlab {

namespace {
using Clock = std::chrono::steady_clock;

struct State {
  std::mutex mutex;
  std::condition_variable changed;
  double limit_s = 0;
  bool active = false;
  uint64_t generation = 0;
  Clock::time_point deadline;
  std::string what;
  bool thread_started = false;
};
State& state() {
  static State* s = new State;  // never destroyed: the watchdog thread may outlive main
  return *s;
}
char g_cause[512];
volatile std::sig_atomic_t g_fired = 0;

// Sleeps until the watched call ends or its deadline passes; never spins.
void watch_loop() {
  State& s = state();
  std::unique_lock lock(s.mutex);
  for (;;) {
    s.changed.wait(lock, [&] { return s.active; });
    const uint64_t generation = s.generation;
    if (s.changed.wait_until(lock, s.deadline, [&] { return !s.active || s.generation != generation; })) continue;
    std::snprintf(g_cause, sizeof g_cause, "%s ran longer than --hook-timeout %g s", s.what.c_str(), s.limit_s);
    g_fired = 1;
    fmt::print(stderr, "\nqlab: error: {}; stopping the process\n", g_cause);
    std::raise(SIGABRT);
  }
}
}  // namespace

void set_watch_limit(double seconds) {
  std::lock_guard lock(state().mutex);
  state().limit_s = seconds;
}

const char* watchdog_cause() { return g_fired ? g_cause : nullptr; }

Watch::Watch(std::string what) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  if (s.limit_s <= 0) return;
  if (!s.thread_started) {
    std::thread(watch_loop).detach();
    s.thread_started = true;
  }
  s.active = true;
  ++s.generation;
  s.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s.limit_s));
  s.what = std::move(what);
  s.changed.notify_all();
}

Watch::~Watch() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.active = false;
  s.changed.notify_all();
}

}  // namespace qlab
