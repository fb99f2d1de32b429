// Names for the hook, verdict and reason enums of abi.h, generated from the
// same X-macros so metrics, API and CLI can never disagree with the kernel.
#pragma once

#include <cstdint>
#include <string>

namespace xvr {

const char* HookName(uint32_t hook);
const char* VerdictName(uint32_t verdict);
const char* ReasonName(uint32_t reason);
const char* ReasonHelp(uint32_t reason);
// Every defined reason value, in order.
const uint32_t* AllReasons(size_t* count);

}  // namespace xvr
