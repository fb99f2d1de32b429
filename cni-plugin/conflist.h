// A network configuration list (SPEC.md §1 "Configuration format"), parsed
// the way libcni (containernetworking/cni libcni/conf.go, v1.1+) loads a
// .conflist: the list's "name" and "cniVersion" are injected into every
// plugin's config, which is then checked by ParseNetConf exactly as if the
// runtime had sent it on stdin.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cni-plugin/conf.h"

namespace xvr::cni {

struct ConfList {
  std::string name;
  // The effective version: "cniVersion", or the highest entry of
  // "cniVersions" this plugin supports when that array is present.
  std::string cni_version;
  std::vector<std::string> cni_versions;  // "cniVersions" as written
  bool disable_check = false;
  bool disable_gc = false;
  std::vector<NetConf> plugins;
};

// Errors are CniError statuses (cni-plugin/errors.h); a plugin's error names
// its index ("plugins[1]: ...").
absl::StatusOr<ConfList> ParseConfList(absl::string_view json);

}  // namespace xvr::cni
