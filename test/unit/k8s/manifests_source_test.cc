// The --manifests DIR source: file formats, relist semantics, reload on
// directory changes through real inotify, and broken files that keep the
// previous objects.
#include "agent/k8s/manifests_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "test/unit/agent/temp_dir.h"

namespace xvr::k8s {
namespace {

namespace fs = std::filesystem;
using xvr::testing::TempDir;

// Polls `pred` until it holds or `limit` passes; never a blind sleep.
bool WaitFor(const std::function<bool()>& pred,
             std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
}

// Written elsewhere and renamed in, as careful tools (and kubectl cp) do.
void WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp~";
  WriteFile(tmp, text);
  fs::rename(tmp, path);
}

std::string NodeYaml(const std::string& name, const std::string& cidr, const std::string& ip) {
  return "apiVersion: v1\nkind: Node\nmetadata:\n  name: " + name + "\nspec:\n  podCIDR: " + cidr +
         "\nstatus:\n  addresses:\n  - type: InternalIP\n    address: " + ip + "\n";
}

std::vector<std::string> NodeNames(const ClusterState& state) {
  std::vector<std::string> out;
  for (const auto& n : state.List<Node>()) out.push_back(n->meta.name);
  return out;
}

using Names = std::vector<std::string>;

// ---- ParseManifest -----------------------------------------------------------

TEST(ParseManifest, MultiDocumentYamlWithOtherKindsAndEmptyDocuments) {
  absl::StatusOr<ParsedManifest> m = ParseManifest("cluster.yaml", R"(---
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24}
---
# nothing here
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {port: "80"}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: prod}
spec:
  ports:
  - port: 80
    targetPort: http
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: prod
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
ports:
- {name: http, port: 8080}
)");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->objects.size(), 3u);
  EXPECT_EQ(m->skipped, 1u);
  EXPECT_EQ(Describe(m->objects[0]), "Node n1");
  EXPECT_EQ(Describe(m->objects[1]), "Service prod/web");
  EXPECT_EQ(std::get<Service>(m->objects[1]).ports[0].target_port, IntOrString::Str("http"));
  EXPECT_EQ(std::get<EndpointSlice>(m->objects[2]).ServiceName(), "web");
}

TEST(ParseManifest, ListAndTypedListItems) {
  absl::StatusOr<ParsedManifest> m = ParseManifest("lists.yaml", R"(
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: prod}
- apiVersion: v1
  kind: Pod
  metadata: {name: p, namespace: prod}
---
# An API server list response: items carry no kind or apiVersion.
apiVersion: v1
kind: NodeList
metadata: {resourceVersion: "77"}
items:
- metadata: {name: n1, resourceVersion: "70"}
  spec: {podCIDR: 10.244.1.0/24}
- metadata: {name: n2}
---
apiVersion: v1
kind: List
items: []
)");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->objects.size(), 4u);
  EXPECT_EQ(Describe(m->objects[0]), "Namespace prod");
  EXPECT_EQ(Describe(m->objects[1]), "Pod prod/p");
  EXPECT_EQ(Describe(m->objects[2]), "Node n1");
  EXPECT_EQ(MetaOf(m->objects[2]).resource_version, "70");
  EXPECT_EQ(Describe(m->objects[3]), "Node n2");
}

TEST(ParseManifest, JsonFileWithObjectOrList) {
  absl::StatusOr<ParsedManifest> one = ParseManifest(
      "n.json", R"({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                    "spec": {"podCIDR": "10.244.1.0/24"}})");
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->objects.size(), 1u);
  EXPECT_EQ(std::get<Node>(one->objects[0]).pod_cidrs[0], "10.244.1.0/24");

  absl::StatusOr<ParsedManifest> list = ParseManifest(
      "l.json", R"({"apiVersion": "v1", "kind": "List", "items": [
                    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "a"}},
                    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "b"}}]})");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->objects.size(), 2u);
}

TEST(ParseManifest, ErrorsNameFileDocumentLineObjectAndField) {
  absl::StatusOr<ParsedManifest> m = ParseManifest("/m/svc.yaml",
                                                   "apiVersion: v1\n"
                                                   "kind: Node\n"
                                                   "metadata: {name: n1}\n"
                                                   "---\n"
                                                   "apiVersion: v1\n"
                                                   "kind: Service\n"
                                                   "metadata: {name: web}\n"
                                                   "spec:\n"
                                                   "  ports:\n"
                                                   "  - port: http\n");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(),
            "/m/svc.yaml: document 2 (line 5): Service web: spec.ports[0].port: must be an "
            "integer, got string \"http\"");

  absl::StatusOr<ParsedManifest> item = ParseManifest("l.yaml",
                                                      "apiVersion: v1\n"
                                                      "kind: List\n"
                                                      "items:\n"
                                                      "- apiVersion: v1\n"
                                                      "  kind: Node\n"
                                                      "  metadata: {name: n1}\n"
                                                      "- apiVersion: v1\n"
                                                      "  kind: Node\n"
                                                      "  metadata: {name: n2}\n"
                                                      "  spec: {podCIDRs: 10.0.0.0/24}\n");
  ASSERT_FALSE(item.ok());
  EXPECT_EQ(item.status().message(),
            "l.yaml: document 1 (line 1): Node n2: items[1].spec.podCIDRs: must be an array, got "
            "string \"10.0.0.0/24\"");
}

TEST(ParseManifest, MissingKindApiVersionOrNameIsAnError) {
  for (const char* text : {"kind: Node\nmetadata: {name: n}\n",
                           "apiVersion: v1\nmetadata: {name: n}\n",
                           "apiVersion: v1\nkind: Node\nspec: {}\n",
                           "apiVersion: v1\nkind: Secret\nmetadata: {}\n", "- a\n- b\n"}) {
    absl::StatusOr<ParsedManifest> m = ParseManifest("x.yaml", text);
    EXPECT_FALSE(m.ok()) << text;
  }
  EXPECT_EQ(ParseManifest("x.yaml", "kind: Node\nmetadata: {name: n}\n").status().message(),
            "x.yaml: document 1 (line 1): Node n: apiVersion: required");
}

TEST(ParseManifest, SyntaxErrors) {
  absl::StatusOr<ParsedManifest> y = ParseManifest("a.yaml", "a: [1,\n");
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message().substr(0, 13), "a.yaml: line ");
  absl::StatusOr<ParsedManifest> j = ParseManifest("a.json", "{\"a\": }");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("a.json: parse error at line 1"), std::string::npos)
      << j.status();
}

TEST(ParseManifest, EmptyFilesHoldNothing) {
  EXPECT_TRUE(ParseManifest("e.yaml", "")->objects.empty());
  EXPECT_TRUE(ParseManifest("e.yaml", "# comment only\n---\n")->objects.empty());
  EXPECT_TRUE(ParseManifest("e.json", "null")->objects.empty());
}

TEST(ParseManifest, FileNames) {
  EXPECT_TRUE(IsManifestFileName("nodes.yaml"));
  EXPECT_TRUE(IsManifestFileName("nodes.yml"));
  EXPECT_TRUE(IsManifestFileName("nodes.json"));
  EXPECT_FALSE(IsManifestFileName(".nodes.yaml"));
  EXPECT_FALSE(IsManifestFileName(".nodes.yaml.swp"));
  EXPECT_FALSE(IsManifestFileName("nodes.yaml~"));
  EXPECT_FALSE(IsManifestFileName("#nodes.yaml#"));
  EXPECT_FALSE(IsManifestFileName("4913"));
  EXPECT_FALSE(IsManifestFileName("nodes.txt"));
  EXPECT_FALSE(IsManifestFileName("..data"));
}

// ---- ManifestsSource ---------------------------------------------------------

TEST(ManifestsSource, ReloadReadsManifestFilesOnlyAndRelists) {
  TempDir dir;
  WriteFile(dir.Sub("a.yaml"), NodeYaml("n1", "10.244.1.0/24", "192.168.0.1"));
  WriteFile(dir.Sub("b.yml"), NodeYaml("n2", "10.244.2.0/24", "192.168.0.2"));
  WriteFile(dir.Sub("c.json"),
            R"({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n3"}})");
  WriteFile(dir.Sub(".hidden.yaml"), NodeYaml("hidden", "10.244.9.0/24", "192.168.0.9"));
  WriteFile(dir.Sub("d.yaml~"), NodeYaml("backup", "10.244.8.0/24", "192.168.0.8"));
  WriteFile(dir.Sub("notes.txt"), "not yaml: [");
  fs::create_directory(dir.Sub("sub.yaml"));  // not recursive, not a file
  WriteFile(dir.Sub("sub.yaml/n.yaml"), NodeYaml("nested", "10.244.7.0/24", "192.168.0.7"));

  ClusterState state;
  ManifestsSource source(dir.path(), &state);
  ASSERT_TRUE(source.Reload().ok());
  EXPECT_EQ(NodeNames(state), (Names{"n1", "n2", "n3"}));
  EXPECT_TRUE(state.Synced(Kind::kNode));
  EXPECT_TRUE(state.Synced(Kind::kService)) << "every kind is relisted, even when empty";
  ManifestsStats st = source.stats();
  EXPECT_EQ(st.files, 3u);
  EXPECT_EQ(st.objects, 3u);
  EXPECT_EQ(st.parse_errors, 0u);

  fs::remove(dir.Sub("b.yml"));
  ASSERT_TRUE(source.Reload().ok());
  EXPECT_EQ(NodeNames(state), (Names{"n1", "n3"}));
}

TEST(ManifestsSource, UnchangedReloadNotifiesNothing) {
  TempDir dir;
  WriteFile(dir.Sub("a.yaml"), NodeYaml("n1", "10.244.1.0/24", "192.168.0.1"));
  ClusterState state;
  ManifestsSource source(dir.path(), &state);
  ASSERT_TRUE(source.Reload().ok());
  int batches = 0;
  state.Subscribe([&](const auto&) { ++batches; });
  ASSERT_TRUE(source.Reload().ok());
  EXPECT_EQ(batches, 0);
  EXPECT_EQ(source.stats().reloads, 2u);
}

TEST(ManifestsSource, LaterFileWinsForTheSameObject) {
  TempDir dir;
  WriteFile(dir.Sub("a.yaml"), NodeYaml("n1", "10.244.1.0/24", "192.168.0.1"));
  WriteFile(dir.Sub("b.yaml"), NodeYaml("n1", "10.244.2.0/24", "192.168.0.1"));
  ClusterState state;
  ManifestsSource source(dir.path(), &state);
  ASSERT_TRUE(source.Reload().ok());
  EXPECT_EQ(state.Get<Node>("", "n1")->pod_cidrs[0], "10.244.2.0/24");
}

TEST(ManifestsSource, BrokenFileKeepsItsPreviousObjectsAndIsReported) {
  TempDir dir;
  WriteFile(dir.Sub("nodes.yaml"), NodeYaml("n1", "10.244.1.0/24", "192.168.0.1") + "---\n" +
                                       NodeYaml("n2", "10.244.2.0/24", "192.168.0.2"));
  WriteFile(dir.Sub("other.yaml"), NodeYaml("n3", "10.244.3.0/24", "192.168.0.3"));
  ClusterState state;
  ManifestsSource source(dir.path(), &state);
  ASSERT_TRUE(source.Reload().ok());
  ASSERT_EQ(NodeNames(state), (Names{"n1", "n2", "n3"}));

  // A typo in the second document: the whole file keeps its last good
  // version; the other file is read as usual.
  WriteFile(dir.Sub("nodes.yaml"),
            NodeYaml("n1", "10.244.1.0/24", "192.168.0.1") +
                "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n2\nspec:\n  podCIDRs: "
                "10.244.2.0/24\n");
  fs::remove(dir.Sub("other.yaml"));
  ASSERT_TRUE(source.Reload().ok()) << "a bad file is not a failed reload";
  EXPECT_EQ(NodeNames(state), (Names{"n1", "n2"}));
  ManifestsStats st = source.stats();
  EXPECT_EQ(st.parse_errors, 1u);
  EXPECT_EQ(st.files_in_error, 1u);
  const std::string expected = dir.Sub("nodes.yaml") +
                               ": document 2 (line 12): Node n2: spec.podCIDRs: must be an array, "
                               "got string \"10.244.2.0/24\"";
  EXPECT_EQ(st.last_error, expected);
  EXPECT_EQ(source.FileErrors(), (std::map<std::string, std::string>{{"nodes.yaml", expected}}));

  // The same broken content is not parsed (or counted) again.
  ASSERT_TRUE(source.Reload().ok());
  EXPECT_EQ(source.stats().parse_errors, 1u);

  // Fixed: the file's new contents apply and the error clears.
  WriteFile(dir.Sub("nodes.yaml"), NodeYaml("n2", "10.244.2.0/24", "192.168.0.2"));
  ASSERT_TRUE(source.Reload().ok());
  EXPECT_EQ(NodeNames(state), (Names{"n2"}));
  EXPECT_EQ(source.stats().files_in_error, 0u);
  EXPECT_TRUE(source.FileErrors().empty());
}

TEST(ManifestsSource, BrokenNewFileContributesNothing) {
  TempDir dir;
  WriteFile(dir.Sub("a.yaml"), "apiVersion: v1\nkind: Node\nmetadata: {name: [x]}\n");
  ClusterState state;
  ManifestsSource source(dir.path(), &state);
  ASSERT_TRUE(source.Reload().ok());
  EXPECT_EQ(state.Count(Kind::kNode), 0u);
  EXPECT_EQ(source.stats().parse_errors, 1u);
}

TEST(ManifestsSource, MissingDirectoryFailsStartAndKeepsStateOnReload) {
  TempDir dir;
  ClusterState state;
  ManifestsSource missing(dir.Sub("nope"), &state);
  EXPECT_FALSE(missing.Start().ok());

  fs::create_directory(dir.Sub("m"));
  WriteFile(dir.Sub("m/a.yaml"), NodeYaml("n1", "10.244.1.0/24", "192.168.0.1"));
  ManifestsSource source(dir.Sub("m"), &state);
  ASSERT_TRUE(source.Reload().ok());
  fs::remove_all(dir.Sub("m"));
  EXPECT_FALSE(source.Reload().ok());
  EXPECT_EQ(NodeNames(state), (Names{"n1"})) << "an unreadable directory removes nothing";
  EXPECT_EQ(source.stats().read_errors, 1u);
}

class WatchedDir : public ::testing::Test {
 protected:
  void StartSource(ManifestsOptions options = {}) {
    source_ = std::make_unique<ManifestsSource>(dir_.path(), &state_, options);
    absl::Status s = source_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  bool WaitForNodes(const Names& names) {
    const bool ok = WaitFor([&] { return NodeNames(state_) == names; });
    if (!ok) ADD_FAILURE() << "nodes never became as expected; stats.last_error="
                           << source_->stats().last_error;
    return ok;
  }

  TempDir dir_;
  ClusterState state_;
  std::unique_ptr<ManifestsSource> source_;
};

TEST_F(WatchedDir, FileAddedChangedRenamedAndRemovedTakeEffectWithoutReloadCalls) {
  WriteFile(dir_.Sub("n1.yaml"), NodeYaml("n1", "10.244.1.0/24", "192.168.0.1"));
  StartSource();
  EXPECT_EQ(NodeNames(state_), (Names{"n1"})) << "Start() reads the directory once";

  std::atomic<int> notifications{0};
  state_.Subscribe([&](const auto&) { ++notifications; });

  WriteFile(dir_.Sub("n2.yaml"), NodeYaml("n2", "10.244.2.0/24", "192.168.0.2"));  // added
  ASSERT_TRUE(WaitForNodes({"n1", "n2"}));

  WriteFile(dir_.Sub("n2.yaml"), NodeYaml("n2", "10.244.22.0/24", "192.168.0.2"));  // changed
  ASSERT_TRUE(WaitFor([&] {
    auto n = state_.Get<Node>("", "n2");
    return n && n->pod_cidrs[0] == "10.244.22.0/24";
  }));

  WriteAtomically(dir_.Sub("n3.yaml"), NodeYaml("n3", "10.244.3.0/24", "192.168.0.3"));
  ASSERT_TRUE(WaitForNodes({"n1", "n2", "n3"}));

  fs::remove(dir_.Sub("n1.yaml"));  // removed
  ASSERT_TRUE(WaitForNodes({"n2", "n3"}));

  fs::rename(dir_.Sub("n2.yaml"), dir_.Sub("n2.yaml.disabled"));  // moved away
  ASSERT_TRUE(WaitForNodes({"n3"}));

  std::vector<RemoteNode> remote = state_.RemoteNodes("n1");
  ASSERT_EQ(remote.size(), 1u);
  EXPECT_EQ(remote[0].name, "n3");
  EXPECT_GE(notifications.load(), 5);
  EXPECT_EQ(source_->stats().parse_errors, 0u);
}

TEST_F(WatchedDir, BurstOfWritesIsReadOnceAfterTheDebounce) {
  StartSource({.debounce = absl::Milliseconds(300), .max_delay = absl::Seconds(2)});
  const uint64_t before = source_->stats().reloads;
  for (int i = 0; i < 5; ++i) {
    WriteFile(dir_.Sub("n" + std::to_string(i) + ".yaml"),
              NodeYaml("n" + std::to_string(i), "10.244." + std::to_string(i) + ".0/24",
                       "192.168.0." + std::to_string(i + 1)));
  }
  ASSERT_TRUE(WaitForNodes({"n0", "n1", "n2", "n3", "n4"}));
  EXPECT_EQ(source_->stats().reloads, before + 1);
}

TEST_F(WatchedDir, BrokenEditKeepsNodesThenTheFixApplies) {
  WriteFile(dir_.Sub("nodes.yaml"), NodeYaml("n1", "10.244.1.0/24", "192.168.0.1"));
  StartSource();
  WriteFile(dir_.Sub("nodes.yaml"), "apiVersion: v1\nkind: Node\nmetadata: {name: n1\n");
  ASSERT_TRUE(WaitFor([&] { return source_->stats().parse_errors == 1; }));
  EXPECT_EQ(NodeNames(state_), (Names{"n1"}));
  EXPECT_NE(source_->stats().last_error.find("nodes.yaml: line "), std::string::npos)
      << source_->stats().last_error;
  WriteFile(dir_.Sub("nodes.yaml"), NodeYaml("n5", "10.244.5.0/24", "192.168.0.5"));
  ASSERT_TRUE(WaitForNodes({"n5"}));
  EXPECT_EQ(source_->stats().files_in_error, 0u);
}

TEST_F(WatchedDir, ConfigMapStyleSymlinkSwapIsSeen) {
  // A ConfigMap volume: files are symlinks through ..data, and an update
  // atomically renames a new ..data symlink over the old one.
  fs::create_directory(dir_.Sub("..v1"));
  WriteFile(dir_.Sub("..v1/nodes.yaml"), NodeYaml("n1", "10.244.1.0/24", "192.168.0.1"));
  fs::create_directory_symlink("..v1", dir_.Sub("..data"));
  fs::create_symlink("..data/nodes.yaml", dir_.Sub("nodes.yaml"));
  StartSource();
  EXPECT_EQ(NodeNames(state_), (Names{"n1"}));

  fs::create_directory(dir_.Sub("..v2"));
  WriteFile(dir_.Sub("..v2/nodes.yaml"), NodeYaml("n2", "10.244.2.0/24", "192.168.0.2"));
  fs::create_directory_symlink("..v2", dir_.Sub("..data_tmp"));
  fs::rename(dir_.Sub("..data_tmp"), dir_.Sub("..data"));
  ASSERT_TRUE(WaitForNodes({"n2"}));
}

TEST_F(WatchedDir, DirectoryRemovedAndRecreatedIsWatchedAgain) {
  WriteFile(dir_.Sub("m.yaml"), NodeYaml("n1", "10.244.1.0/24", "192.168.0.1"));
  // Watch a subdirectory so the test can remove and recreate it.
  const std::string sub = dir_.Sub("manifests");
  fs::create_directory(sub);
  fs::rename(dir_.Sub("m.yaml"), sub + "/m.yaml");
  source_ = std::make_unique<ManifestsSource>(
      sub, &state_, ManifestsOptions{.rewatch_interval = absl::Milliseconds(50)});
  ASSERT_TRUE(source_->Start().ok());
  ASSERT_EQ(NodeNames(state_), (Names{"n1"}));

  fs::remove_all(sub);
  // Wait for the watcher to notice (a reload fails to read the directory).
  ASSERT_TRUE(WaitFor([&] { return source_->stats().read_errors >= 1; }));
  EXPECT_EQ(NodeNames(state_), (Names{"n1"})) << "a vanished directory removes nothing";

  const std::string staging = dir_.Sub("staging");
  fs::create_directory(staging);
  WriteFile(staging + "/m.yaml", NodeYaml("n2", "10.244.2.0/24", "192.168.0.2"));
  fs::rename(staging, sub);
  ASSERT_TRUE(WaitForNodes({"n2"}));
  WriteFile(sub + "/more.yaml", NodeYaml("n3", "10.244.3.0/24", "192.168.0.3"));
  ASSERT_TRUE(WaitForNodes({"n2", "n3"}));
}

TEST_F(WatchedDir, StopIsPromptAndRestartable) {
  StartSource();
  const auto t0 = std::chrono::steady_clock::now();
  source_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  source_->Stop();  // idempotent
  WriteFile(dir_.Sub("n1.yaml"), NodeYaml("n1", "10.244.1.0/24", "192.168.0.1"));
  ASSERT_TRUE(source_->Start().ok());
  EXPECT_EQ(NodeNames(state_), (Names{"n1"}));
  EXPECT_FALSE(source_->Start().ok()) << "already started";
}

}  // namespace
}  // namespace xvr::k8s
