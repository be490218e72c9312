// Folding a per-channel scale s into a scalable group: the producer's output channel j is
// divided by s_j (norm weight and bias, or the producer linear's row j and bias j) and every
// consumer's input column j multiplied by s_j, so the float model computes the same function.
#pragma once
#include "model/model.h"

namespace qlab {

// Throws when s has the wrong length or a value that is not finite and positive (a
// non-positive scale would not pass through ReLU/SiLU products unchanged).
void fold_scale(ScalableGroup& group, const Vector& s);

}  // namespace qlab
