// Helpers for the CNI plugin tests: a temp dir and a child process with
// environment, stdin and captured output.
#pragma once

#include <string>
#include <vector>

namespace xvr::cni::testing {

// mkdtemp under /tmp; removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct ProcResult {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH) with exactly `env` ("K=V") and `stdin_data`.
ProcResult RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      const std::string& stdin_data);

// Runs a shell command line with the test's environment; stdout and exit code.
ProcResult Sh(const std::string& cmdline);

}  // namespace xvr::cni::testing
