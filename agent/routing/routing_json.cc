#include "agent/routing/routing_json.h"

#include <net/if.h>

#include <string>

namespace xvr {
namespace {

// The interface name in the caller's netns, "" if unknown.
std::string IfName(uint32_t ifindex) {
  char buf[IF_NAMESIZE] = {};
  if (ifindex == 0 || !if_indextoname(ifindex, buf)) return "";
  return buf;
}

}  // namespace

nlohmann::json RouteEntryToJson(const RouteEntry& e) {
  nlohmann::json j;
  j["prefix"] = e.prefix.ToString();
  j["type"] = RouteTypeName(e.type);
  switch (e.type) {
    case XVR_RT_TUNNEL:
      j["tunnel_dst"] = e.tunnel_dst.ToString();
      break;
    case XVR_RT_KERNEL:
      j["nexthop"] = e.nexthop.ToString();
      j["ifindex"] = e.ifindex;
      j["dev"] = IfName(e.ifindex);
      j["metric"] = e.metric;
      j["protocol"] = e.protocol;
      break;
    default:
      break;
  }
  nlohmann::json sources = nlohmann::json::array();
  for (uint32_t t : {XVR_RT_LOCAL, XVR_RT_TUNNEL, XVR_RT_KERNEL}) {
    if (e.sources & (1u << t)) sources.push_back(RouteTypeName(t));
  }
  j["sources"] = std::move(sources);
  j["in_map"] = e.in_map;
  return j;
}

nlohmann::json RoutesToJson(const std::vector<RouteEntry>& entries, const RouteTableStats& s) {
  nlohmann::json routes = nlohmann::json::array();
  for (const RouteEntry& e : entries) routes.push_back(RouteEntryToJson(e));
  return {{"routes", std::move(routes)},
          {"stats",
           {{"prefixes", s.prefixes},
            {"kernel_routes", s.kernel_routes},
            {"tunnel_routes", s.tunnel_routes},
            {"in_map", s.in_map},
            {"map_updates", s.map_updates},
            {"map_deletes", s.map_deletes},
            {"map_errors", s.map_errors},
            {"kernel_resyncs", s.kernel_resyncs}}}};
}

nlohmann::json NeighEntryToJson(const NeighEntry& e) {
  return {{"ip", e.ip.ToString()},    {"mac", e.mac.ToString()},          {"ifindex", e.ifindex},
          {"dev", IfName(e.ifindex)}, {"state", NeighStateName(e.state)}, {"in_map", e.in_map}};
}

nlohmann::json NeighboursToJson(const std::vector<NeighEntry>& entries, const NeighTableStats& s) {
  nlohmann::json neighbours = nlohmann::json::array();
  for (const NeighEntry& e : entries) neighbours.push_back(NeighEntryToJson(e));
  return {{"neighbours", std::move(neighbours)},
          {"stats",
           {{"entries", s.entries},
            {"in_map", s.in_map},
            {"map_updates", s.map_updates},
            {"map_deletes", s.map_deletes},
            {"map_errors", s.map_errors},
            {"resyncs", s.resyncs}}}};
}

}  // namespace xvr
