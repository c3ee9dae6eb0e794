// AddressesFromAddrinfo(): the step from c-ares's parsed answer (an
// ares_addrinfo, as ares_getaddrinfo() hands it over) to warm's addresses and
// their TTLs. Kept apart from the DNS loop so that it can be tested, and
// fuzzed, on answers parsed from raw bytes (tests/fuzz/dns_answer_fuzzer.cc).
//
// Thread safety: a pure function.

#ifndef WARM_SRC_DNS_ADDRINFO_H_
#define WARM_SRC_DNS_ADDRINFO_H_

#include <ares.h>

#include <vector>

#include "src/dns/resolver.h"

namespace warm {
namespace internal {

// The IPv4 addresses of `result`, then its IPv6 ones, each family in the
// order of the answer, each paired with `port`; duplicates removed, keeping
// the lower TTL. Each TTL is the record's, lowered to that of any CNAME on the
// way to it, and never negative. Nodes of another family, or whose ai_addr is
// missing or too short for the family, are skipped.
std::vector<ResolvedAddress> AddressesFromAddrinfo(const ares_addrinfo& result,
                                                   int port);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_DNS_ADDRINFO_H_
