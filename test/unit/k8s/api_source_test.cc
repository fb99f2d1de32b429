// The API server source against an in-process fake API server: list and
// watch semantics (resume, bookmarks, 410, garbage, drops), retries and
// backoff, pagination, bad items, token rotation, prompt Stop(), and TLS.
//
// Every wait is on a condition with a deadline; nothing asserts on a sleep.
#include "agent/k8s/api_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "test/unit/agent/temp_dir.h"
#include "test/unit/k8s/fake_apiserver.h"

namespace xvr::k8s {
namespace {

using json = nlohmann::json;
using testing::FakeApiServer;
using testing::RecordedRequest;
using testing::RequestKind;
using ::testing::HasSubstr;
using xvr::testing::TempDir;

// Polls `pred` until it holds or `limit` passes; never a blind sleep.
bool WaitFor(const std::function<bool()>& pred,
             std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
}

json NodeJson(const std::string& name, const std::string& cidr = "10.244.1.0/24") {
  return {{"metadata", {{"name", name}, {"uid", "uid-" + name}}},
          {"spec", {{"podCIDR", cidr}}},
          {"status", {{"addresses", {{{"type", "InternalIP"}, {"address", "192.168.0.1"}}}}}}};
}

json PodJson(const std::string& ns, const std::string& name, const std::string& ip) {
  return {{"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", "web"}}}}},
          {"spec", {{"nodeName", "n1"}, {"containers", {{{"name", "c"}}}}}},
          {"status", {{"phase", "Running"}, {"podIP", ip}}}};
}

std::vector<std::string> NodeNames(const ClusterState& state) {
  std::vector<std::string> out;
  for (const auto& n : state.List<Node>()) out.push_back(n->meta.name);
  return out;
}

using Names = std::vector<std::string>;

// A 127.0.0.1 port nobody listens on (bound, read, closed).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class ApiSourceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }

  // Small delays so that retries happen within a test's few milliseconds.
  static ApiSourceOptions Options(std::vector<Kind> kinds = {Kind::kNode}) {
    ApiSourceOptions o;
    o.kinds = std::move(kinds);
    o.initial_backoff = absl::Milliseconds(5);
    o.max_backoff = absl::Milliseconds(50);
    o.connect_timeout = absl::Seconds(2);
    o.request_timeout = absl::Seconds(5);
    o.watch_timeout = absl::Seconds(60);
    return o;
  }

  ApiServerConfig Config() const {
    ApiServerConfig c;
    c.server = server_.url();
    c.origin = "test";
    return c;
  }

  void StartSource(ApiSourceOptions options = Options(), ApiServerConfig config = {}) {
    if (config.server.empty()) config = Config();
    absl::StatusOr<std::unique_ptr<ApiSource>> s =
        ApiSource::Create(std::move(config), &state_, std::move(options));
    ASSERT_TRUE(s.ok()) << s.status();
    source_ = *std::move(s);
    ASSERT_TRUE(source_->Start().ok());
  }

  KindStats Stats(Kind k = Kind::kNode) const { return source_->stats()[k]; }

  // Synced, and a watch is open: what the test sends next reaches it.
  void SyncAndWatch(Kind k = Kind::kNode, size_t watches = 1) {
    ASSERT_TRUE(source_->WaitForSync(absl::Seconds(5)).ok());
    ASSERT_TRUE(server_.WaitForWatches(k, watches));
  }

  std::vector<RecordedRequest> Watches(Kind k = Kind::kNode) const {
    return server_.Requests(k, RequestKind::kWatch);
  }
  size_t ListRequests(Kind k = Kind::kNode) const {
    return server_.Requests(k, RequestKind::kList).size();
  }

  FakeApiServer server_;
  ClusterState state_;
  std::unique_ptr<ApiSource> source_;  // last: stopped before the server goes
};

// ---- list ----------------------------------------------------------------------

TEST_F(ApiSourceTest, InitialListOfEveryKindSyncs) {
  server_.Upsert(Kind::kNode, NodeJson("n1"));
  server_.Upsert(Kind::kNamespace, {{"metadata", {{"name", "prod"}}}});
  server_.Upsert(Kind::kPod, PodJson("prod", "web-1", "10.244.1.5"));
  server_.Upsert(Kind::kService,
                 {{"metadata", {{"name", "web"}, {"namespace", "prod"}}},
                  {"spec", {{"clusterIP", "10.96.0.10"}, {"ports", {{{"port", 80}}}}}}});
  server_.Upsert(Kind::kEndpointSlice,
                 {{"metadata",
                   {{"name", "web-abc"},
                    {"namespace", "prod"},
                    {"labels", {{"kubernetes.io/service-name", "web"}}}}},
                  {"addressType", "IPv4"},
                  {"endpoints", {{{"addresses", {"10.244.1.5"}}}}}});
  server_.Upsert(Kind::kNetworkPolicy, {{"metadata", {{"name", "deny"}, {"namespace", "prod"}}},
                                        {"spec", {{"podSelector", json::object()}}}});
  const std::string rv = std::to_string(server_.resource_version());

  StartSource(Options({kAllKinds.begin(), kAllKinds.end()}));
  ASSERT_TRUE(source_->WaitForSync(absl::Seconds(5)).ok());
  EXPECT_TRUE(source_->Synced());

  for (Kind k : kAllKinds) {
    SCOPED_TRACE(KindName(k));
    EXPECT_EQ(state_.Count(k), 1u);
    EXPECT_TRUE(state_.Synced(k));
    const KindStats s = Stats(k);
    EXPECT_TRUE(s.watched);
    EXPECT_TRUE(s.synced);
    EXPECT_EQ(s.lists, 1u);
    EXPECT_EQ(s.relists, 0u);
    EXPECT_EQ(s.errors, 0u);
    EXPECT_EQ(s.resource_version, rv);
    const std::vector<RecordedRequest> reqs = server_.Requests(k, RequestKind::kList);
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].Param("limit"), "500");
    EXPECT_FALSE(reqs[0].Has("resourceVersion"));  // a consistent read
    EXPECT_EQ(reqs[0].user_agent, "xvr-agent");
  }
  auto pod = state_.Get<Pod>("prod", "web-1");
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ(pod->pod_ips, std::vector<std::string>{"10.244.1.5"});
  EXPECT_FALSE(pod->meta.resource_version.empty());

  // Then one watch per kind, from the list's resourceVersion.
  for (Kind k : kAllKinds) {
    ASSERT_TRUE(server_.WaitForWatches(k, 1)) << KindName(k);
    const RecordedRequest w = Watches(k).at(0);
    EXPECT_EQ(w.Param("resourceVersion"), rv);
    EXPECT_EQ(w.Param("allowWatchBookmarks"), "true");
    EXPECT_EQ(w.Param("timeoutSeconds"), "60");
    EXPECT_EQ(w.Param("watch"), "1");
  }
}

TEST_F(ApiSourceTest, NotSyncedUntilEveryKindIsListedAndServerErrorsAreRetried) {
  server_.Upsert(Kind::kNode, NodeJson("n1"));
  server_.FailNext(Kind::kPod, RequestKind::kList, 500, 3);
  server_.FailNext(Kind::kPod, RequestKind::kList, 429, 1);
  StartSource(Options({Kind::kNode, Kind::kPod}));

  ASSERT_TRUE(WaitFor([&] { return Stats(Kind::kNode).synced; }));
  // Pods are still failing or were just retried; either way the wait below
  // succeeds only after 4 failures.
  ASSERT_TRUE(source_->WaitForSync(absl::Seconds(5)).ok());
  const KindStats pods = Stats(Kind::kPod);
  EXPECT_EQ(pods.errors, 4u);
  EXPECT_EQ(pods.lists, 1u);
  EXPECT_EQ(ListRequests(Kind::kPod), 5u);
  EXPECT_THAT(pods.last_error, HasSubstr("429"));
}

TEST_F(ApiSourceTest, WaitForSyncTimesOutNamingTheMissingKind) {
  server_.FailNext(Kind::kPod, RequestKind::kList, 403, 1000);
  StartSource(Options({Kind::kNode, Kind::kPod}));
  ASSERT_TRUE(WaitFor([&] { return Stats(Kind::kNode).synced && Stats(Kind::kPod).errors > 0; }));
  absl::Status st = source_->WaitForSync(absl::Milliseconds(50));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(st.message()), HasSubstr("Pod (list: HTTP 403: injected failure 403)"));
  EXPECT_THAT(std::string(st.message()), ::testing::Not(HasSubstr("Node")));
  EXPECT_FALSE(source_->Synced());

  source_->Stop();
  EXPECT_EQ(source_->WaitForSync(absl::Seconds(5)).code(), absl::StatusCode::kCancelled);
}

TEST_F(ApiSourceTest, PaginatesWithContinue) {
  for (int i = 0; i < 7; ++i) server_.Upsert(Kind::kNode, NodeJson(absl::StrCat("n", i)));
  ApiSourceOptions o = Options();
  o.page_size = 3;
  StartSource(o);
  ASSERT_TRUE(source_->WaitForSync(absl::Seconds(5)).ok());
  EXPECT_EQ(NodeNames(state_), (Names{"n0", "n1", "n2", "n3", "n4", "n5", "n6"}));
  const std::vector<RecordedRequest> lists = server_.Requests(Kind::kNode, RequestKind::kList);
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_FALSE(lists[0].Has("continue"));
  EXPECT_NE(lists[1].Param("continue"), "");
  EXPECT_NE(lists[2].Param("continue"), lists[1].Param("continue"));
  for (const RecordedRequest& r : lists) EXPECT_EQ(r.Param("limit"), "3");
  EXPECT_EQ(Stats().list_pages, 3u);
  EXPECT_EQ(Stats().lists, 1u);
}

TEST_F(ApiSourceTest, BadListItemIsSkippedAndCounted) {
  server_.Upsert(Kind::kNode, NodeJson("a"));
  json bad = NodeJson("b");
  bad["spec"]["podCIDRs"] = "10.244.2.0/24";  // must be a list
  server_.Upsert(Kind::kNode, bad);
  server_.Upsert(Kind::kNode, NodeJson("c"));
  StartSource();
  ASSERT_TRUE(source_->WaitForSync(absl::Seconds(5)).ok());
  EXPECT_EQ(NodeNames(state_), (Names{"a", "c"}));
  const KindStats s = Stats();
  EXPECT_EQ(s.bad_objects, 1u);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_THAT(s.last_error, HasSubstr("skipped b: items[1].spec.podCIDRs"));
}

TEST_F(ApiSourceTest, PodFieldSelectorIsSentOnListAndWatch) {
  ApiSourceOptions o = Options({Kind::kPod});
  o.pod_field_selector = "spec.nodeName=n1";
  StartSource(o);
  SyncAndWatch(Kind::kPod);
  EXPECT_EQ(server_.Requests(Kind::kPod, RequestKind::kList)[0].Param("fieldSelector"),
            "spec.nodeName=n1");
  EXPECT_EQ(Watches(Kind::kPod)[0].Param("fieldSelector"), "spec.nodeName=n1");
}

// ---- watch ---------------------------------------------------------------------

TEST_F(ApiSourceTest, WatchEventsAreApplied) {
  server_.Upsert(Kind::kNode, NodeJson("a"));
  server_.Upsert(Kind::kNode, NodeJson("b"));
  StartSource();
  SyncAndWatch();

  server_.Upsert(Kind::kNode, NodeJson("c"));                   // ADDED
  server_.Upsert(Kind::kNode, NodeJson("a", "10.244.9.0/24"));  // MODIFIED
  const int64_t rv = server_.Remove(Kind::kNode, "", "b");      // DELETED
  ASSERT_TRUE(WaitFor([&] { return Stats().resource_version == std::to_string(rv); }));
  EXPECT_EQ(NodeNames(state_), (Names{"a", "c"}));
  EXPECT_EQ(state_.Get<Node>("", "a")->pod_cidrs, std::vector<std::string>{"10.244.9.0/24"});
  const KindStats s = Stats();
  EXPECT_EQ(s.added, 1u);
  EXPECT_EQ(s.modified, 1u);
  EXPECT_EQ(s.deleted, 1u);
  EXPECT_EQ(s.lists, 1u);
  EXPECT_EQ(s.errors, 0u);
}

TEST_F(ApiSourceTest, EventSplitAcrossChunksIsReassembled) {
  StartSource();
  SyncAndWatch();
  const std::string line =
      json{{"type", "ADDED"}, {"object", NodeJson("split")}}.dump();
  server_.SendRaw(Kind::kNode, line.substr(0, 20));
  server_.SendRaw(Kind::kNode, line.substr(20) + "\n");
  ASSERT_TRUE(WaitFor([&] { return state_.Count(Kind::kNode) == 1; }));
  EXPECT_EQ(Stats().errors, 0u);
}

TEST_F(ApiSourceTest, ServerEndedWatchResumesFromLastResourceVersionWithoutRelist) {
  server_.Upsert(Kind::kNode, NodeJson("a"));
  StartSource();
  SyncAndWatch();
  const int64_t rv = server_.Upsert(Kind::kNode, NodeJson("b"));
  ASSERT_TRUE(WaitFor([&] { return state_.Count(Kind::kNode) == 2; }));

  server_.EndWatches(Kind::kNode);
  ASSERT_TRUE(server_.WaitForWatches(Kind::kNode, 2));
  EXPECT_EQ(Watches().at(1).Param("resourceVersion"), std::to_string(rv));
  EXPECT_EQ(ListRequests(), 1u);
  EXPECT_EQ(Stats().lists, 1u);
  EXPECT_EQ(Stats().errors, 0u);

  // And the new watch works.
  server_.Upsert(Kind::kNode, NodeJson("c"));
  ASSERT_TRUE(WaitFor([&] { return state_.Count(Kind::kNode) == 3; }));
}

TEST_F(ApiSourceTest, BookmarkAdvancesResourceVersion) {
  server_.Upsert(Kind::kNode, NodeJson("a"));
  StartSource();
  SyncAndWatch();
  const uint64_t generation = state_.generation();
  const int64_t rv = server_.SendBookmark(Kind::kNode);
  ASSERT_TRUE(WaitFor([&] { return Stats().resource_version == std::to_string(rv); }));
  EXPECT_EQ(Stats().bookmarks, 1u);
  EXPECT_EQ(state_.generation(), generation);  // nothing changed

  server_.EndWatches(Kind::kNode);
  ASSERT_TRUE(server_.WaitForWatches(Kind::kNode, 2));
  EXPECT_EQ(Watches().at(1).Param("resourceVersion"), std::to_string(rv));
  EXPECT_EQ(ListRequests(), 1u);
}

TEST_F(ApiSourceTest, DroppedConnectionResumesFromLastResourceVersion) {
  StartSource();
  SyncAndWatch();
  const int64_t rv = server_.Upsert(Kind::kNode, NodeJson("a"));
  ASSERT_TRUE(WaitFor([&] { return state_.Count(Kind::kNode) == 1; }));

  server_.DropWatches(Kind::kNode);
  ASSERT_TRUE(server_.WaitForWatches(Kind::kNode, 2));
  EXPECT_EQ(Watches().at(1).Param("resourceVersion"), std::to_string(rv));
  EXPECT_EQ(ListRequests(), 1u);
  EXPECT_EQ(Stats().errors, 1u);
  EXPECT_THAT(Stats().last_error, HasSubstr("stream broken after 1 events"));

  // Events recorded while it was away are replayed from that RV.
  server_.Upsert(Kind::kNode, NodeJson("b"));
  ASSERT_TRUE(WaitFor([&] { return state_.Count(Kind::kNode) == 2; }));
}

// What happened while the client was away is only in a relist: objects
// deleted, added and changed with their events compacted away.
void ChangeSilently(FakeApiServer& server) {
  server.Remove(Kind::kNode, "", "a", /*silent=*/true);
  server.Upsert(Kind::kNode, NodeJson("b", "10.244.7.0/24"), /*silent=*/true);
  server.Upsert(Kind::kNode, NodeJson("c"), /*silent=*/true);
}

TEST_F(ApiSourceTest, HttpGoneOnWatchRelistsToTheServersState) {
  server_.Upsert(Kind::kNode, NodeJson("a"));
  server_.Upsert(Kind::kNode, NodeJson("b"));
  StartSource();
  SyncAndWatch();

  ChangeSilently(server_);
  server_.Compact(Kind::kNode);
  server_.DropWatches(Kind::kNode);
  ASSERT_TRUE(WaitFor([&] { return Stats().relists == 1; }));
  EXPECT_EQ(NodeNames(state_), (Names{"b", "c"}));
  EXPECT_EQ(state_.Get<Node>("", "b")->pod_cidrs, std::vector<std::string>{"10.244.7.0/24"});
  EXPECT_EQ(Stats().gone, 1u);
  EXPECT_EQ(Stats().resource_version, std::to_string(server_.resource_version()));
  EXPECT_EQ(ListRequests(), 2u);
  EXPECT_TRUE(source_->Synced());
}

TEST_F(ApiSourceTest, GoneErrorEventRelists) {
  server_.Upsert(Kind::kNode, NodeJson("a"));
  server_.Upsert(Kind::kNode, NodeJson("b"));
  StartSource();
  SyncAndWatch();

  ChangeSilently(server_);
  server_.SendError(Kind::kNode, 410);
  ASSERT_TRUE(WaitFor([&] { return Stats().relists == 1; }));
  EXPECT_EQ(NodeNames(state_), (Names{"b", "c"}));
  EXPECT_EQ(Stats().error_events, 1u);
  EXPECT_EQ(Stats().gone, 1u);
  // The new watch starts from the relist.
  ASSERT_TRUE(server_.WaitForWatches(Kind::kNode, 2));
  EXPECT_EQ(Watches().at(1).Param("resourceVersion"), std::to_string(server_.resource_version()));
}

TEST_F(ApiSourceTest, OtherErrorEventResumesWithoutRelist) {
  StartSource();
  SyncAndWatch();
  server_.SendError(Kind::kNode, 500);
  ASSERT_TRUE(server_.WaitForWatches(Kind::kNode, 2));
  EXPECT_EQ(ListRequests(), 1u);
  EXPECT_EQ(Stats().error_events, 1u);
  EXPECT_EQ(Stats().gone, 0u);
  EXPECT_EQ(Stats().errors, 1u);
}

TEST_F(ApiSourceTest, GarbageOnTheStreamIsCountedAndRelists) {
  server_.Upsert(Kind::kNode, NodeJson("a"));
  StartSource();
  SyncAndWatch();

  json bad = NodeJson("x");
  bad["spec"]["podCIDRs"] = 7;
  const std::vector<std::string> garbage = {
      "this is not json\n",
      "{\"kind\":\"Status\"}\n",                                              // not an event
      "[1,2,3]\n",                                                            // not an object
      "{\"type\":\"ADDED\",\"object\":" + bad.dump() + "}\n",                 // bad object
      "{\"type\":\"EXPLODED\",\"object\":" + NodeJson("y").dump() + "}\n",    // unknown type
      "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}\n",               // no RV
  };
  for (size_t i = 0; i < garbage.size(); ++i) {
    SCOPED_TRACE(garbage[i]);
    ASSERT_TRUE(server_.WaitForWatches(Kind::kNode, i + 1));
    // A change the client only learns about through the relist.
    server_.Upsert(Kind::kNode, NodeJson(absl::StrCat("silent-", i)), /*silent=*/true);
    server_.SendRaw(Kind::kNode, garbage[i]);
    ASSERT_TRUE(WaitFor([&] { return Stats().relists == i + 1; }));
    EXPECT_EQ(Stats().errors, i + 1);
    EXPECT_EQ(state_.Count(Kind::kNode), i + 2);
  }
  EXPECT_EQ(Stats().bad_objects, 1u);
  EXPECT_THAT(Stats().last_error, HasSubstr("BOOKMARK without metadata.resourceVersion"));

  // Still watching.
  ASSERT_TRUE(server_.WaitForWatches(Kind::kNode, garbage.size() + 1));
  server_.Upsert(Kind::kNode, NodeJson("z"));
  ASSERT_TRUE(WaitFor([&] { return state_.Get<Node>("", "z") != nullptr; }));
}

TEST_F(ApiSourceTest, WatchHttpErrorsAreRetriedFromTheSameResourceVersion) {
  StartSource();
  SyncAndWatch();
  const int64_t rv = server_.Upsert(Kind::kNode, NodeJson("a"));
  ASSERT_TRUE(WaitFor([&] { return state_.Count(Kind::kNode) == 1; }));
  server_.FailNext(Kind::kNode, RequestKind::kWatch, 503, 2);
  server_.EndWatches(Kind::kNode);
  ASSERT_TRUE(server_.WaitForWatches(Kind::kNode, 2));
  const std::vector<RecordedRequest> w = Watches();
  ASSERT_EQ(w.size(), 4u);  // the ended one, two 503s, the one open now
  for (size_t i = 1; i < w.size(); ++i) {
    EXPECT_EQ(w[i].Param("resourceVersion"), std::to_string(rv));
  }
  EXPECT_EQ(ListRequests(), 1u);
  EXPECT_EQ(Stats().errors, 2u);
}

// ---- connection, auth, stop ----------------------------------------------------------

TEST_F(ApiSourceTest, ConnectionRefusedBacksOffUntilTheServerAppears) {
  const int port = FreePort();
  ApiServerConfig config;
  config.server = absl::StrCat("http://127.0.0.1:", port);
  StartSource(Options(), config);
  ASSERT_TRUE(WaitFor([&] { return Stats().errors >= 3; }));
  EXPECT_FALSE(source_->Synced());
  EXPECT_THAT(Stats().last_error, HasSubstr("list: cannot connect"));

  FakeApiServer late;
  late.Upsert(Kind::kNode, NodeJson("n1"));
  ASSERT_TRUE(late.Start(port).ok());
  ASSERT_TRUE(source_->WaitForSync(absl::Seconds(5)).ok());
  EXPECT_EQ(NodeNames(state_), Names{"n1"});
  source_->Stop();  // before `late` goes away
}

TEST_F(ApiSourceTest, StopIsPromptDuringABlockedWatch) {
  ApiSourceOptions o = Options({kAllKinds.begin(), kAllKinds.end()});
  o.watch_timeout = absl::Minutes(5);
  StartSource(o);
  ASSERT_TRUE(source_->WaitForSync(absl::Seconds(5)).ok());
  for (Kind k : kAllKinds) ASSERT_TRUE(server_.WaitForWatches(k, 1));

  const auto start = std::chrono::steady_clock::now();
  source_->Stop();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(500));
  // The server sees the connections go.
  for (Kind k : kAllKinds) {
    EXPECT_TRUE(WaitFor([&] { return server_.OpenWatches(k) == 0; })) << KindName(k);
  }
  source_->Stop();  // idempotent
}

TEST_F(ApiSourceTest, StopIsPromptWhileBackingOff) {
  ApiSourceOptions o = Options();
  o.initial_backoff = absl::Seconds(30);
  o.max_backoff = absl::Seconds(30);
  server_.FailNext(Kind::kNode, RequestKind::kList, 500);
  StartSource(o);
  ASSERT_TRUE(WaitFor([&] { return Stats().errors == 1; }));
  const auto start = std::chrono::steady_clock::now();
  source_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(source_->Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ApiSourceTest, TokenFileIsReadAgainAfter401) {
  TempDir dir;
  WriteFile(dir.Sub("token"), "token-1\n");
  server_.RequireToken("token-1");
  ApiServerConfig config = Config();
  config.token = "token-1";
  config.token_file = dir.Sub("token");
  ApiSourceOptions o = Options();
  o.token_reload_interval = absl::Hours(1);  // only the 401 triggers a re-read
  StartSource(o, config);
  SyncAndWatch();
  EXPECT_EQ(Watches().at(0).authorization, "Bearer token-1");
  // An event, so that the watch's end below is a healthy one.
  server_.Upsert(Kind::kNode, NodeJson("a"));
  ASSERT_TRUE(WaitFor([&] { return state_.Count(Kind::kNode) == 1; }));

  // The kubelet rotates the token; the server stops accepting the old one.
  WriteFile(dir.Sub("token"), "token-2\n");
  server_.RequireToken("token-2");
  server_.EndWatches(Kind::kNode);
  ASSERT_TRUE(server_.WaitForWatches(Kind::kNode, 2));
  const std::vector<RecordedRequest> w = Watches();
  EXPECT_EQ(w.at(1).authorization, "Bearer token-1");  // rejected with 401
  EXPECT_EQ(w.back().authorization, "Bearer token-2");
  EXPECT_EQ(Stats().errors, 1u);
  EXPECT_THAT(Stats().last_error, HasSubstr("401"));
  EXPECT_EQ(ListRequests(), 1u);
}

TEST(ApiSourceCreate, RejectsBadConfig) {
  ClusterState state;
  ApiServerConfig c;
  c.server = "10.0.0.1:6443";
  EXPECT_FALSE(ApiSource::Create(c, &state).ok());

  c.server = "https://10.0.0.1:6443";
  c.ca = {"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", "ca.crt"};
  absl::StatusOr<std::unique_ptr<ApiSource>> s = ApiSource::Create(c, &state);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("ca.crt: bad PEM certificate"));

  c.ca = {"nothing", "ca.crt"};
  s = ApiSource::Create(c, &state);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("ca.crt: no PEM certificate"));

  // Plain http ignores TLS material.
  c.server = "http://10.0.0.1:8080";
  EXPECT_TRUE(ApiSource::Create(c, &state).ok());
}

// ---- TLS ----------------------------------------------------------------------------

// Certificates made with the openssl CLI at test time.
class ApiSourceTlsTest : public ::testing::Test {
 protected:
  // A self-signed certificate for `cn` with subjectAltName `san`.
  static bool MakeCert(const std::string& dir, const std::string& name, const std::string& cn,
                       const std::string& san) {
    const std::string cmd = absl::StrCat(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2",
        " -subj /CN=", cn, " -addext subjectAltName=", san, " -keyout ", dir, "/", name,
        ".key -out ", dir, "/", name, ".crt >/dev/null 2>&1");
    return std::system(cmd.c_str()) == 0;
  }

  void SetUp() override {
    if (!MakeCert(dir_.path(), "server", "127.0.0.1", "IP:127.0.0.1") ||
        !MakeCert(dir_.path(), "other", "127.0.0.1", "IP:127.0.0.1") ||
        !MakeCert(dir_.path(), "client", "xvr-agent", "DNS:xvr-agent")) {
      GTEST_SKIP() << "openssl CLI unavailable";
    }
  }

  std::string Read(const std::string& name) {
    absl::StatusOr<std::string> s = ReadFileToString(dir_.Sub(name));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : "";
  }

  // Syncs Nodes from `server` with `config`; returns the source.
  std::unique_ptr<ApiSource> Source(ApiServerConfig config) {
    ApiSourceOptions o;
    o.kinds = {Kind::kNode};
    o.initial_backoff = absl::Milliseconds(5);
    o.max_backoff = absl::Milliseconds(50);
    absl::StatusOr<std::unique_ptr<ApiSource>> s = ApiSource::Create(config, &state_, o);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return nullptr;
    EXPECT_TRUE((*s)->Start().ok());
    return *std::move(s);
  }

  TempDir dir_;
  ClusterState state_;
};

TEST_F(ApiSourceTlsTest, VerifiesTheServerAgainstTheCa) {
  FakeApiServer server({dir_.Sub("server.crt"), dir_.Sub("server.key"), ""});
  server.Upsert(Kind::kNode, NodeJson("n1"));
  ASSERT_TRUE(server.Start().ok());

  ApiServerConfig c;
  c.server = server.url();
  c.ca = {Read("server.crt"), "server.crt"};
  std::unique_ptr<ApiSource> good = Source(c);
  ASSERT_NE(good, nullptr);
  ASSERT_TRUE(good->WaitForSync(absl::Seconds(5)).ok());
  EXPECT_EQ(state_.Count(Kind::kNode), 1u);
  good->Stop();

  // Another CA: never synced, and the error says why.
  c.ca = {Read("other.crt"), "other.crt"};
  std::unique_ptr<ApiSource> wrong_ca = Source(c);
  ASSERT_NE(wrong_ca, nullptr);
  ASSERT_TRUE(WaitFor([&] { return wrong_ca->stats()[Kind::kNode].errors >= 2; }));
  EXPECT_FALSE(wrong_ca->Synced());
  EXPECT_THAT(wrong_ca->stats()[Kind::kNode].last_error, HasSubstr("certificate verify failed"));
  wrong_ca->Stop();

  // The right CA but another name.
  c.ca = {Read("server.crt"), "server.crt"};
  c.tls_server_name = "kubernetes.default.svc";
  std::unique_ptr<ApiSource> wrong_name = Source(c);
  ASSERT_NE(wrong_name, nullptr);
  ASSERT_TRUE(WaitFor([&] { return wrong_name->stats()[Kind::kNode].errors >= 1; }));
  EXPECT_FALSE(wrong_name->Synced());
  EXPECT_THAT(wrong_name->stats()[Kind::kNode].last_error, HasSubstr("hostname mismatch"));
  wrong_name->Stop();

  // insecure-skip-tls-verify connects to anything.
  ApiServerConfig insecure;
  insecure.server = server.url();
  insecure.insecure_skip_tls_verify = true;
  std::unique_ptr<ApiSource> any = Source(insecure);
  ASSERT_NE(any, nullptr);
  ASSERT_TRUE(any->WaitForSync(absl::Seconds(5)).ok());
  any->Stop();
}

TEST_F(ApiSourceTlsTest, ClientCertificateAuthenticates) {
  FakeApiServer server({dir_.Sub("server.crt"), dir_.Sub("server.key"), dir_.Sub("client.crt")});
  ASSERT_TRUE(server.Start().ok());
  ApiServerConfig c;
  c.server = server.url();
  c.ca = {Read("server.crt"), "server.crt"};
  c.client_cert = {Read("client.crt"), "client.crt"};
  c.client_key = {Read("client.key"), "client.key"};
  std::unique_ptr<ApiSource> src = Source(c);
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->WaitForSync(absl::Seconds(5)).ok());
  src->Stop();

  // Without it the handshake fails.
  c.client_cert = {};
  c.client_key = {};
  std::unique_ptr<ApiSource> anonymous = Source(c);
  ASSERT_NE(anonymous, nullptr);
  ASSERT_TRUE(WaitFor([&] { return anonymous->stats()[Kind::kNode].errors >= 1; }));
  EXPECT_FALSE(anonymous->Synced());
  anonymous->Stop();

  // A key that is not the certificate's is refused up front.
  c.client_cert = {Read("client.crt"), "client.crt"};
  c.client_key = {Read("other.key"), "other.key"};
  absl::StatusOr<std::unique_ptr<ApiSource>> mismatched = ApiSource::Create(c, &state_);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_THAT(std::string(mismatched.status().message()),
              HasSubstr("other.key: does not match the client certificate"));
}

}  // namespace
}  // namespace xvr::k8s
