#include "agent/common/net_types.h"

#include <arpa/inet.h>

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace xvr {

absl::StatusOr<Ipv4Addr> Ipv4Addr::Parse(absl::string_view s) {
  in_addr a{};
  const std::string str(s);
  if (inet_pton(AF_INET, str.c_str(), &a) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("invalid IPv4 address \"", s, "\""));
  }
  return FromBe(a.s_addr);
}

Ipv4Addr Ipv4Addr::FromBe(uint32_t be) { return Ipv4Addr(ntohl(be)); }

uint32_t Ipv4Addr::be() const { return htonl(v_); }

std::string Ipv4Addr::ToString() const {
  return absl::StrFormat("%u.%u.%u.%u", v_ >> 24, (v_ >> 16) & 0xff, (v_ >> 8) & 0xff, v_ & 0xff);
}

absl::StatusOr<Ipv4Prefix> Ipv4Prefix::Parse(absl::string_view s) {
  const size_t slash = s.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("invalid IPv4 prefix \"", s, "\": missing /length"));
  }
  auto addr = Ipv4Addr::Parse(s.substr(0, slash));
  if (!addr.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid IPv4 prefix \"", s, "\""));
  }
  int len = -1;
  if (!absl::SimpleAtoi(s.substr(slash + 1), &len) || len < 0 || len > 32) {
    return absl::InvalidArgumentError(absl::StrCat("invalid IPv4 prefix length in \"", s, "\""));
  }
  Ipv4Prefix p(*addr, len);
  if ((addr->value() & p.mask()) != addr->value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("IPv4 prefix \"", s, "\" has host bits set"));
  }
  return p;
}

std::string Ipv4Prefix::ToString() const { return absl::StrCat(net_.ToString(), "/", len_); }

absl::StatusOr<MacAddr> MacAddr::Parse(absl::string_view s) {
  std::vector<absl::string_view> parts = absl::StrSplit(s, ':');
  if (parts.size() != 6) {
    return absl::InvalidArgumentError(absl::StrCat("invalid MAC address \"", s, "\""));
  }
  uint8_t b[6];
  for (int i = 0; i < 6; ++i) {
    int v = 0;
    if (parts[i].size() != 2 || !absl::SimpleHexAtoi(parts[i], &v)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid MAC address \"", s, "\""));
    }
    b[i] = static_cast<uint8_t>(v);
  }
  return MacAddr(b);
}

std::string MacAddr::ToString() const {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", b_[0], b_[1], b_[2], b_[3], b_[4], b_[5]);
}

}  // namespace xvr
