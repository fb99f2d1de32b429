// The `--manifests DIR` source: Kubernetes objects from YAML/JSON files,
// fed into a ClusterState with full-relist semantics, reloaded when the
// directory changes.
//
// Files: every *.yaml, *.yml and *.json directly in DIR (symlinks followed,
// so a ConfigMap volume works; hidden files and editor leftovers such as
// foo.yaml~ or .foo.yaml.swp are not read). A file may hold several YAML
// documents and `kind: List` (or NodeList, …) objects with `items`.
//
// Every reload hands the union of all files' objects to
// ClusterState::ReplaceAll for every kind, so a removed object or file
// disappears from the model. A file that fails to parse keeps the objects of
// its last good version (a typo must not take the cluster's nodes away); the
// error is logged with file, document, line and field path, and counted.
// An unreadable directory keeps everything as it was.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/dataplane/unique_fd.h"
#include "agent/k8s/cluster_state.h"
#include "agent/k8s/objects.h"

namespace xvr::k8s {

// The objects of one manifest file.
struct ParsedManifest {
  std::vector<Object> objects;  // kinds xvr uses, in file order
  size_t skipped = 0;           // well-formed objects of other kinds
};

// Parses one file's text; JSON when `file_name` ends in .json, YAML
// otherwise. All or nothing: the first error fails the file, its message
// "<file>: document N (line L): <Kind ns/name>: <field path>: <problem>".
absl::StatusOr<ParsedManifest> ParseManifest(absl::string_view file_name,
                                             const std::string& text);

// Whether `file_name` (no directory) is a manifest the source reads.
bool IsManifestFileName(absl::string_view file_name);

struct ManifestsOptions {
  // Quiet time after the last change before reloading, so a burst of writes
  // (an editor's save, a `cp *.yaml`) is read once.
  absl::Duration debounce = absl::Milliseconds(100);
  // Upper bound on the wait while changes keep arriving.
  absl::Duration max_delay = absl::Seconds(1);
  // How often to try re-watching DIR after it was removed or renamed.
  absl::Duration rewatch_interval = absl::Seconds(1);
};

struct ManifestsStats {
  uint64_t reloads = 0;       // completed reloads of the directory
  uint64_t parse_errors = 0;  // failed parses (each bad version of a file once)
  uint64_t read_errors = 0;   // reloads that could not read the directory
  size_t files = 0;           // manifest files in the directory at the last reload
  size_t files_in_error = 0;  // files whose current content does not parse
  size_t objects = 0;         // objects handed to the ClusterState
  size_t skipped = 0;         // objects of kinds xvr does not use
  std::string last_error;     // most recent parse/read error, "" if none yet
};

class ManifestsSource {
 public:
  ManifestsSource(std::string dir, ClusterState* state, ManifestsOptions options = {});
  ~ManifestsSource();
  ManifestsSource(const ManifestsSource&) = delete;
  ManifestsSource& operator=(const ManifestsSource&) = delete;

  // Watches DIR, reads it once, then reloads on changes on a thread of its
  // own until Stop(). Fails when DIR cannot be watched or read; bad files
  // are not a failure (see stats()).
  absl::Status Start();
  void Stop();

  // Reads DIR now and updates the ClusterState. Safe to call from any thread
  // and while the watcher runs. Fails only when DIR cannot be listed.
  absl::Status Reload();

  ManifestsStats stats() const;
  // The current error of every file that fails to parse, by file name.
  std::map<std::string, std::string> FileErrors() const;
  const std::string& dir() const { return dir_; }

 private:
  struct FileEntry {
    std::string content;          // as last read
    std::vector<Object> objects;  // from the last content that parsed
    size_t skipped = 0;
    std::string error;  // non-empty while `content` does not parse
  };

  absl::Status ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  absl::Status AddWatch();
  void Run();
  // Drains the inotify queue; returns true when DIR itself went away.
  bool DrainEvents();
  void RecordError(const std::string& error, bool parse);

  const std::string dir_;
  ClusterState* const state_;
  const ManifestsOptions options_;

  absl::Mutex reload_mu_;
  std::map<std::string, FileEntry> files_ ABSL_GUARDED_BY(reload_mu_);

  mutable absl::Mutex stats_mu_;
  ManifestsStats stats_ ABSL_GUARDED_BY(stats_mu_);
  std::map<std::string, std::string> file_errors_ ABSL_GUARDED_BY(stats_mu_);

  UniqueFd inotify_;
  UniqueFd wake_;  // eventfd: Stop() wakes the watcher
  int watch_ = -1;
  std::thread thread_;
};

}  // namespace xvr::k8s
