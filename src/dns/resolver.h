// DnsResolver: asynchronous A/AAAA resolution with the records' TTLs, for
// dns: targets (the pool re-resolves when the TTL runs out).
//
// The interface exists so that the pool's tests can fake DNS. The real one,
// CreateCaresResolver(), uses c-ares on one process-wide thread, "the DNS
// loop": a poll() loop over the sockets of every live resolver's
// ares_channel and an eventfd for wake-ups, waiting for the nearest c-ares
// timeout, or forever when no query is pending (an idle loop costs nothing).
//
// Who owns what:
//   - The DNS loop thread owns every ares_channel and makes every c-ares call
//     (ares_init_options, ares_getaddrinfo, ares_process_fd, ares_destroy).
//     It starts on first use and, like Worker, lives until the process exits.
//   - Resolve() and the resolver's destructor only post a task to the loop
//     (a mutex-protected queue) and wake it: they never block, and never touch
//     the network or c-ares.
//   - `done` callbacks run on the loop thread, after c-ares has returned (never
//     inside a c-ares call, never inside Resolve(), never under a lock of
//     warm's). They must not block: they delay every other resolver's
//     queries. They may call Resolve() again and may destroy the resolver.
//
// Thread safety: Resolve() may be called from any thread, concurrently. A
// resolver may be destroyed on any thread, including the loop thread inside
// a `done` callback.

#ifndef WARM_SRC_DNS_RESOLVER_H_
#define WARM_SRC_DNS_RESOLVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/common/target.h"

namespace warm {
namespace internal {

// One address of a resolved name.
struct ResolvedAddress {
  // "ipv4:10.0.0.1:443" / "10.0.0.1:443", "ipv6:[fd00::1]:443" /
  // "[fd00::1]:443": the resolved IP with the port given to Resolve().
  Address address;
  // How long the answer may be used: the A/AAAA record's TTL, lowered to the
  // TTL of any CNAME on the way to it. 0 for IP literals and for names
  // answered from the hosts file (no TTL there).
  std::chrono::seconds ttl{0};
};

// The result of one Resolve().
struct DnsAnswer {
  // OK: `addresses` holds at least one address.
  // NotFound: the name does not exist (NXDOMAIN) or has no A or AAAA records;
  //   the message says which and names the host.
  // Unavailable: the server timed out, failed (SERVFAIL), refused the query,
  //   could not be reached, or the resolver was destroyed first; the message
  //   names the host, the c-ares error and the server.
  // InvalidArgument: an empty host, or a port outside 1-65535.
  absl::Status status;
  // IPv4 addresses first, then IPv6, each family in the order of the
  // server's answer; duplicates removed (keeping the lower TTL). c-ares
  // collects each family as its reply arrives, so its own order would vary
  // between resolutions; this one does not.
  std::vector<ResolvedAddress> addresses;
};

// Resolves host names to addresses. See the file comment for threads.
class DnsResolver {
 public:
  virtual ~DnsResolver() = default;

  // Resolves `host` (A and AAAA records) and pairs each address with `port`.
  // `done` runs exactly once, later: never inside Resolve(), never under a
  // lock the caller could hold, on a resolver thread. Destroying the resolver
  // completes its pending queries with Unavailable ("resolver destroyed").
  virtual void Resolve(const std::string& host, int port,
                       std::function<void(DnsAnswer)> done) = 0;
};

// A c-ares resolver asking `server`:
//   - "" : the system's name servers, search domains and hosts file, read
//     from /etc/resolv.conf (and nsswitch.conf) when the resolver is created;
//   - "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT" (port 53 when not given),
//     as in gRPC's dns://SERVER/ authority: only that server is asked, for
//     the name as written (no search domains, no hosts file). c-ares never
//     sends "localhost" to a DNS server (RFC 6761), so it fails there.
// Each query tries the server `tries` times; with one server c-ares doubles
// the wait on every try, so a server that never answers fails a query after
// query_timeout * (2^tries - 1): 6 s with the defaults.
//
// Returns InvalidArgument naming every problem: a server that is not an IP
// address (host names for the server are not supported), a bad port,
// query_timeout not positive or tries < 1.
absl::StatusOr<std::shared_ptr<DnsResolver>> CreateCaresResolver(
    const std::string& server,
    std::chrono::milliseconds query_timeout = std::chrono::seconds(2),
    int tries = 2);

// What the DNS loop is doing, for tests.
struct DnsLoopStats {
  int64_t polls = 0;  // poll() calls so far: constant while idle
  int channels = 0;   // live ares_channels (one per CaresResolver)
  int pending = 0;    // queries started and not yet completed
};
DnsLoopStats GetDnsLoopStatsForTesting();

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_DNS_RESOLVER_H_
