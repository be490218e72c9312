// Catch2 v2 has no SKIP. QLAB_SKIP prints why and leaves the test case; under CTest (which
// sets QLAB_SKIP_EXIT_CODE for each discovered case) it exits with that code so CTest lists
// the case as skipped, not passed.
#pragma once
#include <cstdio>
#include <cstdlib>

#define QLAB_SKIP(reason)                                              \
  do {                                                                 \
    std::fprintf(stderr, "SKIPPED: %s\n", reason);                     \
    if (const char* code = std::getenv("QLAB_SKIP_EXIT_CODE")) {       \
      std::fflush(stderr);                                             \
      std::_Exit(std::atoi(code));                                     \
    }                                                                  \
    WARN("skipped: " << reason);                                       \
    return;                                                            \
  } while (0)

// A [cuda] parity case: skipped, saying why, when no CUDA device is visible; else `cpu` (the
// reference) and `gpu` backends. Needs backend/backend_select.h and <string>.
#define QLAB_NEED_CUDA()                                                 \
  std::string cuda_why;                                                  \
  if (qlab::visible_cuda_devices(&cuda_why) == 0)                        \
    QLAB_SKIP(("no CUDA device visible: " + cuda_why).c_str());          \
  auto cpu = qlab::make_backend("cpu");                                  \
  auto gpu = qlab::make_backend("cuda")
