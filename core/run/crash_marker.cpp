#include "run/crash_marker.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "util/watchdog.h"

namespace qlab {

namespace {
// Written before the run starts, read by the handlers: they may only call async-signal-safe
// functions, so nothing is formatted or allocated there.
char g_marker[4096];
char g_run_id[64];
volatile std::sig_atomic_t g_armed = 0;

void write_text(int fd, const char* s) {
  if (::write(fd, s, std::strlen(s)) < 0) return;  // nothing else to do while dying
}

void leave_marker(const char* cause) {
  const int fd = ::open(g_marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    write_text(fd, g_run_id);
    write_text(fd, "\n");
    write_text(fd, cause);
    write_text(fd, "\n");
    ::close(fd);
  }
  write_text(2, "\nqlab: error: run ");
  write_text(2, g_run_id);
  write_text(2, " died: ");
  write_text(2, cause);
  write_text(2, "\n  `qlab run ... --resume` marks it crashed and continues with the other runs\n");
}

const char* signal_cause(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGFPE: return "SIGFPE (arithmetic fault)";
    case SIGABRT: return "SIGABRT (abort)";
    default: return "a fatal signal";
  }
}

void on_fault(int sig) {
  const char* overran = watchdog_cause();
  if (g_armed) leave_marker(sig == SIGABRT && overran ? overran : signal_cause(sig));
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// exit() inside a run can only come from a plugin (qlab itself returns from main): the
// sweep must not end with status 0 and half its runs missing.
void on_exit() {
  if (!g_armed) return;
  leave_marker("exit() was called during the run (by a plugin hook?)");
  ::_exit(1);
}

void install_once() {
  static const bool installed = [] {
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) std::signal(sig, on_fault);
    std::atexit(on_exit);
    return true;
  }();
  (void)installed;
}
}  // namespace

std::string crash_marker_path(const std::string& log_path) { return log_path + ".crash"; }

CrashGuard::CrashGuard(const std::string& log_path, const std::string& run_id) {
  install_once();
  std::snprintf(g_marker, sizeof g_marker, "%s", crash_marker_path(log_path).c_str());
  std::snprintf(g_run_id, sizeof g_run_id, "%s", run_id.c_str());
  g_armed = 1;
}

CrashGuard::~CrashGuard() { g_armed = 0; }

std::optional<CrashRecord> read_crash_marker(const std::string& log_path) {
  std::ifstream in(crash_marker_path(log_path));
  CrashRecord r;
  if (!in || !std::getline(in, r.run_id) || !std::getline(in, r.cause) || r.run_id.empty()) return std::nullopt;
  return r;
}

}  // namespace qlab
