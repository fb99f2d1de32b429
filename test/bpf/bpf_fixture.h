// The fixture of the BPF program tests: loads one real program from its
// skeleton with its maps pinned in a private bpffs directory, runs it on
// packets through BPF_PROG_RUN (bpf_prog_test_run_opts) and reads back what
// it left: the per-CPU counters and the drop events on the ring buffer.
//
// Each test gets:
//   - a fresh network namespace holding four veth pairs (pods A, B, C and
//     the host loopback pair), so ingress ifindexes and device-map entries
//     name real devices without touching the host; overlay tests add a
//     fifth, the fabric (underlay) NIC, with CreateFabric();
//   - /sys/fs/bpf/xvr-test-<pid>-<n>/ as the skeleton's pin_root_path, so
//     the maps (LIBBPF_PIN_BY_NAME) are new and private to the test;
//   - the calling thread pinned to one CPU, so per-CPU state (the event
//     rate limiter) is deterministic.
// TearDown undoes all of it, whether the test passed or not.
//
// One program is loaded at a time. UnloadProgram() destroys it and empties
// the pin directory, so the next LoadProgram() starts from fresh maps: that
// is how one test plays two nodes (encapsulate on one, decapsulate on the
// other) in the same netns. Tests that cross programs and need state to
// survive (NAPT, services) carry it over by hand: SnapshotServices() before
// UnloadProgram(), RestoreServices() after the next LoadProgram().
#ifndef XVR_TEST_BPF_BPF_FIXTURE_H
#define XVR_TEST_BPF_BPF_FIXTURE_H

#include <sched.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "test/bpf/packet_builder.h"
#include "test/bpf/test_netns.h"
#include "test/bpf/topology.h"
#include "xvr/abi.h"

struct bpf_object;

namespace xvr::test {

enum class Program { kXdpPod, kTcPod, kTcHostEgress, kXdpFabric };

const char* ProgramName(Program p);
uint32_t HookOf(Program p);
bool IsXdp(Program p);
// The action code a verdict maps to on the program's hook (XDP_* / TC_ACT_*).
uint32_t ActionFor(Program p, uint32_t verdict);
std::string ActionName(Program p, uint32_t action);
const char* VerdictName(uint32_t verdict);
const char* ReasonName(uint32_t reason);
std::string CounterName(uint32_t index);

struct RunResult {
  uint32_t retval = 0;
  Bytes out;
};

struct CounterValue {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  bool operator==(const CounterValue&) const = default;
};

// The raw entries of a hash map: (key bytes, value bytes).
using MapEntries = std::vector<std::pair<Bytes, Bytes>>;

// The service tables as a program left them, to carry into the next one.
struct ServiceState {
  std::map<std::string, MapEntries> maps;  // xvr_svc, xvr_backends, xvr_svc_ct, ...
  std::map<uint32_t, std::vector<uint32_t>> maglev;  // table id -> slots
};

// A pod endpoint as the fixture wrote it to the maps.
struct TestEndpoint {
  PodAddr addr;
  int ifindex = 0;       // host side of the pod's veth
  int peer_ifindex = 0;  // pod side (a real device without an endpoint)
};

class BpfProgramTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Opens and loads the program's skeleton with maps pinned in the test's
  // private directory. Use with ASSERT_NO_FATAL_FAILURE.
  void LoadProgram(Program p);
  // Destroys the loaded program and removes its pins (fresh maps for the
  // next LoadProgram). Use with ASSERT_NO_FATAL_FAILURE.
  void UnloadProgram();
  // Writes xvr_node[0] (ready, events_per_sec 1000) and endpoints A and B
  // (both maps and the device map) and C (endpoint maps only).
  void SeedTopology();
  // Creates the fabric veth pair (fabric_); its host end stands for the
  // node's underlay NIC. Use with ASSERT_NO_FATAL_FAILURE.
  void CreateFabric();

  xvr_node_cfg DefaultNodeConfig() const;
  void WriteNodeConfig(const xvr_node_cfg& cfg);
  void PutEndpoint(const TestEndpoint& ep, bool in_devmap);
  // xvr_devmap[ifindex] = ifindex.
  void PutDevmap(int ifindex);
  // xvr_routes[prefix/prefixlen] = route.
  void PutRoute(const Ipv4& prefix, uint32_t prefixlen, const xvr_route& route);
  // xvr_neigh[ip] = {mac, state, ifindex}.
  void PutNeigh(const Ipv4& ip, const Mac& mac, int ifindex, uint16_t state = 0x02 /* REACHABLE */);

  // Services. xvr_svc[key] = svc; xvr_backends[id] = backend.
  void PutService(const xvr_svc_key& key, const xvr_svc& svc);
  void PutBackend(uint32_t id, const xvr_backend& backend);
  void DeleteBackend(uint32_t id);
  // A Maglev table as the agent makes one: an inner u32 -> u32 array of
  // slots.size() entries (BPF_F_INNER_MAP), filled, stored at
  // xvr_maglev[table_id] (replacing the table there), its fd closed.
  void PutMaglevTable(uint32_t table_id, const std::vector<uint32_t>& slots);
  // The slots of xvr_maglev[table_id] as the kernel holds them; nullopt
  // when that outer slot holds no table.
  std::optional<std::vector<uint32_t>> MaglevTable(uint32_t table_id);
  std::optional<xvr_svc_ct> SvcCt(const xvr_nat_key& key);
  std::optional<xvr_svc_rev> SvcRev(const xvr_nat_key& key);
  std::optional<xvr_aff_val> SvcAffinity(const xvr_aff_key& key);
  void PutSvcAffinity(const xvr_aff_key& key, const xvr_aff_val& val);
  // Every entry of a hash map of the loaded program, read with
  // get_next_key; and written back (BPF_ANY).
  MapEntries DumpMap(const char* name);
  void RestoreMap(const char* name, const MapEntries& entries);
  // All service state: frontends, backends, connection, reverse and
  // affinity entries, and the Maglev tables put with PutMaglevTable.
  ServiceState SnapshotServices();
  // Use with ASSERT_NO_FATAL_FAILURE.
  void RestoreServices(const ServiceState& state);

  // Runs the loaded program once on pkt arriving on ifindex. Use with
  // ASSERT_NO_FATAL_FAILURE.
  void Run(const Bytes& pkt, int ifindex, RunResult* result);
  // The same without assertions: 0 or the negative errno of
  // bpf_prog_test_run_opts. XDP only: `meta` bytes of metadata go before the
  // packet, and a non-zero `linear` puts only the first `linear` bytes in
  // the linear area, the rest in a fragment (xdp.frags programs, Linux >=
  // 6.18; BPF_PROG_RUN refuses frames shorter than 14 bytes, so this is how
  // a program is shown fewer). TC only: a non-zero `gso_size` goes into
  // __sk_buff.gso_size, which makes the skb a GSO skb; BPF_PROG_RUN cannot
  // set its gso_type, so it is of no type (neither TCP nor UDP).
  int TryRun(const Bytes& pkt, int ifindex, size_t meta, RunResult* result, size_t linear = 0,
             uint32_t gso_size = 0);

  CounterValue Counter(uint32_t hook, uint32_t verdict, uint32_t reason);
  // Every counter slot with a non-zero value, summed over CPUs.
  std::map<uint32_t, CounterValue> NonZeroCounters();
  // Drains the event ring buffer.
  std::vector<xvr_drop_event> ConsumeEvents();
  // The rate limiter's state on each possible CPU.
  std::vector<xvr_ratelimit> RateLimitState();

  int MapFd(const char* name) const;
  uint32_t MapMaxEntries(const char* name) const;
  Program program() const { return program_; }
  uint32_t hook() const { return HookOf(program_); }
  const std::string& pin_dir() const { return pin_dir_; }

  TestEndpoint pod_a_, pod_b_, pod_c_;
  VethPair host_loop_;
  VethPair fabric_;  // after CreateFabric()

 private:
  void CleanUp();
  // A veth pair named after the process, the fixture and `tag`, deleted by
  // CleanUp.
  void MakeVeth(const char* tag, VethPair* out);

  ScopedNetns netns_;
  std::vector<std::string> veths_;
  std::string pin_dir_;
  int seq_ = 0;
  bool pinned_cpu_ = false;
  cpu_set_t orig_affinity_{};
  Program program_ = Program::kXdpPod;
  bpf_object* obj_ = nullptr;
  int prog_fd_ = -1;
  std::function<void()> destroy_;
  std::set<uint32_t> maglev_ids_;  // tables put with PutMaglevTable
};

}  // namespace xvr::test

#endif
