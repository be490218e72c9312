// Sizes checked against the memory the machine can still give, before anything that big is
// allocated: a typo like n_segments = 100000000 is refused in milliseconds instead of
// growing until the kernel kills the process.
#pragma once
#include <cstdint>
#include <string>

namespace qlab {

// MemAvailable from /proc/meminfo; where that is unreadable, free physical pages.
uint64_t available_memory_bytes();

// The memory a command may use when the user gives no --max-memory: 3/4 of what is available
// now, leaving room for the page cache and other processes.
uint64_t default_memory_budget();

// Fails "WHAT needs about X GiB (HOW), but only Y GiB of memory is available" when `bytes`
// exceed available_memory_bytes(). `bytes` is a double so that callers' products of
// user-given sizes cannot overflow.
void require_memory(double bytes, const std::string& what, const std::string& how);

}  // namespace qlab
