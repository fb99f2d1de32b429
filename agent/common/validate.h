// Syntax checks for names that come from configuration or from clients.
#pragma once

#include "absl/strings/string_view.h"

namespace xvr {

// Linux interface name rules (dev_valid_name): 1..15 bytes, not "." or
// "..", no '/', ':' or whitespace.
bool IsValidIfname(absl::string_view name);

// RFC 1123 subdomain as Kubernetes checks node names: <= 253 characters of
// [a-z0-9.-], each dot-separated label starting and ending alphanumeric.
bool IsDns1123Subdomain(absl::string_view name);

// CNI container ID: non-empty, [A-Za-z0-9_.-], at most 256 characters
// (the CNI spec's charset; the bound keeps URLs and state small).
bool IsValidContainerId(absl::string_view id);

}  // namespace xvr
