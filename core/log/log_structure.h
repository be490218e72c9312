// Checks an experiment log's layout before anything reads or resumes it: the attributes every
// run and evaluation carries, columns of one table of equal length, and each logged block
// with exactly its linears' rows. A damaged log is refused naming the file and the object.
#pragma once
#include <hdf5.h>

#include <string>

namespace qlab {

void validate_log_structure(hid_t file, const std::string& path);

}  // namespace qlab
