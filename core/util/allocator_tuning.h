// glibc serves allocations above its mmap threshold (dynamic, ≤ 32 MiB) with fresh mmaps and
// gives memory at the top of the heap back past the trim threshold, so a forward pass that
// frees and re-allocates activations of a few MiB per linear pays page faults each time:
// scoring zero-shot tasks on the bundled model spent 30% of its CPU time in the kernel
// zeroing new pages (sys 1.9 s of 5.7 s). Fixed thresholds keep those buffers in the heap
// for reuse; larger ones (a 7B block's weights) still go to mmap and back to the system.
#pragma once

namespace qlab {

// Call once at start: mmap threshold 32 MiB, trim threshold 128 MiB (at most that much freed
// memory stays resident).
void keep_freed_activations_for_reuse();

}  // namespace qlab
