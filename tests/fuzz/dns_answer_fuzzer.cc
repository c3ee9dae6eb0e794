// Fuzzes the path from a DNS server's answer bytes to warm's addresses: c-ares
// parses the raw message (ares_parse_a_reply / ares_parse_aaaa_reply, which
// in c-ares 1.18 run the same parser, ares__parse_into_addrinfo, as the
// ares_getaddrinfo() warm's resolver calls), then warm's own step,
// AddressesFromAddrinfo(), turns the records into addresses and TTLs.
//
// The resolver's socket loop is not fuzzed: it only moves bytes. What comes
// out must be usable as is:
//   - every address is a gRPC target that ParseTarget() reads back as itself;
//   - each address's TTL is exactly what AddressesFromAddrinfo() promises:
//     the lowest TTL of that address's records, lowered to the lowest TTL of
//     the CNAME chain, and never negative (a record's TTL is 32 bits unsigned
//     on the wire and an int in c-ares);
//   - every record's address is in the result; IPv4 comes before IPv6, with
//     no duplicate.
//
// Input: a byte N (N % 4 CNAMEs), N % 4 big-endian 32-bit CNAME TTLs (the
// chain ares_getaddrinfo() reports in ares_addrinfo::cnames), then one DNS
// message, parsed both as an A and as an AAAA answer (a server may put either
// in either); the nodes of both go into one ares_addrinfo, as
// ares_getaddrinfo() would build it.

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/common/target.h"
#include "src/dns/addrinfo.h"

namespace {

// More records than a UDP answer holds, so that c-ares never truncates.
constexpr int kMaxRecords = 128;

void Check(bool condition, const char* what, const std::string& detail) {
  if (condition) return;
  std::fprintf(stderr, "dns_answer_fuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t cname_count = data[0] % 4;
  if (size < 1 + 4 * cname_count) return 0;
  std::vector<ares_addrinfo_cname> cnames(cname_count);
  int chain_ttl = INT_MAX;
  for (size_t i = 0; i < cname_count; ++i) {
    const uint8_t* b = data + 1 + 4 * i;
    const uint32_t wire = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) |
                          (uint32_t{b[2]} << 8) | uint32_t{b[3]};
    cnames[i] = {};
    cnames[i].ttl = static_cast<int>(wire);  // c-ares: an int, maybe < 0
    if (i + 1 < cname_count) cnames[i].next = &cnames[i + 1];
    chain_ttl = std::min(chain_ttl, cnames[i].ttl);
  }
  data += 1 + 4 * cname_count;
  size -= 1 + 4 * cname_count;
  if (size > 65535) return 0;  // a DNS message's length is 16 bits
  const int length = static_cast<int>(size);

  ares_addrttl v4[kMaxRecords];
  int v4_count = kMaxRecords;
  hostent* host = nullptr;
  if (ares_parse_a_reply(data, length, &host, v4, &v4_count) != ARES_SUCCESS) {
    v4_count = 0;
  }
  if (host != nullptr) ares_free_hostent(host);
  ares_addr6ttl v6[kMaxRecords];
  int v6_count = kMaxRecords;
  host = nullptr;
  if (ares_parse_aaaa_reply(data, length, &host, v6, &v6_count) !=
      ARES_SUCCESS) {
    v6_count = 0;
  }
  if (host != nullptr) ares_free_hostent(host);
  Check(v4_count >= 0 && v4_count <= kMaxRecords && v6_count >= 0 &&
            v6_count <= kMaxRecords,
        "c-ares record count out of range", absl::StrCat(v4_count, v6_count));

  // The ares_addrinfo ares_getaddrinfo() would hand over, with the sockaddr
  // sizes c-ares gives each family.
  std::vector<sockaddr_in> in4(v4_count);
  std::vector<sockaddr_in6> in6(v6_count);
  std::vector<ares_addrinfo_node> nodes(v4_count + v6_count);
  for (int i = 0; i < v4_count; ++i) {
    in4[i] = {};
    in4[i].sin_family = AF_INET;
    std::memcpy(&in4[i].sin_addr, &v4[i].ipaddr, sizeof(in4[i].sin_addr));
    nodes[i] = {};
    nodes[i].ai_family = AF_INET;
    nodes[i].ai_ttl = v4[i].ttl;
    nodes[i].ai_addrlen = sizeof(sockaddr_in);
    nodes[i].ai_addr = reinterpret_cast<sockaddr*>(&in4[i]);
  }
  for (int i = 0; i < v6_count; ++i) {
    in6[i] = {};
    in6[i].sin6_family = AF_INET6;
    std::memcpy(&in6[i].sin6_addr, &v6[i].ip6addr, sizeof(in6[i].sin6_addr));
    ares_addrinfo_node& node = nodes[v4_count + i];
    node = {};
    node.ai_family = AF_INET6;
    node.ai_ttl = v6[i].ttl;
    node.ai_addrlen = sizeof(sockaddr_in6);
    node.ai_addr = reinterpret_cast<sockaddr*>(&in6[i]);
  }
  for (size_t i = 0; i + 1 < nodes.size(); ++i) {
    nodes[i].ai_next = &nodes[i + 1];
  }
  ares_addrinfo info = {};
  info.nodes = nodes.empty() ? nullptr : &nodes[0];
  info.cnames = cnames.empty() ? nullptr : &cnames[0];

  const int port = 1 + static_cast<int>(size % 65535);
  const std::vector<warm::internal::ResolvedAddress> addresses =
      warm::internal::AddressesFromAddrinfo(info, port);

  // The expected TTL of each address (as its gRPC target), from the nodes
  // alone: the lowest of its records', then capped by the chain, at least 0.
  std::map<std::string, int> expected_ttl;
  for (const ares_addrinfo_node& node : nodes) {
    char text[INET6_ADDRSTRLEN] = {};
    std::string target;
    if (node.ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(node.ai_addr);
      Check(inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) != nullptr,
            "inet_ntop", "AF_INET");
      target = absl::StrCat("ipv4:", text, ":", port);
    } else {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(node.ai_addr);
      Check(inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)) != nullptr,
            "inet_ntop", "AF_INET6");
      target = absl::StrCat("ipv6:[", text, "]:", port);
    }
    const auto [it, added] = expected_ttl.emplace(target, node.ai_ttl);
    if (!added) it->second = std::min(it->second, node.ai_ttl);
  }
  for (auto& [target, ttl] : expected_ttl) {
    ttl = std::max(0, std::min(ttl, chain_ttl));
  }
  Check(addresses.size() == expected_ttl.size(),
        "not one address per distinct record address",
        absl::StrCat(addresses.size(), " vs ", expected_ttl.size()));

  Check(addresses.size() <= nodes.size(), "more addresses than records",
        absl::StrCat(addresses.size()));
  Check(nodes.empty() == addresses.empty(), "records but no address",
        absl::StrCat(nodes.size()));
  bool seen_v6 = false;
  for (size_t i = 0; i < addresses.size(); ++i) {
    const warm::internal::ResolvedAddress& a = addresses[i];
    Check(a.ttl.count() >= 0, "negative TTL", a.address.grpc_target);
    const bool is_v6 = absl::StartsWith(a.address.grpc_target, "ipv6:");
    Check(is_v6 || absl::StartsWith(a.address.grpc_target, "ipv4:"),
          "not an ipv4: or ipv6: target", a.address.grpc_target);
    Check(!(seen_v6 && !is_v6), "IPv4 after IPv6", a.address.grpc_target);
    seen_v6 = seen_v6 || is_v6;
    for (size_t j = 0; j < i; ++j) {
      Check(!(addresses[j].address == a.address), "duplicate address",
            a.address.grpc_target);
    }
    absl::StatusOr<warm::internal::Target> again =
        warm::internal::ParseTarget(a.address.grpc_target);
    Check(again.ok() && again->addresses.size() == 1 &&
              again->addresses[0].grpc_target == a.address.grpc_target &&
              again->addresses[0].display == a.address.display,
          "address does not parse back", a.address.grpc_target);
    const auto expected = expected_ttl.find(a.address.grpc_target);
    Check(expected != expected_ttl.end(), "address of no record",
          a.address.grpc_target);
    Check(a.ttl.count() <= std::max(0, chain_ttl), "TTL above the CNAMEs'",
          absl::StrCat(a.address.grpc_target, " ttl ", a.ttl.count(), " chain ",
                       chain_ttl));
    Check(a.ttl.count() == expected->second,
          "TTL is not the lowest of its records and CNAMEs",
          absl::StrCat(a.address.grpc_target, " ttl ", a.ttl.count(),
                       " expected ", expected->second));
  }
  return 0;
}
