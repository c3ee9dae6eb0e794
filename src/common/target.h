// Parsing of warm channel targets into backend addresses.
//
// The grammar follows gRPC's target names (doc/naming.md in gRPC): ipv4:,
// ipv6:, unix:, unix-abstract:, dns: and a bare host:port. Parsing is strict:
// every malformed piece is reported in one InvalidArgument that names it.

#ifndef WARM_SRC_COMMON_TARGET_H_
#define WARM_SRC_COMMON_TARGET_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warm {
namespace internal {

// One backend address.
struct Address {
  // The gRPC target a member channel is created with, e.g.
  // "ipv4:127.0.0.1:50051": a literal address, so gRPC does no resolution.
  std::string grpc_target;
  // How people write it, e.g. "127.0.0.1:50051", "[::1]:50051", "unix:/s".
  std::string display;

  friend bool operator==(const Address& a, const Address& b) {
    return a.grpc_target == b.grpc_target;
  }
};

// A parsed target.
struct Target {
  enum class Kind { kStatic, kDns };
  Kind kind = Kind::kStatic;
  // kStatic: the addresses, duplicates removed, in the order given.
  std::vector<Address> addresses;
  // kDns: the DNS server to ask ("" = the system's), the host and the port.
  std::string dns_server;
  std::string host;
  int port = 0;
};

// Parses a port: decimal digits only, 1..65535. False otherwise.
bool ParsePort(absl::string_view text, int* port);

// Parses `target`. Returns InvalidArgument naming every malformed part.
absl::StatusOr<Target> ParseTarget(absl::string_view target);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_TARGET_H_
