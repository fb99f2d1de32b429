#include "agent/state/state_store.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "agent/state/atomic_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace xvr {
namespace {

using ::testing::HasSubstr;

namespace fs = std::filesystem;

NodeState Sample() {
  NodeState s;
  s.next_id = 8;
  EndpointRecord ep;
  ep.id = 7;
  ep.key = {"c0ffee", "eth0"};
  ep.netns = "/run/netns/pod1";
  ep.pod_namespace = "default";
  ep.pod_name = "web-0";
  ep.ip = *Ipv4Addr::Parse("10.244.1.5");
  ep.mac = *MacAddr::Parse("02:42:ac:11:00:02");
  ep.host_ifname = "xvr1a2b3c4d5e6f";
  ep.host_ifindex = 17;
  ep.host_mac = *MacAddr::Parse("aa:bb:cc:dd:ee:ff");
  ep.attach = PodAttach::kTc;
  s.endpoints.push_back(ep);
  s.ipam = {{"cidr", "10.244.1.0/24"},
            {"gateway", "10.244.1.1"},
            {"last", "10.244.1.5"},
            {"allocations", {{{"containerID", "c0ffee"}, {"ifname", "eth0"}, {"ip", "10.244.1.5"}}}}};
  return s;
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

void WriteRaw(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(StateStore, MissingFileMeansFreshNode) {
  testing::TempDir dir;
  StateStore store(dir.Sub("state"));
  absl::StatusOr<std::optional<NodeState>> loaded = store.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->has_value());
}

TEST(StateStore, ReloadEqualsSaved) {
  testing::TempDir dir;
  StateStore store(dir.Sub("a/b"));  // directories are created
  const NodeState saved = Sample();
  ASSERT_TRUE(store.Save(saved).ok());
  absl::StatusOr<std::optional<NodeState>> loaded = StateStore(dir.Sub("a/b")).Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, saved);
}

TEST(StateStore, SaveReplacesTheFileByRenameAndLeavesNoTempFiles) {
  testing::TempDir dir;
  StateStore store(dir.path());
  ASSERT_TRUE(store.Save(Sample()).ok());
  struct stat before {};
  ASSERT_EQ(::stat(store.path().c_str(), &before), 0);
  EXPECT_EQ(before.st_mode & 0777, 0600u);

  NodeState next = Sample();
  next.next_id = 9;
  ASSERT_TRUE(store.Save(next).ok());
  struct stat after {};
  ASSERT_EQ(::stat(store.path().c_str(), &after), 0);
  // A new inode: the old file was never rewritten in place, so a reader (or
  // a crash) sees either the old or the new state.
  EXPECT_NE(before.st_ino, after.st_ino);
  EXPECT_EQ(Files(dir.path()), std::vector<std::string>{"state.json"});
  EXPECT_EQ((*store.Load())->next_id, 9u);
}

TEST(StateStore, InterruptedWriteLeavesOldStateAndItsTempFileIsCleanedUp) {
  testing::TempDir dir;
  StateStore store(dir.path());
  ASSERT_TRUE(store.Save(Sample()).ok());
  // What a crash between write and rename leaves behind.
  WriteRaw(dir.Sub("state.json.tmp.Ab12Cd"), "{\"version\": 1, \"nextId\": ");
  absl::StatusOr<std::optional<NodeState>> loaded = store.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(**loaded, Sample());
  EXPECT_EQ(Files(dir.path()), std::vector<std::string>{"state.json"});
}

TEST(StateStore, CorruptFileIsRefusedNamedAndKeptAside) {
  testing::TempDir dir;
  StateStore store(dir.path());
  const std::string garbage = "{\"version\": 1, \"endpoints\": [tru";
  WriteRaw(store.path(), garbage);

  absl::StatusOr<std::optional<NodeState>> loaded = store.Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(store.path()));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("Refusing to start"));

  // The original stays, so a restarted agent refuses again instead of
  // starting empty; one copy is kept aside.
  std::vector<std::string> files = Files(dir.path());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], "state.json");
  EXPECT_THAT(files[1], ::testing::StartsWith("state.json.corrupt-"));
  EXPECT_EQ(*ReadFile(dir.Sub(files[1])), garbage);
  EXPECT_EQ(*ReadFile(store.path()), garbage);

  // A crash loop does not multiply the copies.
  EXPECT_FALSE(store.Load().ok());
  EXPECT_EQ(Files(dir.path()).size(), 2u);
}

TEST(StateStore, SchemaErrorsAreCorruptionToo) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not valid JSON"},
      {"[]", "top level is not an object"},
      {R"({"version": 2, "nextId": 1, "ipam": null, "endpoints": []})", "version: 2"},
      {R"({"version": 1, "nextId": -1, "ipam": null, "endpoints": []})", "nextId"},
      {R"({"version": 1, "nextId": 1, "ipam": null, "endpoints": [{"id": 1}]})",
       "endpoints[0].containerID: missing"},
      {R"({"version": 1, "nextId": 1, "ipam": null})", "endpoints: missing"},
  };
  for (const auto& [text, want] : cases) {
    testing::TempDir dir;
    StateStore store(dir.path());
    WriteRaw(store.path(), text);
    absl::StatusOr<std::optional<NodeState>> loaded = store.Load();
    ASSERT_FALSE(loaded.ok()) << text;
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << text;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(want)) << text;
  }
}

TEST(StateStore, BadEndpointFieldValueIsNamed) {
  nlohmann::json j = nlohmann::json::parse(SerializeNodeState(Sample()));
  j["endpoints"][0]["ip"] = "10.244.1.500";
  absl::StatusOr<NodeState> parsed = ParseNodeState(j.dump());
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("endpoints[0].ip: invalid IPv4 address"));
}

TEST(StateStore, SaveFailsCleanlyWhenTheDirectoryCannotBeCreated) {
  testing::TempDir dir;
  WriteRaw(dir.Sub("file"), "x");
  StateStore store(dir.Sub("file/state"));
  absl::Status st = store.Save(Sample());
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("file/state"));
}

}  // namespace
}  // namespace xvr
