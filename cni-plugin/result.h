// The ADD result (SPEC.md §5 "ADD Success") as one version-neutral model,
// read from a prevResult of any supported version and rendered in the
// version the runtime asked for, with only the fields that version defines:
//
//   0.3.0, 0.3.1, 0.4.0  ips[].version ("4"/"6") is required
//   1.0.0                ips[].version is gone
//   1.1.0                adds interfaces[].mtu/socketPath/pciID and
//                        routes[].mtu/advmss/priority/table/scope
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace xvr::cni {

struct Interface {
  std::string name;
  std::string mac;
  std::string sandbox;  // empty for host interfaces
  uint32_t mtu = 0;     // 0: not reported; 1.1 only
  std::string socket_path;  // 1.1 only
  std::string pci_id;       // 1.1 only
};

struct IpConfig {
  std::string address;  // CIDR
  std::string gateway;  // may be empty
  std::optional<int> interface;  // index into Result::interfaces
};

struct Route {
  std::string dst;  // CIDR
  std::string gw;   // may be empty
  // 1.1 only.
  std::optional<uint32_t> mtu;
  std::optional<uint32_t> advmss;
  std::optional<uint32_t> priority;
  std::optional<uint32_t> table;
  std::optional<int> scope;
};

struct Dns {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;
};

struct Result {
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<Route> routes;
  Dns dns;
};

// `version` must be one of SupportedVersions().
nlohmann::json RenderResult(const Result& r, absl::string_view version);

// Reads a result of any supported version (prevResult). Code 6 on a shape
// that is not a result.
absl::StatusOr<Result> ParseResult(const nlohmann::json& j);

// `base` followed by `add`, with add's interface indexes shifted past
// base's interfaces; base's DNS is kept unless empty.
Result AppendResult(Result base, const Result& add);

}  // namespace xvr::cni
