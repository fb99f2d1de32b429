#include "cni-plugin/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace xvr::cni {
namespace {

constexpr char kCodeUrl[] = "type.xvr.dev/cni.code";
constexpr char kDetailsUrl[] = "type.xvr.dev/cni.details";

absl::StatusCode CanonicalFor(Code code) {
  switch (code) {
    case Code::kTryAgainLater:
    case Code::kNotAvailable:
      return absl::StatusCode::kUnavailable;
    case Code::kInterfaceExists:
      return absl::StatusCode::kAlreadyExists;
    case Code::kCheckFailed:
    case Code::kIncompatibleVersion:
      return absl::StatusCode::kFailedPrecondition;
    case Code::kUnknownContainer:
      return absl::StatusCode::kNotFound;
    case Code::kInternal:
    case Code::kIo:
    case Code::kAgentError:
      return absl::StatusCode::kInternal;
    default:
      return absl::StatusCode::kInvalidArgument;
  }
}

}  // namespace

absl::Status CniError(Code code, absl::string_view msg, absl::string_view details) {
  absl::Status st = WithCode(absl::Status(CanonicalFor(code), msg), code);
  if (!details.empty()) st.SetPayload(kDetailsUrl, absl::Cord(details));
  return st;
}

absl::Status WithCode(absl::Status st, Code code) {
  st.SetPayload(kCodeUrl, absl::Cord(absl::StrCat(static_cast<uint32_t>(code))));
  return st;
}

Code CodeOf(const absl::Status& st) {
  auto p = st.GetPayload(kCodeUrl);
  uint32_t v = 0;
  if (p && absl::SimpleAtoi(std::string(*p), &v)) return static_cast<Code>(v);
  return Code::kInternal;
}

std::string DetailsOf(const absl::Status& st) {
  auto p = st.GetPayload(kDetailsUrl);
  return p ? std::string(*p) : std::string();
}

absl::Status WithContext(const absl::Status& st, absl::string_view context) {
  if (st.ok()) return st;
  absl::Status out(st.code(), absl::StrCat(context, ": ", st.message()));
  st.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

nlohmann::json ErrorJson(const absl::Status& st, absl::string_view cni_version) {
  return nlohmann::json{{"cniVersion", std::string(cni_version)},
                        {"code", static_cast<uint32_t>(CodeOf(st))},
                        {"msg", std::string(st.message())},
                        {"details", DetailsOf(st)}};
}

}  // namespace xvr::cni
