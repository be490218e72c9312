// Documents' model inputs packed into segments as prefix trees: the requests of one document
// share their common prefix (a question's context is run once for all its choices, the two
// WinoGrande contexts share their opening words), and documents are packed one after another
// up to a segment's capacity, each attending only to its own tree (PackedLayout).
#pragma once
#include <cstdint>
#include <vector>

#include "forward/block_forward.h"

namespace qlab {

// One request's model input and how many of its last positions predict the continuation.
struct RequestInput {
  std::vector<int32_t> input;          // model_input(): (context + continuation)[-(L+1):][:-1]
  std::vector<int32_t> continuation;   // the tokens those positions must predict
};

struct PackedSegment {
  std::vector<int32_t> tokens;
  PackedLayout layout;
  // Request `request` of document `doc`: continuation token k is predicted by row rows[k].
  struct Target {
    int64_t doc = 0;
    int32_t request = 0;
    std::vector<int32_t> continuation;
    std::vector<int32_t> rows;
  };
  std::vector<Target> targets;
};

// docs[d] = the inputs of document d's requests. Documents are never split: one larger than
// `capacity` rows gets a segment of its own.
std::vector<PackedSegment> pack_prefix_trees(const std::vector<std::vector<RequestInput>>& docs, int64_t capacity);

}  // namespace qlab
