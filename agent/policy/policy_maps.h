// The policy maps of the data path behind one interface, so the
// PolicyManager runs on an in-memory map in unit tests (and when the pinned
// maps are missing: the agent then computes policy without enforcing it):
//
//   xvr_ipcache  HASH  __be32 ip → xvr_ident
//   xvr_cidr_id  LPM   xvr_route_key {prefixlen, addr} → __u32 identity
//   xvr_policy   LPM   xvr_policy_key → xvr_policy_val
//
// Keys cross this interface in canonical form (policy keys as PolicyKey,
// prefixes with no host bits), so what is listed compares equal to what the
// compiler produces.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/common/net_types.h"
#include "agent/dataplane/bpf_map.h"
#include "agent/policy/policy_compiler.h"
#include "xvr/abi.h"

namespace xvr::policy {

class PolicyMaps {
 public:
  virtual ~PolicyMaps() = default;

  // xvr_ipcache
  virtual absl::Status UpdateIdent(Ipv4Addr ip, const xvr_ident& ident) = 0;
  virtual absl::Status DeleteIdent(Ipv4Addr ip) = 0;  // missing: not an error
  virtual absl::StatusOr<std::map<Ipv4Addr, xvr_ident>> ListIdents() const = 0;

  // xvr_cidr_id
  virtual absl::Status UpdateCidr(const Ipv4Prefix& prefix, uint32_t identity) = 0;
  virtual absl::Status DeleteCidr(const Ipv4Prefix& prefix) = 0;  // missing: not an error
  virtual absl::StatusOr<std::map<Ipv4Prefix, uint32_t>> ListCidrs() const = 0;

  // xvr_policy
  virtual absl::Status UpdatePolicy(const PolicyKey& key, const xvr_policy_val& value) = 0;
  virtual absl::Status DeletePolicy(const PolicyKey& key) = 0;  // missing: not an error
  virtual absl::StatusOr<std::map<PolicyKey, xvr_policy_val>> ListPolicy() const = 0;
};

// Plain std::maps. Used when the pinned maps cannot be opened (policy is
// then computed and shown, not enforced) and as the base of test fakes.
class MemoryPolicyMaps : public PolicyMaps {
 public:
  absl::Status UpdateIdent(Ipv4Addr ip, const xvr_ident& ident) override;
  absl::Status DeleteIdent(Ipv4Addr ip) override;
  absl::StatusOr<std::map<Ipv4Addr, xvr_ident>> ListIdents() const override;
  absl::Status UpdateCidr(const Ipv4Prefix& prefix, uint32_t identity) override;
  absl::Status DeleteCidr(const Ipv4Prefix& prefix) override;
  absl::StatusOr<std::map<Ipv4Prefix, uint32_t>> ListCidrs() const override;
  absl::Status UpdatePolicy(const PolicyKey& key, const xvr_policy_val& value) override;
  absl::Status DeletePolicy(const PolicyKey& key) override;
  absl::StatusOr<std::map<PolicyKey, xvr_policy_val>> ListPolicy() const override;

  std::map<Ipv4Addr, xvr_ident> ipcache;
  std::map<Ipv4Prefix, uint32_t> cidrs;
  std::map<PolicyKey, xvr_policy_val> policy;
};

// The pinned maps under <bpfRoot>/maps (XVR_MAP_* names). Opening checks
// every key/value size against abi.h. Needs CAP_BPF/CAP_SYS_ADMIN.
class BpfPolicyMaps : public PolicyMaps {
 public:
  static absl::StatusOr<std::unique_ptr<BpfPolicyMaps>> Open(const std::string& maps_dir);

  absl::Status UpdateIdent(Ipv4Addr ip, const xvr_ident& ident) override;
  absl::Status DeleteIdent(Ipv4Addr ip) override;
  absl::StatusOr<std::map<Ipv4Addr, xvr_ident>> ListIdents() const override;
  absl::Status UpdateCidr(const Ipv4Prefix& prefix, uint32_t identity) override;
  absl::Status DeleteCidr(const Ipv4Prefix& prefix) override;
  absl::StatusOr<std::map<Ipv4Prefix, uint32_t>> ListCidrs() const override;
  absl::Status UpdatePolicy(const PolicyKey& key, const xvr_policy_val& value) override;
  absl::Status DeletePolicy(const PolicyKey& key) override;
  absl::StatusOr<std::map<PolicyKey, xvr_policy_val>> ListPolicy() const override;

 private:
  BpfPolicyMaps() = default;
  BpfMap<__be32, xvr_ident> ipcache_;
  BpfMap<xvr_route_key, uint32_t> cidr_;
  BpfMap<xvr_policy_key, xvr_policy_val> policy_;
};

}  // namespace xvr::policy
