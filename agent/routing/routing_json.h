// JSON views of the route and neighbour tables, for the agent API and
// `xvrctl routes` / `xvrctl neighbours`.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "agent/routing/neigh_table.h"
#include "agent/routing/route_table.h"

namespace xvr {

// {"prefix":"10.99.0.0/16","type":"kernel","nexthop":"192.168.5.2",
//  "ifindex":3,"dev":"eth0","metric":0,"protocol":3,
//  "sources":["kernel"],"in_map":true}; "tunnel_dst" for tunnel routes.
nlohmann::json RouteEntryToJson(const RouteEntry& e);
nlohmann::json RoutesToJson(const std::vector<RouteEntry>& entries, const RouteTableStats& stats);

// {"ip":"192.168.5.2","mac":"02:…","ifindex":3,"dev":"eth0",
//  "state":"permanent","in_map":true}
nlohmann::json NeighEntryToJson(const NeighEntry& e);
nlohmann::json NeighboursToJson(const std::vector<NeighEntry>& entries,
                                const NeighTableStats& stats);

}  // namespace xvr
