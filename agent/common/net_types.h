// Small value types for addresses, parsed and printed in one place.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace xvr {

// IPv4 address; value() is in host byte order, be() in network order.
class Ipv4Addr {
 public:
  constexpr Ipv4Addr() = default;
  constexpr explicit Ipv4Addr(uint32_t host_order) : v_(host_order) {}
  static absl::StatusOr<Ipv4Addr> Parse(absl::string_view s);
  static Ipv4Addr FromBe(uint32_t be);
  uint32_t value() const { return v_; }
  uint32_t be() const;
  std::string ToString() const;
  auto operator<=>(const Ipv4Addr&) const = default;

 private:
  uint32_t v_ = 0;
};

// IPv4 prefix "a.b.c.d/len"; Parse() rejects host bits set.
class Ipv4Prefix {
 public:
  constexpr Ipv4Prefix() = default;
  Ipv4Prefix(Ipv4Addr net, int len) : net_(net), len_(len) {}
  static absl::StatusOr<Ipv4Prefix> Parse(absl::string_view s);
  Ipv4Addr network() const { return net_; }
  int length() const { return len_; }
  uint32_t mask() const { return len_ == 0 ? 0 : ~uint32_t{0} << (32 - len_); }
  uint64_t size() const { return uint64_t{1} << (32 - len_); }
  bool Contains(Ipv4Addr a) const { return (a.value() & mask()) == net_.value(); }
  Ipv4Addr broadcast() const { return Ipv4Addr(net_.value() | ~mask()); }
  std::string ToString() const;
  auto operator<=>(const Ipv4Prefix&) const = default;

 private:
  Ipv4Addr net_;
  int len_ = 0;
};

class MacAddr {
 public:
  constexpr MacAddr() = default;
  explicit MacAddr(const uint8_t* b) { for (int i = 0; i < 6; ++i) b_[i] = b[i]; }
  static absl::StatusOr<MacAddr> Parse(absl::string_view s);
  const std::array<uint8_t, 6>& bytes() const { return b_; }
  std::string ToString() const;
  bool IsZero() const { return b_ == std::array<uint8_t, 6>{}; }
  auto operator<=>(const MacAddr&) const = default;

 private:
  std::array<uint8_t, 6> b_{};
};

}  // namespace xvr
