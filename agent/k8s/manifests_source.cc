#include "agent/k8s/manifests_source.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/common/status_macros.h"
#include "agent/k8s/yaml_json.h"
#include "spdlog/spdlog.h"

namespace xvr::k8s {
namespace {

using nlohmann::json;

constexpr size_t kMaxFileBytes = 64 << 20;
constexpr uint32_t kWatchMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM |
                                IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", path));
  std::string out;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", path));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFileBytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": larger than ", kMaxFileBytes >> 20, " MiB"));
    }
  }
  return out;
}

// "Service default/web" from whatever an unparsable object does have.
std::string Identity(const json& j) {
  if (!j.is_object()) return "";
  std::string out;
  if (auto k = j.find("kind"); k != j.end() && k->is_string()) out = k->get<std::string>();
  auto md = j.find("metadata");
  if (md == j.end() || !md->is_object()) return out;
  std::string name;
  if (auto n = md->find("name"); n != md->end() && n->is_string()) name = n->get<std::string>();
  if (auto ns = md->find("namespace"); ns != md->end() && ns->is_string() && !name.empty()) {
    name = absl::StrCat(ns->get<std::string>(), "/", name);
  }
  if (name.empty()) return out;
  return out.empty() ? name : absl::StrCat(out, " ", name);
}

absl::Status WithIdentity(const json& j, const absl::Status& s) {
  const std::string id = Identity(j);
  if (id.empty()) return s;
  return absl::InvalidArgumentError(absl::StrCat(id, ": ", s.message()));
}

absl::Status AddObject(const json& j, absl::string_view path, ParsedManifest* out) {
  absl::StatusOr<std::optional<Object>> o = ParseAnyObject(j, path);
  if (!o.ok()) return WithIdentity(j, o.status());
  if (*o) {
    out->objects.push_back(std::move(**o));
  } else {
    ++out->skipped;
  }
  return absl::OkStatus();
}

// One document: an object, `kind: List` with items that name their kind, or
// a typed list (NodeList, …) whose items may leave kind and apiVersion out,
// as the API server's list responses do.
absl::Status AddDocument(const json& doc, ParsedManifest* out) {
  if (!doc.is_object()) return AddObject(doc, "", out);  // reports the type error
  auto kind_it = doc.find("kind");
  const bool is_list = kind_it != doc.end() && kind_it->is_string() &&
                       absl::EndsWith(kind_it->get_ref<const std::string&>(), "List") &&
                       (kind_it->get_ref<const std::string&>() == "List" || doc.contains("items"));
  if (!is_list) return AddObject(doc, "", out);

  const std::string& list_kind = kind_it->get_ref<const std::string&>();
  auto api_it = doc.find("apiVersion");
  if (api_it == doc.end() || !api_it->is_string() || api_it->get_ref<const std::string&>().empty()) {
    return absl::InvalidArgumentError("apiVersion: required");
  }
  auto items_it = doc.find("items");
  if (items_it == doc.end() || items_it->is_null()) return absl::OkStatus();
  if (!items_it->is_array()) return absl::InvalidArgumentError("items: must be an array");
  const std::string item_kind =
      list_kind == "List" ? "" : list_kind.substr(0, list_kind.size() - 4);
  for (size_t i = 0; i < items_it->size(); ++i) {
    const json& item = (*items_it)[i];
    const std::string path = absl::StrCat("items[", i, "]");
    if (!item_kind.empty() && item.is_object() &&
        (!item.contains("kind") || !item.contains("apiVersion"))) {
      json typed = item;
      if (!typed.contains("kind")) typed["kind"] = item_kind;
      if (!typed.contains("apiVersion")) typed["apiVersion"] = *api_it;
      RETURN_IF_ERROR(AddObject(typed, path, out));
    } else {
      RETURN_IF_ERROR(AddObject(item, path, out));
    }
  }
  return absl::OkStatus();
}

int CeilMillis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1))));
}

}  // namespace

bool IsManifestFileName(absl::string_view name) {
  if (name.empty() || name[0] == '.') return false;
  return absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml") ||
         absl::EndsWith(name, ".json");
}

absl::StatusOr<ParsedManifest> ParseManifest(absl::string_view file_name,
                                             const std::string& text) {
  const std::string file(file_name);
  std::vector<YamlDocument> docs;
  const bool is_json = absl::EndsWith(file_name, ".json");
  if (is_json) {
    YamlDocument doc;
    try {
      doc.value = json::parse(text);
    } catch (const json::exception& e) {
      // "[json.exception.parse_error.101] parse error at line 3, column 5: …"
      absl::string_view msg = e.what();
      if (size_t p = msg.find("] "); p != absl::string_view::npos) msg.remove_prefix(p + 2);
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", std::string(msg)));
    }
    if (!doc.value.is_null()) docs.push_back(std::move(doc));
  } else {
    absl::StatusOr<std::vector<YamlDocument>> yaml = YamlToJson(text);
    if (!yaml.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", yaml.status().message()));
    }
    docs = std::move(*yaml);
  }
  ParsedManifest out;
  for (const YamlDocument& doc : docs) {
    absl::Status s;
    try {
      s = AddDocument(doc.value, &out);
    } catch (const std::exception& e) {  // nlohmann on a path we did not guard
      s = absl::InternalError(e.what());
    }
    if (!s.ok()) {
      const std::string where =
          is_json ? file : absl::StrCat(file, ": document ", doc.index, " (line ", doc.line, ")");
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
    }
  }
  return out;
}

ManifestsSource::ManifestsSource(std::string dir, ClusterState* state, ManifestsOptions options)
    : dir_(std::move(dir)), state_(state), options_(options) {}

ManifestsSource::~ManifestsSource() { Stop(); }

absl::Status ManifestsSource::AddWatch() {
  const int wd = ::inotify_add_watch(inotify_.get(), dir_.c_str(), kWatchMask);
  if (wd < 0) return ErrnoStatus(errno, absl::StrCat("inotify_add_watch ", dir_));
  watch_ = wd;
  return absl::OkStatus();
}

absl::Status ManifestsSource::Start() {
  if (thread_.joinable()) return absl::FailedPreconditionError("manifests source already started");
  inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_.valid()) return ErrnoStatus(errno, "inotify_init1");
  wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_.valid()) return ErrnoStatus(errno, "eventfd");
  // Watch before the first read, so a change in between is not missed.
  absl::Status s = AddWatch();
  if (s.ok()) s = Reload();
  if (!s.ok()) {
    inotify_.reset();
    wake_.reset();
    watch_ = -1;
    return s;
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void ManifestsSource::Stop() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    if (::write(wake_.get(), &one, sizeof(one)) < 0) {
      spdlog::error("manifests {}: cannot wake the watcher: {}", dir_, std::strerror(errno));
    }
    thread_.join();
  }
  inotify_.reset();
  wake_.reset();
  watch_ = -1;
}

bool ManifestsSource::DrainEvents() {
  alignas(inotify_event) char buf[16384];
  bool lost = false;
  while (true) {
    const ssize_t n = ::read(inotify_.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: drained
    for (char* p = buf; p < buf + n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(p);
      if (ev->mask & IN_Q_OVERFLOW) {
        spdlog::debug("manifests {}: inotify queue overflow", dir_);
      }
      if (ev->wd == watch_ && (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))) {
        lost = true;
      }
      p += sizeof(inotify_event) + ev->len;
    }
  }
  if (lost && watch_ >= 0) {
    ::inotify_rm_watch(inotify_.get(), watch_);  // already gone after a delete
    watch_ = -1;
  }
  return lost;
}

void ManifestsSource::Run() {
  bool pending = false;
  bool lost = false;
  absl::Time first, deadline, next_rewatch;
  while (true) {
    absl::Time now = absl::Now();
    int timeout = -1;
    if (pending) timeout = CeilMillis(deadline - now);
    if (lost) {
      const int t = CeilMillis(next_rewatch - now);
      timeout = timeout < 0 ? t : std::min(timeout, t);
    }
    pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {inotify_.get(), POLLIN, 0}};
    const int n = ::poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) {
      spdlog::error("manifests {}: poll: {}; watcher stopped", dir_, std::strerror(errno));
      return;
    }
    if (n > 0 && (fds[0].revents & POLLIN)) return;  // Stop()
    now = absl::Now();
    if (n > 0 && (fds[1].revents & POLLIN)) {
      if (DrainEvents()) {
        spdlog::warn("manifests {}: directory removed or renamed; keeping the current objects "
                     "and waiting for it to come back",
                     dir_);
        lost = true;
        next_rewatch = now + options_.rewatch_interval;
      }
      if (!pending) {
        pending = true;
        first = now;
      }
      deadline = std::min(now + options_.debounce, first + options_.max_delay);
    }
    if (lost && now >= next_rewatch) {
      if (AddWatch().ok()) {
        spdlog::info("manifests {}: directory is back, watching it again", dir_);
        lost = false;
        pending = true;
        first = deadline = now;
      } else {
        next_rewatch = now + options_.rewatch_interval;
      }
    }
    if (pending && now >= deadline) {
      pending = false;
      if (absl::Status s = Reload(); !s.ok()) {
        spdlog::warn("manifests {}: {}", dir_, std::string(s.message()));
      }
    }
  }
}

absl::Status ManifestsSource::Reload() {
  absl::MutexLock lock(&reload_mu_);
  return ReloadLocked();
}

void ManifestsSource::RecordError(const std::string& error, bool parse) {
  absl::MutexLock lock(&stats_mu_);
  if (parse) {
    ++stats_.parse_errors;
  } else {
    ++stats_.read_errors;
  }
  stats_.last_error = error;
}

absl::Status ManifestsSource::ReloadLocked() {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!IsManifestFileName(name)) continue;
    std::error_code type_ec;
    if (!fs::is_regular_file(it->path(), type_ec)) continue;  // follows symlinks
    names.push_back(name);
  }
  if (ec) {
    const std::string msg = absl::StrCat(dir_, ": ", ec.message(), "; keeping the current objects");
    spdlog::error("manifests {}", msg);
    RecordError(msg, false);
    return absl::UnavailableError(msg);
  }
  std::sort(names.begin(), names.end());

  std::map<std::string, FileEntry> next;
  for (const std::string& name : names) {
    const std::string path = (fs::path(dir_) / name).string();
    auto old = files_.find(name);
    const bool known = old != files_.end();
    FileEntry entry = known ? std::move(old->second) : FileEntry{};
    absl::StatusOr<std::string> content = ReadFile(path);
    if (!content.ok()) {
      if (absl::IsNotFound(content.status())) continue;  // removed since the listing
      const std::string msg = std::string(content.status().message());
      if (entry.error != msg) spdlog::error("manifests: {}", msg);
      entry.error = msg;
      RecordError(msg, false);
      next.emplace(name, std::move(entry));
      continue;
    }
    if (known && *content == entry.content) {
      next.emplace(name, std::move(entry));
      continue;
    }
    entry.content = std::move(*content);
    absl::StatusOr<ParsedManifest> parsed = ParseManifest(path, entry.content);
    if (parsed.ok()) {
      spdlog::info("manifests: {}: {} objects{}", path, parsed->objects.size(),
                   parsed->skipped ? absl::StrCat(" (", parsed->skipped, " of other kinds)") : "");
      entry.objects = std::move(parsed->objects);
      entry.skipped = parsed->skipped;
      entry.error.clear();
    } else {
      entry.error = std::string(parsed.status().message());
      spdlog::error("manifests: {}{}", entry.error,
                    known ? "; keeping the objects of its previous version" : "");
      RecordError(entry.error, true);
    }
    next.emplace(name, std::move(entry));
  }
  for (const auto& [name, entry] : files_) {
    if (!next.contains(name)) spdlog::info("manifests: {}/{} removed", dir_, name);
  }
  files_ = std::move(next);

  std::array<std::vector<Object>, kNumKinds> by_kind;
  std::map<ObjectKey, const std::string*> origin;
  size_t objects = 0, skipped = 0, in_error = 0;
  std::map<std::string, std::string> errors;
  for (const auto& [name, entry] : files_) {
    skipped += entry.skipped;
    if (!entry.error.empty()) {
      ++in_error;
      errors[name] = entry.error;
    }
    for (const Object& o : entry.objects) {
      auto [it, inserted] = origin.emplace(ObjectKey::Of(o), &name);
      if (!inserted) {
        spdlog::warn("manifests {}: {} is defined in {} and {}; using {}", dir_,
                     ObjectKey::Of(o).ToString(), *it->second, name, name);
        it->second = &name;
      }
      by_kind[o.index()].push_back(o);
      ++objects;
    }
  }
  size_t changes = 0;
  for (Kind k : kAllKinds) {
    absl::StatusOr<size_t> n = state_->ReplaceAll(k, std::move(by_kind[static_cast<size_t>(k)]));
    if (n.ok()) changes += *n;  // cannot fail: by_kind is sorted by kind
  }
  if (changes > 0) {
    spdlog::info("manifests {}: {} objects from {} files, {} changes", dir_, objects,
                 files_.size(), changes);
  }

  absl::MutexLock lock(&stats_mu_);
  ++stats_.reloads;
  stats_.files = files_.size();
  stats_.files_in_error = in_error;
  stats_.objects = objects;
  stats_.skipped = skipped;
  file_errors_ = std::move(errors);
  return absl::OkStatus();
}

ManifestsStats ManifestsSource::stats() const {
  absl::MutexLock lock(&stats_mu_);
  return stats_;
}

std::map<std::string, std::string> ManifestsSource::FileErrors() const {
  absl::MutexLock lock(&stats_mu_);
  return file_errors_;
}

}  // namespace xvr::k8s
