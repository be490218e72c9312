// One reader per zero-shot task behind load_task: each reads its files under the data
// directory and builds the documents in dataset order with the prompts of the harness
// version (load_task applies v0.3's shuffle). zeroshot-protocol.md §3 is the spec.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "zeroshot/task.h"

namespace qlab {

using TaskReader = TaskData (*)(const std::filesystem::path& data_dir, HarnessVersion version);

TaskData read_lambada_openai(const std::filesystem::path& data_dir, HarnessVersion version);
TaskData read_piqa(const std::filesystem::path& data_dir, HarnessVersion version);
TaskData read_arc_easy(const std::filesystem::path& data_dir, HarnessVersion version);
TaskData read_arc_challenge(const std::filesystem::path& data_dir, HarnessVersion version);
TaskData read_boolq(const std::filesystem::path& data_dir, HarnessVersion version);
TaskData read_winogrande(const std::filesystem::path& data_dir, HarnessVersion version);
TaskData read_mmlu(const std::filesystem::path& data_dir, HarnessVersion version);
TaskData read_hellaswag(const std::filesystem::path& data_dir, HarnessVersion version);

// MMLU's 57 subjects in alphabetical order (v0.3's SUBJECTS list; v0.4 groups them by
// category, which changes no document and no micro average). TaskDoc::group indexes it.
const std::vector<std::string>& mmlu_subjects();

// HellaSwag's preprocess(): strip(), " [title]" → ". ", drop every "[…]" (non-greedy, not
// across a newline), then "  " → " ".
std::string hellaswag_preprocess(std::string_view text);

}  // namespace qlab
