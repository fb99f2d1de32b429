// The CNI attachment key of an endpoint: (containerID, ifname).
#pragma once

#include <compare>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace xvr {

struct AttachmentKey {
  std::string container_id;
  std::string ifname;

  auto operator<=>(const AttachmentKey&) const = default;
  bool operator==(const AttachmentKey&) const = default;

  template <typename H>
  friend H AbslHashValue(H h, const AttachmentKey& k) {
    return H::combine(std::move(h), k.container_id, k.ifname);
  }

  std::string ToString() const { return absl::StrCat(container_id, "/", ifname); }
};

}  // namespace xvr
