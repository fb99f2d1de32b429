// Crash-safe file replacement: the reader sees either the old or the new
// contents, never a mix, even across a power cut.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace xvr {

// Writes `contents` to "<path>.tmp.XXXXXX" in the same directory, gives it
// `mode`, fsyncs it, renames it over `path` and fsyncs the directory. On any
// failure the temp file is removed and `path` is untouched. (The temp name
// does not end in .conf/.conflist/.json, so a CNI runtime scanning the
// directory never loads it.)
absl::Status WriteFileAtomic(const std::string& path, const std::string& contents,
                             unsigned mode = 0600);

// Reads a whole file; NotFound if it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Creates `dir` and its missing parents with `mode` (existing ones are left
// as they are).
absl::Status MakeDirs(const std::string& dir, unsigned mode);

}  // namespace xvr
