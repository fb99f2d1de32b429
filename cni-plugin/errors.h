// CNI error codes and the error object printed on stdout (SPEC.md §5 "Error").
//
// Handlers return absl::Status; the CNI code travels with it as a payload so
// context can be added on the way up without losing it. A Status without a
// code is reported as 999 (libcni's ErrInternal, what skel makes of untyped
// errors).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace xvr::cni {

enum class Code : uint32_t {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnv = 4,
  kIo = 5,
  kDecode = 6,
  kInvalidConfig = 7,
  kInvalidNetns = 8,  // libcni's ErrInvalidNetNS
  kTryAgainLater = 11,
  kNotAvailable = 50,  // STATUS only
  // Plugin-defined (100+).
  kAgentError = 100,      // the agent refused the request (answer other than 2xx/503)
  kCheckFailed = 101,     // CHECK found state that ADD created missing or different
  kInterfaceExists = 102, // CNI_IFNAME already exists in CNI_NETNS (ADD)
  kInternal = 999,        // netlink, sysctl, ethtool or other system failure
};

// A Status carrying `code`; `details` is optional extra text for the runtime.
absl::Status CniError(Code code, absl::string_view msg, absl::string_view details = "");

// `st` (not OK) with `code` attached, keeping its canonical code and message.
absl::Status WithCode(absl::Status st, Code code);

// The code carried by `st` (kInternal if none). `st` must not be OK.
Code CodeOf(const absl::Status& st);
std::string DetailsOf(const absl::Status& st);

// `st` with "context: " prepended to its message, keeping code and payloads.
absl::Status WithContext(const absl::Status& st, absl::string_view context);

// {"cniVersion", "code", "msg", "details"} for a non-OK `st`.
nlohmann::json ErrorJson(const absl::Status& st, absl::string_view cni_version);

}  // namespace xvr::cni
