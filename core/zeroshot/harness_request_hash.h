// The verification key of lm-evaluation-harness v0.3.0's tests: sha256 of
// json.dumps([[context, continuation], …]) over every request a task sends, in request order
// (tests/testdata/<task>-v<N>-loglikelihood). Matching it proves the strings and the order.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "zeroshot/task.h"

namespace qlab {

// Python's json.dumps(list_of_lists) with its defaults: ", " separators, ensure_ascii (every
// character outside ' '..'~' as \uXXXX, lower-case hex, surrogate pairs above U+FFFF) and
// the short escapes \" \\ \n \r \t \b \f. Fails on malformed UTF-8.
std::string python_json_dumps(const std::vector<std::pair<std::string, std::string>>& pairs);

// The hash over the task's documents as loaded (load with HarnessVersion::v0_3 for the
// harness's values). LAMBADA lists each request twice: v0.3 asked for its ll and its
// is_greedy as two requests.
std::string v0_3_request_hash(const TaskData& task);
// The same over the documents of one group: v0.3 hashed each MMLU subject as its own task,
// hendrycksTest-<subject>.
std::string v0_3_request_hash_of_group(const TaskData& task, int group);

}  // namespace qlab
