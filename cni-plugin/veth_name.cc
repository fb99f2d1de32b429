#include "cni-plugin/veth_name.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace xvr::cni {
namespace {

constexpr absl::string_view kHostPrefix = "xvr";
constexpr absl::string_view kTempPrefix = "xvp";
constexpr size_t kHexDigits = 12;

std::string Suffix(absl::string_view container_id, absl::string_view ifname) {
  const uint64_t h = Fnv1a64(absl::StrCat(container_id, "/", ifname));
  return absl::StrFormat("%016x", h).substr(0, kHexDigits);
}

}  // namespace

uint64_t Fnv1a64(absl::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string HostVethName(absl::string_view container_id, absl::string_view ifname) {
  return absl::StrCat(kHostPrefix, Suffix(container_id, ifname));
}

std::string TempPeerName(absl::string_view container_id, absl::string_view ifname) {
  return absl::StrCat(kTempPrefix, Suffix(container_id, ifname));
}

bool IsHostVethName(absl::string_view name) {
  if (name.size() != kHostPrefix.size() + kHexDigits || name.substr(0, 3) != kHostPrefix) {
    return false;
  }
  for (char c : name.substr(kHostPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace xvr::cni
