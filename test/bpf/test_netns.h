// Network namespace and veth helpers for the BPF program tests.
//
// BPF_PROG_RUN resolves xdp_md.ingress_ifindex (and __sk_buff.ifindex) to a
// device of the caller's network namespace, and the device map accepts only
// existing devices, so every test runs in a namespace of its own with real
// veth pairs: nothing of the host's is touched, and what is left behind goes
// when the namespace does.
#ifndef XVR_TEST_BPF_TEST_NETNS_H
#define XVR_TEST_BPF_TEST_NETNS_H

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace xvr::test {

// Moves the calling thread into a new, empty network namespace and back
// (setns to the original) on Leave() or destruction.
class ScopedNetns {
 public:
  ScopedNetns() = default;
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;
  ~ScopedNetns() { Leave(); }

  absl::Status Enter();
  void Leave();
  bool active() const { return orig_fd_ >= 0; }

 private:
  int orig_fd_ = -1;
};

struct VethPair {
  std::string name;       // the "host" end
  std::string peer_name;  // the "pod" end
  int ifindex = 0;
  int peer_ifindex = 0;
};

// Creates a veth pair in the current network namespace (rtnetlink).
absl::StatusOr<VethPair> CreateVethPair(const std::string& name, const std::string& peer_name);

// Deletes a link by name; deleting one end of a veth removes both. NotFound
// if there is no such link.
absl::Status DeleteLink(const std::string& name);

}  // namespace xvr::test

#endif
