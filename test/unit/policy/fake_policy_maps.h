// In-memory PolicyMaps that logs every operation in order and can refuse
// one kind of operation.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/policy_maps.h"

namespace xvr::policy::test {

class FakePolicyMaps : public MemoryPolicyMaps {
 public:
  struct Op {
    std::string what;  // "UpdateIdent", "DeletePolicy", ...
    std::string key;
  };
  std::vector<Op> log;
  // Operation to refuse ("UpdatePolicy", ...); "" = none. `fail_times`
  // refusals, then it works again (-1: forever).
  std::string fail_op;
  int fail_times = -1;
  int lists = 0;

  size_t Count(const std::string& prefix) const {
    size_t n = 0;
    for (const Op& o : log) n += o.what.rfind(prefix, 0) == 0;
    return n;
  }
  size_t Writes() const { return Count("Update"); }
  size_t Deletes() const { return Count("Delete"); }

  absl::Status UpdateIdent(Ipv4Addr ip, const xvr_ident& ident) override {
    if (absl::Status s = Check("UpdateIdent"); !s.ok()) return s;
    log.push_back({"UpdateIdent", ip.ToString()});
    return MemoryPolicyMaps::UpdateIdent(ip, ident);
  }
  absl::Status DeleteIdent(Ipv4Addr ip) override {
    if (absl::Status s = Check("DeleteIdent"); !s.ok()) return s;
    log.push_back({"DeleteIdent", ip.ToString()});
    return MemoryPolicyMaps::DeleteIdent(ip);
  }
  absl::StatusOr<std::map<Ipv4Addr, xvr_ident>> ListIdents() const override {
    ++const_cast<FakePolicyMaps*>(this)->lists;
    return MemoryPolicyMaps::ListIdents();
  }
  absl::Status UpdateCidr(const Ipv4Prefix& prefix, uint32_t identity) override {
    if (absl::Status s = Check("UpdateCidr"); !s.ok()) return s;
    log.push_back({"UpdateCidr", prefix.ToString()});
    return MemoryPolicyMaps::UpdateCidr(prefix, identity);
  }
  absl::Status DeleteCidr(const Ipv4Prefix& prefix) override {
    if (absl::Status s = Check("DeleteCidr"); !s.ok()) return s;
    log.push_back({"DeleteCidr", prefix.ToString()});
    return MemoryPolicyMaps::DeleteCidr(prefix);
  }
  absl::Status UpdatePolicy(const PolicyKey& key, const xvr_policy_val& value) override {
    if (absl::Status s = Check("UpdatePolicy"); !s.ok()) return s;
    log.push_back({"UpdatePolicy", KeyString(key)});
    return MemoryPolicyMaps::UpdatePolicy(key, value);
  }
  absl::Status DeletePolicy(const PolicyKey& key) override {
    if (absl::Status s = Check("DeletePolicy"); !s.ok()) return s;
    log.push_back({"DeletePolicy", KeyString(key)});
    return MemoryPolicyMaps::DeletePolicy(key);
  }

  static std::string KeyString(const PolicyKey& k) {
    return absl::StrCat(k.subject, "/", k.dir, "/", k.peer, "/", k.PortString());
  }

 private:
  absl::Status Check(const std::string& op) {
    if (op != fail_op || fail_times == 0) return absl::OkStatus();
    if (fail_times > 0) --fail_times;
    return absl::ResourceExhaustedError(absl::StrCat(op, ": refused by the test"));
  }
};

}  // namespace xvr::policy::test
