#include "cni-plugin/result.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "cni-plugin/errors.h"
#include "cni-plugin/version.h"

namespace xvr::cni {
namespace {

using nlohmann::json;

void PutIf(json& o, const char* key, const std::string& v) {
  if (!v.empty()) o[key] = v;
}

template <typename T>
void PutIf(json& o, const char* key, const std::optional<T>& v) {
  if (v) o[key] = *v;
}

void PutIf(json& o, const char* key, const std::vector<std::string>& v) {
  if (!v.empty()) o[key] = v;
}

absl::Status Decode(absl::string_view what) {
  return CniError(Code::kDecode, absl::StrCat("prevResult: ", what));
}

// Reads member `key` of `o` into `dst` if present and not null.
template <typename T>
absl::Status Get(const json& o, const char* key, absl::string_view path, T* dst) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return absl::OkStatus();
  try {
    *dst = it->get<T>();
  } catch (const json::exception&) {
    return Decode(absl::StrCat(path, ".", key, " has the wrong type (", it->type_name(), ")"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status GetOpt(const json& o, const char* key, absl::string_view path,
                    std::optional<T>* dst) {
  if (auto it = o.find(key); it == o.end() || it->is_null()) return absl::OkStatus();
  T v{};
  RETURN_IF_ERROR(Get(o, key, path, &v));
  *dst = v;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<json>> Array(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::vector<json>{};
  if (!it->is_array()) return Decode(absl::StrCat(key, " must be an array"));
  std::vector<json> out;
  for (const json& e : *it) {
    if (!e.is_object()) return Decode(absl::StrCat(key, "[] entries must be objects"));
    out.push_back(e);
  }
  return out;
}

}  // namespace

json RenderResult(const Result& r, absl::string_view version) {
  const bool v1 = CompareVersions(version, "1.0.0") >= 0;
  const bool v11 = CompareVersions(version, "1.1.0") >= 0;
  json out = {{"cniVersion", std::string(version)}};

  if (!r.interfaces.empty()) {
    json list = json::array();
    for (const Interface& i : r.interfaces) {
      json o = {{"name", i.name}};
      PutIf(o, "mac", i.mac);
      if (v11 && i.mtu != 0) o["mtu"] = i.mtu;
      PutIf(o, "sandbox", i.sandbox);
      if (v11) {
        PutIf(o, "socketPath", i.socket_path);
        PutIf(o, "pciID", i.pci_id);
      }
      list.push_back(std::move(o));
    }
    out["interfaces"] = std::move(list);
  }

  if (!r.ips.empty()) {
    json list = json::array();
    for (const IpConfig& ip : r.ips) {
      json o = {{"address", ip.address}};
      if (!v1) o["version"] = absl::StrContains(ip.address, ':') ? "6" : "4";
      PutIf(o, "gateway", ip.gateway);
      PutIf(o, "interface", ip.interface);
      list.push_back(std::move(o));
    }
    out["ips"] = std::move(list);
  }

  if (!r.routes.empty()) {
    json list = json::array();
    for (const Route& rt : r.routes) {
      json o = {{"dst", rt.dst}};
      PutIf(o, "gw", rt.gw);
      if (v11) {
        PutIf(o, "mtu", rt.mtu);
        PutIf(o, "advmss", rt.advmss);
        PutIf(o, "priority", rt.priority);
        PutIf(o, "table", rt.table);
        PutIf(o, "scope", rt.scope);
      }
      list.push_back(std::move(o));
    }
    out["routes"] = std::move(list);
  }

  // Go's encoding/json never omits a struct, so the reference plugins always
  // print "dns": {}; do the same.
  json dns = json::object();
  PutIf(dns, "nameservers", r.dns.nameservers);
  PutIf(dns, "domain", r.dns.domain);
  PutIf(dns, "search", r.dns.search);
  PutIf(dns, "options", r.dns.options);
  out["dns"] = std::move(dns);
  return out;
}

absl::StatusOr<Result> ParseResult(const json& j) {
  if (!j.is_object()) return Decode("must be an object");
  Result r;
  ASSIGN_OR_RETURN(std::vector<json> ifaces, Array(j, "interfaces"));
  for (const json& o : ifaces) {
    Interface i;
    RETURN_IF_ERROR(Get(o, "name", "interfaces[]", &i.name));
    RETURN_IF_ERROR(Get(o, "mac", "interfaces[]", &i.mac));
    RETURN_IF_ERROR(Get(o, "sandbox", "interfaces[]", &i.sandbox));
    RETURN_IF_ERROR(Get(o, "mtu", "interfaces[]", &i.mtu));
    RETURN_IF_ERROR(Get(o, "socketPath", "interfaces[]", &i.socket_path));
    RETURN_IF_ERROR(Get(o, "pciID", "interfaces[]", &i.pci_id));
    r.interfaces.push_back(std::move(i));
  }
  ASSIGN_OR_RETURN(std::vector<json> ips, Array(j, "ips"));
  for (const json& o : ips) {
    IpConfig ip;
    RETURN_IF_ERROR(Get(o, "address", "ips[]", &ip.address));
    if (ip.address.empty()) return Decode("ips[].address is required");
    RETURN_IF_ERROR(Get(o, "gateway", "ips[]", &ip.gateway));
    RETURN_IF_ERROR(GetOpt(o, "interface", "ips[]", &ip.interface));
    r.ips.push_back(std::move(ip));
  }
  ASSIGN_OR_RETURN(std::vector<json> routes, Array(j, "routes"));
  for (const json& o : routes) {
    Route rt;
    RETURN_IF_ERROR(Get(o, "dst", "routes[]", &rt.dst));
    if (rt.dst.empty()) return Decode("routes[].dst is required");
    RETURN_IF_ERROR(Get(o, "gw", "routes[]", &rt.gw));
    RETURN_IF_ERROR(GetOpt(o, "mtu", "routes[]", &rt.mtu));
    RETURN_IF_ERROR(GetOpt(o, "advmss", "routes[]", &rt.advmss));
    RETURN_IF_ERROR(GetOpt(o, "priority", "routes[]", &rt.priority));
    RETURN_IF_ERROR(GetOpt(o, "table", "routes[]", &rt.table));
    RETURN_IF_ERROR(GetOpt(o, "scope", "routes[]", &rt.scope));
    r.routes.push_back(std::move(rt));
  }
  if (auto dns = j.find("dns"); dns != j.end() && !dns->is_null()) {
    if (!dns->is_object()) return Decode("dns must be an object");
    RETURN_IF_ERROR(Get(*dns, "nameservers", "dns", &r.dns.nameservers));
    RETURN_IF_ERROR(Get(*dns, "domain", "dns", &r.dns.domain));
    RETURN_IF_ERROR(Get(*dns, "search", "dns", &r.dns.search));
    RETURN_IF_ERROR(Get(*dns, "options", "dns", &r.dns.options));
  }
  return r;
}

Result AppendResult(Result base, const Result& add) {
  const int shift = static_cast<int>(base.interfaces.size());
  base.interfaces.insert(base.interfaces.end(), add.interfaces.begin(), add.interfaces.end());
  for (IpConfig ip : add.ips) {
    if (ip.interface) *ip.interface += shift;
    base.ips.push_back(std::move(ip));
  }
  base.routes.insert(base.routes.end(), add.routes.begin(), add.routes.end());
  if (base.dns.nameservers.empty() && base.dns.domain.empty() && base.dns.search.empty() &&
      base.dns.options.empty()) {
    base.dns = add.dns;
  }
  return base;
}

}  // namespace xvr::cni
