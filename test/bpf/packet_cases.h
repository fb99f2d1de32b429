// The rows of the table-driven program tests (Katran style): an input
// packet, where it enters, and everything the program must do with it.
#ifndef XVR_TEST_BPF_PACKET_CASES_H
#define XVR_TEST_BPF_PACKET_CASES_H

#include <cstdint>
#include <string>
#include <vector>

#include "test/bpf/bpf_fixture.h"
#include "test/bpf/packet_builder.h"

namespace xvr::test {

// Which device the packet arrives on (its ifindex goes into the context).
enum class Ingress {
  kPodA,        // host side of pod A's veth
  kPodB,        // host side of pod B's veth
  kNoEndpoint,  // a real device without an endpoint (pod A's peer)
  kHostLoop,    // host end of the host loopback pair (tc_host_egress)
};

enum class Output {
  kUnchanged,  // data_out == input
  kExact,      // data_out == expected
  kAny,        // not checked (the packet is dropped after a partial rewrite)
};

enum class NodeState { kReady, kMissing, kNotReady };

inline constexpr unsigned kOnXdp = 1u << 0;
inline constexpr unsigned kOnTc = 1u << 1;
inline constexpr unsigned kOnPod = kOnXdp | kOnTc;

struct PacketCase {
  std::string name;  // [A-Za-z0-9_]: becomes the test name
  Bytes input;
  Ingress ingress = Ingress::kPodA;
  uint32_t verdict = XVR_VERDICT_PASS;  // expected action, hook-independent
  uint32_t reason = XVR_R_OK;           // expected counter (hook of the program)
  Output output = Output::kUnchanged;
  Bytes expected;              // for Output::kExact
  unsigned programs = kOnPod;  // for the pod table: which programs
  NodeState node = NodeState::kReady;
  // XDP only: bytes in the linear area, the rest in a fragment (0 = all).
  size_t xdp_linear = 0;
};

// xdp_pod and tc_pod: the same rows, less those a hook cannot express.
std::vector<PacketCase> PodCases();
// tc_host_egress.
std::vector<PacketCase> HostEgressCases();

}  // namespace xvr::test

#endif
