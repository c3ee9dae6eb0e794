#include "src/dns/addrinfo.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace warm {
namespace internal {
namespace {

// Adds `address` unless present; a duplicate keeps the lower TTL.
void AddUnique(std::vector<ResolvedAddress>& out, ResolvedAddress address) {
  for (ResolvedAddress& have : out) {
    if (have.address == address.address) {
      have.ttl = std::min(have.ttl, address.ttl);
      return;
    }
  }
  out.push_back(std::move(address));
}

}  // namespace

std::vector<ResolvedAddress> AddressesFromAddrinfo(const ares_addrinfo& result,
                                                   int port) {
  // The answer lasts as long as every record on the way to it.
  int chain_ttl = INT_MAX;
  for (const ares_addrinfo_cname* cname = result.cnames; cname != nullptr;
       cname = cname->next) {
    chain_ttl = std::min(chain_ttl, cname->ttl);
  }
  std::vector<ResolvedAddress> v4, v6;
  for (const ares_addrinfo_node* node = result.nodes; node != nullptr;
       node = node->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    ResolvedAddress resolved;
    resolved.ttl =
        std::chrono::seconds(std::max(0, std::min(node->ai_ttl, chain_ttl)));
    if (node->ai_family == AF_INET && node->ai_addr != nullptr &&
        node->ai_addrlen >= sizeof(sockaddr_in)) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(node->ai_addr);
      if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) == nullptr) {
        continue;
      }
      resolved.address.display = absl::StrCat(text, ":", port);
      resolved.address.grpc_target =
          absl::StrCat("ipv4:", resolved.address.display);
      AddUnique(v4, std::move(resolved));
    } else if (node->ai_family == AF_INET6 && node->ai_addr != nullptr &&
               node->ai_addrlen >= sizeof(sockaddr_in6)) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(node->ai_addr);
      if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)) == nullptr) {
        continue;
      }
      resolved.address.display = absl::StrCat("[", text, "]:", port);
      resolved.address.grpc_target =
          absl::StrCat("ipv6:", resolved.address.display);
      AddUnique(v6, std::move(resolved));
    }
  }
  for (ResolvedAddress& address : v6) v4.push_back(std::move(address));
  return v4;
}

}  // namespace internal
}  // namespace warm
