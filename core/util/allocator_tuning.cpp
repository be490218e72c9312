#include "util/allocator_tuning.h"

#include <malloc.h>

namespace qlab {

void keep_freed_activations_for_reuse() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

}  // namespace qlab
