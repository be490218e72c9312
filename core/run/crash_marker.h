// A run whose process dies by a fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT), or in which
// a plugin calls exit(), leaves LOG.crash naming the run and the cause. `--resume` then marks
// that run `crashed` and goes on with the others, instead of crashing at the same point
// forever; `--only RUN` retries it. A kill (SIGKILL, SIGTERM, SIGINT) leaves no marker: the
// run resumes from its last finished block.
#pragma once
#include <optional>
#include <string>

namespace qlab {

class CrashGuard {  // armed for one run while it lives
 public:
  CrashGuard(const std::string& log_path, const std::string& run_id);
  ~CrashGuard();
  CrashGuard(const CrashGuard&) = delete;
  CrashGuard& operator=(const CrashGuard&) = delete;
};

struct CrashRecord {
  std::string run_id, cause;
};
std::string crash_marker_path(const std::string& log_path);
std::optional<CrashRecord> read_crash_marker(const std::string& log_path);

}  // namespace qlab
