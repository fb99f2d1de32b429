#include "agent/k8s/sources_json.h"

namespace xvr::k8s {

nlohmann::json SourcesToJson(const ClusterState& state, const char* source,
                             const ApiSourceStats* api) {
  nlohmann::json kinds = nlohmann::json::array();
  for (Kind k : kAllKinds) {
    nlohmann::json row = {{"kind", KindName(k)},
                          {"objects", state.Count(k)},
                          {"synced", state.Synced(k)}};
    if (api) {
      const KindStats& s = (*api)[k];
      row["lists"] = s.lists;
      row["relists"] = s.relists;
      row["watches"] = s.watches;
      row["added"] = s.added;
      row["modified"] = s.modified;
      row["deleted"] = s.deleted;
      row["bookmarks"] = s.bookmarks;
      row["gone410"] = s.gone;
      row["badObjects"] = s.bad_objects;
      row["errors"] = s.errors;
      row["resourceVersion"] = s.resource_version;
      row["lastError"] = s.last_error;
    }
    kinds.push_back(std::move(row));
  }
  return {{"source", source}, {"kinds", std::move(kinds)}};
}

}  // namespace xvr::k8s
