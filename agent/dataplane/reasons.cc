#include "agent/dataplane/reasons.h"

#include "xvr/abi.h"

namespace xvr {

const char* HookName(uint32_t hook) {
  switch (hook) {
#define XVR_CASE(name, val, str) \
  case val:                      \
    return str;
    XVR_HOOKS(XVR_CASE)
#undef XVR_CASE
  }
  return "unknown";
}

const char* VerdictName(uint32_t verdict) {
  switch (verdict) {
#define XVR_CASE(name, val, str) \
  case val:                      \
    return str;
    XVR_VERDICTS(XVR_CASE)
#undef XVR_CASE
  }
  return "unknown";
}

const char* ReasonName(uint32_t reason) {
  switch (reason) {
#define XVR_CASE(name, val, str, help) \
  case val:                            \
    return str;
    XVR_REASONS(XVR_CASE)
#undef XVR_CASE
  }
  return "unknown";
}

const char* ReasonHelp(uint32_t reason) {
  switch (reason) {
#define XVR_CASE(name, val, str, help) \
  case val:                            \
    return help;
    XVR_REASONS(XVR_CASE)
#undef XVR_CASE
  }
  return "";
}

const uint32_t* AllReasons(size_t* count) {
  static constexpr uint32_t kAll[] = {
#define XVR_VAL(name, val, str, help) val,
      XVR_REASONS(XVR_VAL)
#undef XVR_VAL
  };
  *count = sizeof(kAll) / sizeof(kAll[0]);
  return kAll;
}

}  // namespace xvr
