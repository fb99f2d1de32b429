#include "agent/ctl/install_cni.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "test/unit/agent/temp_dir.h"

namespace xvr {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using xvr::testing::TempDir;

constexpr char kConfList[] = R"({
  "cniVersion": "1.1.0", "name": "xvr",
  "plugins": [{"type": "xvr-cni", "agentSocket": "/run/xvr/agent.sock"}]
})";

void Write(const std::string& path, const std::string& s) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << s;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

unsigned Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

ino_t Inode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(InstallCniBinaryTest, InstallsReplacesAtomicallyAndSkipsIdentical) {
  TempDir tmp;
  const std::string src = tmp.Sub("xvr-cni.src");
  const std::string bin_dir = tmp.Sub("host/opt/cni/bin");  // created on demand
  Write(src, "\x7f" "ELF v1");

  absl::StatusOr<InstallResult> r = InstallCniBinary(src, bin_dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, InstallResult::kInstalled);
  const std::string target = bin_dir + "/xvr-cni";
  EXPECT_EQ(Read(target), "\x7f" "ELF v1");
  EXPECT_EQ(Mode(target), 0755u);
  EXPECT_EQ(Names(bin_dir), std::vector<std::string>{"xvr-cni"});  // no temp file left

  // Same bytes: nothing touched (the inode stays).
  const ino_t ino = Inode(target);
  r = InstallCniBinary(src, bin_dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, InstallResult::kUnchanged);
  EXPECT_EQ(Inode(target), ino);

  // New bytes: a new file renamed over the old one, never written in place
  // (a runtime may be executing the old binary).
  Write(src, "\x7f" "ELF v2 longer");
  r = InstallCniBinary(src, bin_dir);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, InstallResult::kInstalled);
  EXPECT_EQ(Read(target), "\x7f" "ELF v2 longer");
  EXPECT_NE(Inode(target), ino);
  EXPECT_EQ(Names(bin_dir), std::vector<std::string>{"xvr-cni"});

  // Same bytes but a wrong mode is repaired.
  ASSERT_EQ(::chmod(target.c_str(), 0644), 0);
  r = InstallCniBinary(src, bin_dir);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, InstallResult::kInstalled);
  EXPECT_EQ(Mode(target), 0755u);
}

TEST(InstallCniBinaryTest, MissingSourceFails) {
  TempDir tmp;
  absl::StatusOr<InstallResult> r = InstallCniBinary(tmp.Sub("nope"), tmp.Sub("bin"));
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("nope"));
}

TEST(InstallCniBinaryTest, WritesTheModeAndLeavesNoTempFile) {
  TempDir tmp;
  const std::string src = tmp.Sub("plugin");
  Write(src, "#!/bin/true\n");
  ASSERT_TRUE(InstallCniBinary(src, tmp.Sub("bin"), "x").ok());
  EXPECT_EQ(Read(tmp.Sub("bin/x")), "#!/bin/true\n");
  EXPECT_EQ(Mode(tmp.Sub("bin/x")), 0755u);
  for (const auto& e : fs::directory_iterator(tmp.Sub("bin"))) {
    EXPECT_EQ(e.path().filename(), "x") << "left behind: " << e.path();
  }
}

TEST(InstallCniConfListTest, InstallsValidListAndSkipsIdentical) {
  TempDir tmp;
  const std::string src = tmp.Sub("10-xvr.conflist");
  const std::string net_d = tmp.Sub("net.d");
  Write(src, kConfList);
  absl::StatusOr<InstallResult> r = InstallCniConfList(src, net_d);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, InstallResult::kInstalled);
  EXPECT_EQ(Read(net_d + "/10-xvr.conflist"), kConfList);
  EXPECT_EQ(Mode(net_d + "/10-xvr.conflist"), 0644u);
  r = InstallCniConfList(src, net_d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, InstallResult::kUnchanged);
  EXPECT_EQ(Names(net_d), std::vector<std::string>{"10-xvr.conflist"});
}

TEST(InstallCniConfListTest, InvalidListIsRefusedAndNothingWritten) {
  TempDir tmp;
  const std::string src = tmp.Sub("10-xvr.conflist");
  const std::string net_d = tmp.Sub("net.d");
  ASSERT_TRUE(fs::create_directory(net_d));
  // An older, valid copy stays as it is.
  Write(net_d + "/10-xvr.conflist", kConfList);
  for (const char* bad : {
           "{",
           R"({"cniVersion": "1.1.0", "name": "xvr", "plugins": []})",
           R"({"cniVersion": "1.1.0", "name": "xvr", "plugins": [{"agentSocket": "/x"}]})",
           R"({"cniVersion": "0.1.0", "name": "xvr", "plugins": [{"type": "xvr-cni"}]})",
       }) {
    Write(src, bad);
    absl::StatusOr<InstallResult> r = InstallCniConfList(src, net_d);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("refusing to install"));
    EXPECT_EQ(Names(net_d), std::vector<std::string>{"10-xvr.conflist"}) << bad;
    EXPECT_EQ(Read(net_d + "/10-xvr.conflist"), kConfList);
  }
  // And into an empty directory nothing appears.
  const std::string empty = tmp.Sub("empty");
  ASSERT_TRUE(fs::create_directory(empty));
  EXPECT_FALSE(InstallCniConfList(src, empty).ok());
  EXPECT_TRUE(Names(empty).empty());
}

// An agent stand-in: /healthz answers 503 until `ready`.
class FakeAgent {
 public:
  explicit FakeAgent(const std::string& path) {
    svr_.set_address_family(AF_UNIX);
    svr_.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      ++probes;
      if (ready) {
        res.status = 200;
        res.set_content(R"({"status":"ok"})", "application/json");
      } else {
        res.status = 503;
        res.set_content(R"({"error":"agent not ready"})", "application/json");
      }
    });
    EXPECT_TRUE(svr_.bind_to_port(path, 80));
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    // bind_to_port() already listens: connects queue until the thread accepts.
  }
  ~FakeAgent() {
    svr_.stop();
    thread_.join();
  }
  std::atomic<bool> ready{false};
  std::atomic<int> probes{0};

 private:
  httplib::Server svr_;
  std::thread thread_;
};

TEST(WaitAgentReadyTest, ReturnsOnceHealthzAnswers200) {
  TempDir tmp;
  FakeAgent agent(tmp.Sub("agent.sock"));
  std::thread flip([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    agent.ready = true;
  });
  absl::Status st = WaitAgentReady(tmp.Sub("agent.sock"), absl::Seconds(10),
                                   absl::Milliseconds(20));
  flip.join();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_GE(agent.probes.load(), 2);
}

TEST(WaitAgentReadyTest, TimesOutWhileNotReady) {
  TempDir tmp;
  FakeAgent agent(tmp.Sub("agent.sock"));
  const absl::Time start = absl::Now();
  absl::Status st = WaitAgentReady(tmp.Sub("agent.sock"), absl::Milliseconds(300),
                                   absl::Milliseconds(20));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(st.message(), HasSubstr("503"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(WaitAgentReadyTest, TimesOutWithoutSocket) {
  TempDir tmp;
  absl::Status st = WaitAgentReady(tmp.Sub("missing.sock"), absl::Milliseconds(200),
                                   absl::Milliseconds(20));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(st.message(), HasSubstr("cannot reach the agent"));
}

}  // namespace
}  // namespace xvr
