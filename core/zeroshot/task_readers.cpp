#include "zeroshot/task_readers.h"

#include <algorithm>

#include "util/error.h"
#include "zeroshot/tasks/python_str.h"
#include "zeroshot/tasks/task_files.h"

namespace qlab {

namespace {
TaskData named_task(const std::string& name) {
  TaskData task;
  task.name = name;
  task.groups = {name};
  return task;
}

// The continuation of a choice: the harness's target_delimiter " " before it.
std::string delimited(std::string_view choice) { return std::string(" ").append(choice); }

// A multiple-choice document: one request (context, " " + choice) per choice, and acc_norm's
// lengths (code points of the choice without the delimiter) when the task reports acc_norm.
TaskDoc choice_doc(const std::string& context, const std::vector<std::string>& choices, int64_t gold,
                   const std::string& where, bool with_acc_norm) {
  if (gold < 0 || gold >= static_cast<int64_t>(choices.size()))
    fail("{}: label {} is out of range for {} choices", where, gold, choices.size());
  TaskDoc doc;
  for (const std::string& choice : choices) {
    doc.requests.push_back({context, delimited(choice)});
    if (with_acc_norm) doc.choice_chars.push_back(code_point_count(choice));
  }
  doc.gold = static_cast<int>(gold);
  doc.where = where;
  return doc;
}

// The labels of a separate labels file, one per data row.
std::vector<LabelLine> labels_for_rows(TaskData& task, const TaskLayout& layout, const std::string& relative,
                                       size_t rows, const std::string& data_file, int64_t lo, int64_t hi) {
  std::vector<LabelLine> labels =
      parse_labels(layout.data_dir / relative, read_task_file(task, layout, relative), lo, hi);
  if (labels.size() != rows)
    fail("{}: {} labels for the {} rows of {}", (layout.data_dir / relative).string(), labels.size(), rows, data_file);
  return labels;
}

std::vector<JsonRow> read_json_rows(TaskData& task, const TaskLayout& layout, const std::string& relative) {
  return parse_json_lines(layout.data_dir / relative, read_task_file(task, layout, relative));
}

TaskData read_arc(const std::filesystem::path& data_dir, const std::string& name, const std::string& file) {
  TaskData task = named_task(name);
  const TaskLayout layout{data_dir, file};
  for (const JsonRow& row : read_json_rows(task, layout, file)) {
    const JsonRow question = object_field(row, "question");
    std::vector<std::string> texts, labels;
    for (const JsonRow& choice : object_list_field(question, "choices")) {
      texts.push_back(string_field(choice, "text"));
      labels.push_back(string_field(choice, "label"));
    }
    // v0.4's choices.label.index(answerKey); v0.3 mapped "1"–"5" to "A"–"E" first, which
    // gives the same index.
    const std::string answer = string_field(row, "answerKey");
    const int64_t gold = std::find(labels.begin(), labels.end(), answer) - labels.begin();
    if (gold == static_cast<int64_t>(labels.size()))
      fail("{}: answerKey '{}' is none of the choice labels", row.where, answer);
    task.docs.push_back(choice_doc("Question: " + string_field(question, "stem") + "\nAnswer:", texts, gold,
                                   row.where, true));
  }
  return task;
}

// WinoGrande's partial evaluation: the option replaces "_" and ends the context; the rest of
// the sentence, stripped, is the continuation shared by both options.
TaskDoc winogrande_doc(const std::string& sentence, const std::string& option1, const std::string& option2,
                       int gold, const std::string& where) {
  const size_t blank = sentence.find('_');
  if (blank == std::string::npos) fail("{}: the sentence has no '_' to fill", where);
  const std::string prefix = sentence.substr(0, blank);
  const std::string continuation = delimited(python_strip(std::string_view(sentence).substr(blank + 1)));
  TaskDoc doc;
  doc.requests = {{prefix + option1, continuation}, {prefix + option2, continuation}};
  doc.gold = gold;
  doc.where = where;
  return doc;
}
}  // namespace

const std::vector<std::string>& mmlu_subjects() {
  static const std::vector<std::string> subjects = {
      "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
      "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine",
      "college_physics", "computer_security", "conceptual_physics", "econometrics", "electrical_engineering",
      "elementary_mathematics", "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry",
      "high_school_computer_science", "high_school_european_history", "high_school_geography",
      "high_school_government_and_politics", "high_school_macroeconomics", "high_school_mathematics",
      "high_school_microeconomics", "high_school_physics", "high_school_psychology", "high_school_statistics",
      "high_school_us_history", "high_school_world_history", "human_aging", "human_sexuality",
      "international_law", "jurisprudence", "logical_fallacies", "machine_learning", "management", "marketing",
      "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition", "philosophy",
      "prehistory", "professional_accounting", "professional_law", "professional_medicine",
      "professional_psychology", "public_relations", "security_studies", "sociology", "us_foreign_policy",
      "virology", "world_religions"};
  return subjects;
}

std::string hellaswag_preprocess(std::string_view text) {
  const std::string titled = python_replace(python_strip(text), " [title]", ". ");
  // re.sub("\\[.*?\\]", ""): '.' does not match '\n', so a '[' whose next ']' lies past a
  // newline (or that has none) stays.
  std::string unbracketed;
  for (size_t pos = 0; pos < titled.size();) {
    const size_t close = titled[pos] == '[' ? titled.find_first_of("]\n", pos + 1) : std::string::npos;
    if (close != std::string::npos && titled[close] == ']') {
      pos = close + 1;
    } else {
      unbracketed += titled[pos++];
    }
  }
  return python_replace(unbracketed, "  ", " ");
}

TaskData read_lambada_openai(const std::filesystem::path& data_dir, HarnessVersion) {
  TaskData task = named_task("lambada_openai");
  task.kind = TaskKind::target_word;
  const std::string file = "lambada_openai/lambada_test.jsonl";
  for (const JsonRow& row : read_json_rows(task, {data_dir, file}, file)) {
    // text.rsplit(" ", 1): U+0020 only, so a target such as "of\n\nPower" stays whole.
    const std::string text = string_field(row, "text");
    const size_t space = text.rfind(' ');
    if (space == std::string::npos) fail("{}: 'text' has no space to split the target word off", row.where);
    TaskDoc doc;
    doc.requests.push_back({text.substr(0, space), text.substr(space)});
    doc.where = row.where;
    task.docs.push_back(std::move(doc));
  }
  return task;
}

TaskData read_piqa(const std::filesystem::path& data_dir, HarnessVersion) {
  TaskData task = named_task("piqa");
  const std::string file = "piqa/dev.jsonl", labels_file = "piqa/dev-labels.lst";
  const TaskLayout layout{data_dir, file + " and " + labels_file};
  const std::vector<JsonRow> rows = read_json_rows(task, layout, file);
  const std::vector<LabelLine> labels =
      labels_for_rows(task, layout, labels_file, rows.size(), (data_dir / file).string(), 0, 1);
  for (size_t i = 0; i < rows.size(); ++i) {
    const JsonRow& row = rows[i];
    task.docs.push_back(choice_doc("Question: " + string_field(row, "goal") + "\nAnswer:",
                                   {string_field(row, "sol1"), string_field(row, "sol2")}, labels[i].label,
                                   row.where, true));
  }
  return task;
}

TaskData read_arc_easy(const std::filesystem::path& data_dir, HarnessVersion) {
  return read_arc(data_dir, "arc_easy", "arc/ARC-Easy-Test.jsonl");
}

TaskData read_arc_challenge(const std::filesystem::path& data_dir, HarnessVersion) {
  return read_arc(data_dir, "arc_challenge", "arc/ARC-Challenge-Test.jsonl");
}

TaskData read_boolq(const std::filesystem::path& data_dir, HarnessVersion version) {
  TaskData task = named_task("boolq");
  const std::string file = "boolq/val.jsonl";
  // v0.3 asked " yes" first and predicted yes only when ll(" yes") > ll(" no"); v0.4's
  // choices are ["no", "yes"] under argmax. Both send ties to "no".
  const bool v0_3 = version == HarnessVersion::v0_3;
  if (v0_3) task.choice_rule = ChoiceRule::first_if_strictly_greater;
  for (const JsonRow& row : read_json_rows(task, {data_dir, file}, file)) {
    const std::string context =
        string_field(row, "passage") + "\nQuestion: " + string_field(row, "question") + "?\nAnswer:";
    const bool yes = bool_field(row, "label");
    if (v0_3) task.docs.push_back(choice_doc(context, {"yes", "no"}, yes ? 0 : 1, row.where, false));
    else task.docs.push_back(choice_doc(context, {"no", "yes"}, yes ? 1 : 0, row.where, false));
  }
  return task;
}

// The genuine dev.jsonl (sentence, option1, option2, answer "1"/"2") when present, else
// llm-foundry's derived copy (context_options, continuation, gold 0/1). dev-labels.lst, when
// present, must agree with either.
TaskData read_winogrande(const std::filesystem::path& data_dir, HarnessVersion) {
  TaskData task = named_task("winogrande");
  const std::string upstream = "winogrande/dev.jsonl", derived = "winogrande/winogrande_xl_validation.llm-foundry.jsonl",
                    labels_file = "winogrande/dev-labels.lst";
  const TaskLayout layout{data_dir, derived + " (or " + upstream + ", with " + labels_file + " if it has no answers)"};
  const bool genuine = task_file_exists(layout, upstream);
  const std::string file = genuine ? upstream : derived;
  const std::vector<JsonRow> rows = read_json_rows(task, layout, file);
  std::vector<LabelLine> labels;
  if (task_file_exists(layout, labels_file))
    labels = labels_for_rows(task, layout, labels_file, rows.size(), (data_dir / file).string(), 1, 2);
  for (size_t i = 0; i < rows.size(); ++i) {
    const JsonRow& row = rows[i];
    int gold = 0;
    if (!genuine) {
      gold = static_cast<int>(integer_field(row, "gold"));
      if (gold != 0 && gold != 1) fail("{}: gold {} is not 0 or 1", row.where, gold);
    } else if (row.value.contains("answer") || labels.empty()) {
      const std::string answer = string_field(row, "answer");
      if (answer != "1" && answer != "2") fail("{}: answer '{}' is not \"1\" or \"2\"", row.where, answer);
      gold = answer == "1" ? 0 : 1;
    } else {
      gold = static_cast<int>(labels[i].label - 1);
    }
    if (!labels.empty() && labels[i].label - 1 != gold)
      fail("{}: label {} disagrees with {} (option {})", labels[i].where, labels[i].label, row.where, gold + 1);
    if (genuine) {
      task.docs.push_back(winogrande_doc(string_field(row, "sentence"), string_field(row, "option1"),
                                         string_field(row, "option2"), gold, row.where));
    } else {
      const std::vector<std::string> contexts = string_list_field(row, "context_options");
      if (contexts.size() != 2) fail("{}: 'context_options' has {} entries, expected 2", row.where, contexts.size());
      const std::string continuation = delimited(string_field(row, "continuation"));
      TaskDoc doc;
      doc.requests = {{contexts[0], continuation}, {contexts[1], continuation}};
      doc.gold = gold;
      doc.where = row.where;
      task.docs.push_back(std::move(doc));
    }
  }
  return task;
}

// cais/mmlu's test split, one CSV per subject: question, 4 choices, answer. The HF export has
// a header row and answers 0–3; upstream hendrycks files have no header and answers A–D.
TaskData read_mmlu(const std::filesystem::path& data_dir, HarnessVersion version) {
  TaskData task = named_task("mmlu");
  task.groups = mmlu_subjects();
  const TaskLayout layout{data_dir, "mmlu/test/<subject>_test.csv for each of the 57 subjects"};
  const std::vector<std::string> header = {"question", "choice0", "choice1", "choice2", "choice3", "answer"};
  const std::vector<std::string> letters = {"A", "B", "C", "D"};
  for (size_t group = 0; group < task.groups.size(); ++group) {
    const std::string& subject = task.groups[group];
    const std::string file = "mmlu/test/" + subject + "_test.csv";
    std::vector<CsvRecord> records = parse_csv(data_dir / file, read_task_file(task, layout, file));
    if (!records.empty() && records[0].fields == header) records.erase(records.begin());
    if (records.empty()) fail("{}: no questions", (data_dir / file).string());
    std::string description = subject;
    std::replace(description.begin(), description.end(), '_', ' ');
    for (const CsvRecord& record : records) {
      const std::vector<std::string>& f = record.fields;
      if (f.size() != 6) fail("{}: {} fields, expected 6 (question, 4 choices, answer)", record.where, f.size());
      const std::vector<std::string> choices(f.begin() + 1, f.begin() + 5);
      const std::string& answer = f[5];
      int64_t gold = std::find(letters.begin(), letters.end(), answer) - letters.begin();
      if (answer.size() == 1 && answer[0] >= '0' && answer[0] <= '3') gold = answer[0] - '0';
      if (gold == 4) fail("{}: answer '{}' is not 0–3 or A–D", record.where, answer);
      TaskDoc doc;
      if (version == HarnessVersion::v0_3) {
        // hendrycks_test.py's format_example, scoring the full answer texts.
        std::string context = "Question: " + f[0] + "\nChoices:\n";
        for (size_t i = 0; i < 4; ++i) context += letters[i] + ". " + choices[i] + "\n";
        doc = choice_doc(context + "Answer:", choices, gold, record.where, true);
      } else {
        std::string context = "The following are multiple choice questions (with answers) about " + description +
                              ".\n\n" + python_strip(f[0]);
        for (size_t i = 0; i < 4; ++i) context += "\n" + letters[i] + ". " + choices[i];
        doc = choice_doc(context + "\nAnswer:", letters, gold, record.where, false);
      }
      doc.group = static_cast<int>(group);
      task.docs.push_back(std::move(doc));
    }
  }
  return task;
}

// Rowan/hellaswag's hellaswag_val.jsonl: query = preprocess(activity_label + ": " + ctx_a +
// " " + ctx_b.capitalize()), choices = preprocess(each ending).
TaskData read_hellaswag(const std::filesystem::path& data_dir, HarnessVersion) {
  TaskData task = named_task("hellaswag");
  const std::string file = "hellaswag/hellaswag_val.jsonl";
  for (const JsonRow& row : read_json_rows(task, {data_dir, file}, file)) {
    const std::string query = hellaswag_preprocess(string_field(row, "activity_label") + ": " +
                                                   string_field(row, "ctx_a") + " " +
                                                   python_capitalize(string_field(row, "ctx_b")));
    std::vector<std::string> endings = string_list_field(row, "endings");
    for (std::string& ending : endings) ending = hellaswag_preprocess(ending);
    // The upstream file has an integer label, the HF copy a string: int(doc["label"]).
    const nlohmann::json& label = json_field(row, "label");
    const std::string text = label.is_string() ? label.get<std::string>() : "";
    int64_t gold = 0;
    if (label.is_number_integer()) gold = label.get<int64_t>();
    else if (text.size() == 1 && text[0] >= '0' && text[0] <= '9') gold = text[0] - '0';
    else fail("{}: field 'label' is not an integer", row.where);
    task.docs.push_back(choice_doc(query, endings, gold, row.where, true));
  }
  return task;
}

}  // namespace qlab
