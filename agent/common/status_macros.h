// Error propagation for absl::Status / absl::StatusOr (Envoy's style).
#pragma once

#include <cerrno>
#include <cstring>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

#define XVR_CONCAT_INNER(a, b) a##b
#define XVR_CONCAT(a, b) XVR_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    if (absl::Status _st = (expr); !_st.ok()) {      \
      return _st;                                    \
    }                                                \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(*tmp)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(XVR_CONCAT(_statusor_, __LINE__), lhs, expr)

namespace xvr {

// Turns an errno value (positive or negative, as libbpf returns it) into a
// Status whose message names the call that failed.
inline absl::Status ErrnoStatus(int err, absl::string_view what) {
  if (err < 0) err = -err;
  const std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return absl::NotFoundError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    case EINVAL:
      return absl::InvalidArgumentError(msg);
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case E2BIG:
    case ENOMEM:
      return absl::ResourceExhaustedError(msg);
    case EAGAIN:
    case EBUSY:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace xvr
