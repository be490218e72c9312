// Plain-text tables for the terminal: a header row, aligned columns, right-aligned numbers.
#pragma once
#include <string>
#include <vector>

namespace qlab::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const;           // aligned plain text
  std::string render_markdown() const;  // GitHub table
  std::string render_csv() const;
  const std::vector<std::string>& header() const { return header_; }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace qlab::cli
