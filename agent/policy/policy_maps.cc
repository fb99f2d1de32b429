#include "agent/policy/policy_maps.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"

namespace xvr::policy {
namespace {

xvr_route_key RouteKey(const Ipv4Prefix& p) {
  xvr_route_key k{};
  k.prefixlen = static_cast<uint32_t>(p.length());
  k.addr = Ipv4Addr(p.network().value() & p.mask()).be();
  return k;
}

Ipv4Prefix PrefixOf(const xvr_route_key& k) {
  const int len = static_cast<int>(std::min<uint32_t>(k.prefixlen, 32));
  const Ipv4Prefix p(Ipv4Addr::FromBe(k.addr), len);
  return Ipv4Prefix(Ipv4Addr(p.network().value() & p.mask()), len);
}

}  // namespace

// ---- MemoryPolicyMaps ------------------------------------------------------

absl::Status MemoryPolicyMaps::UpdateIdent(Ipv4Addr ip, const xvr_ident& ident) {
  ipcache[ip] = ident;
  return absl::OkStatus();
}
absl::Status MemoryPolicyMaps::DeleteIdent(Ipv4Addr ip) {
  ipcache.erase(ip);
  return absl::OkStatus();
}
absl::StatusOr<std::map<Ipv4Addr, xvr_ident>> MemoryPolicyMaps::ListIdents() const {
  return ipcache;
}
absl::Status MemoryPolicyMaps::UpdateCidr(const Ipv4Prefix& prefix, uint32_t identity) {
  cidrs[prefix] = identity;
  return absl::OkStatus();
}
absl::Status MemoryPolicyMaps::DeleteCidr(const Ipv4Prefix& prefix) {
  cidrs.erase(prefix);
  return absl::OkStatus();
}
absl::StatusOr<std::map<Ipv4Prefix, uint32_t>> MemoryPolicyMaps::ListCidrs() const { return cidrs; }
absl::Status MemoryPolicyMaps::UpdatePolicy(const PolicyKey& key, const xvr_policy_val& value) {
  policy[key.Canonical()] = value;
  return absl::OkStatus();
}
absl::Status MemoryPolicyMaps::DeletePolicy(const PolicyKey& key) {
  policy.erase(key.Canonical());
  return absl::OkStatus();
}
absl::StatusOr<std::map<PolicyKey, xvr_policy_val>> MemoryPolicyMaps::ListPolicy() const {
  return policy;
}

// ---- BpfPolicyMaps ---------------------------------------------------------

absl::StatusOr<std::unique_ptr<BpfPolicyMaps>> BpfPolicyMaps::Open(const std::string& maps_dir) {
  std::unique_ptr<BpfPolicyMaps> m(new BpfPolicyMaps());
  const std::string dir = maps_dir + "/";
  ASSIGN_OR_RETURN(m->ipcache_, (BpfMap<__be32, xvr_ident>::OpenPinned(dir + XVR_MAP_IPCACHE)));
  ASSIGN_OR_RETURN(m->cidr_, (BpfMap<xvr_route_key, uint32_t>::OpenPinned(dir + XVR_MAP_CIDR_ID)));
  ASSIGN_OR_RETURN(m->policy_,
                   (BpfMap<xvr_policy_key, xvr_policy_val>::OpenPinned(dir + XVR_MAP_POLICY)));
  for (const auto& [fd, name, type] :
       {std::tuple{m->cidr_.fd(), XVR_MAP_CIDR_ID, BPF_MAP_TYPE_LPM_TRIE},
        std::tuple{m->policy_.fd(), XVR_MAP_POLICY, BPF_MAP_TYPE_LPM_TRIE}}) {
    bpf_map_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
      return ErrnoStatus(errno, absl::StrCat("bpf_obj_get_info_by_fd(", name, ")"));
    }
    if (info.type != static_cast<__u32>(type)) {
      return absl::FailedPreconditionError(
          absl::StrCat("map ", dir, name, " has type ", info.type, ", not LPM_TRIE"));
    }
  }
  return m;
}

absl::Status BpfPolicyMaps::UpdateIdent(Ipv4Addr ip, const xvr_ident& ident) {
  return ipcache_.Update(ip.be(), ident);
}

absl::Status BpfPolicyMaps::DeleteIdent(Ipv4Addr ip) { return ipcache_.Erase(ip.be()); }

absl::StatusOr<std::map<Ipv4Addr, xvr_ident>> BpfPolicyMaps::ListIdents() const {
  std::map<Ipv4Addr, xvr_ident> out;
  RETURN_IF_ERROR(
      (ScanMapEntries<__be32, xvr_ident>(ipcache_.fd(), XVR_MAP_IPCACHE, [&](__be32 ip, const xvr_ident& v) {
        out[Ipv4Addr::FromBe(ip)] = v;
      })));
  return out;
}

absl::Status BpfPolicyMaps::UpdateCidr(const Ipv4Prefix& prefix, uint32_t identity) {
  return cidr_.Update(RouteKey(prefix), identity);
}

absl::Status BpfPolicyMaps::DeleteCidr(const Ipv4Prefix& prefix) {
  return cidr_.Erase(RouteKey(prefix));
}

absl::StatusOr<std::map<Ipv4Prefix, uint32_t>> BpfPolicyMaps::ListCidrs() const {
  std::map<Ipv4Prefix, uint32_t> out;
  RETURN_IF_ERROR((ScanMapEntries<xvr_route_key, uint32_t>(
      cidr_.fd(), XVR_MAP_CIDR_ID,
      [&](const xvr_route_key& k, uint32_t v) { out[PrefixOf(k)] = v; })));
  return out;
}

absl::Status BpfPolicyMaps::UpdatePolicy(const PolicyKey& key, const xvr_policy_val& value) {
  return policy_.Update(key.ToBpf(), value);
}

absl::Status BpfPolicyMaps::DeletePolicy(const PolicyKey& key) {
  return policy_.Erase(key.ToBpf());
}

absl::StatusOr<std::map<PolicyKey, xvr_policy_val>> BpfPolicyMaps::ListPolicy() const {
  std::map<PolicyKey, xvr_policy_val> out;
  RETURN_IF_ERROR((ScanMapEntries<xvr_policy_key, xvr_policy_val>(
      policy_.fd(), XVR_MAP_POLICY,
      [&](const xvr_policy_key& k, const xvr_policy_val& v) { out[PolicyKey::FromBpf(k)] = v; })));
  return out;
}

}  // namespace xvr::policy
