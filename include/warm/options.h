// warm/options.h: how a warm channel is configured.
//
// `warm::ChannelOptions`, passed to `warm::CreateChannel()`, and the option
// groups it holds: health checking, outlier ejection, TLS and DNS, and the
// pick policy. `CreateChannel()` validates every field and reports every
// problem at once. Included by warm/channel.h.

#ifndef WARM_OPTIONS_H_
#define WARM_OPTIONS_H_

#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "warm/introspection.h"

namespace warm {

// HealthCheckOptions
//
// Active health checking of every member with the standard
// `grpc.health.v1.Health/Check` RPC, sent on the member's own connection.
// SERVING is a success; NOT_SERVING, any RPC error and a timeout are failures;
// UNIMPLEMENTED means the backend has no health service, and the member is
// treated as healthy (shown as `MemberHealth::kNoHealthService`).
//
// Defaults, and why:
//   interval 5 s, timeout 3 s. warm_channels checks every 9 s with a 7.5 s
//     timeout and marks a member unhealthy after one failure. Checking more
//     often with a shorter timeout but asking for two failures in a row finds
//     a NOT_SERVING backend in ~5-10 s and a hung one in ~11-16 s, about as
//     fast as warm_channels, without evicting a warm connection for a single
//     slow answer. A lost connection takes the member out of the picker at
//     once; its checks then fail without waiting, so it is replaced after
//     about `unhealthy_threshold` intervals.
//   unhealthy_threshold 2, healthy_threshold 2: Envoy's thresholds are
//     explicit, commonly 2-3; two is enough to ride over one lost check. A
//     new member needs only its first success (as in Envoy and
//     warm_channels), so a new member becomes pickable within one round trip.
struct HealthCheckOptions {
  // Check members at all. When false a member is pickable whenever its
  // connection is READY and is never evicted. Default: true.
  bool enabled = true;
  // The service name sent in HealthCheckRequest; "" asks about the whole
  // server. Default: "".
  std::string service;
  // Time from the end of one check of a member to the start of the next.
  // Must be > 0. Default: 5 s.
  std::chrono::milliseconds interval{5000};
  // Deadline of one check. A check waits within it while the member is
  // connecting, and fails at once when the member's connection has failed.
  // Must be > 0. Default: 3 s.
  std::chrono::milliseconds timeout{3000};
  // Consecutive failed checks that make a member unhealthy: it leaves the
  // picker at once and is closed and replaced. Must be >= 1. Default: 2.
  int unhealthy_threshold = 2;
  // Consecutive successful checks that make an unhealthy (or ejected, see
  // OutlierEjectionOptions) member healthy again. A new member needs one.
  // Must be >= 1. Default: 2.
  int healthy_threshold = 2;
};

// OutlierEjectionOptions
//
// Passive outlier ejection: a member whose calls fail `consecutive_failures`
// times in a row (status UNAVAILABLE, plus `failure_codes`) is taken out of
// the picker, its connection kept, for `base_ejection_time` multiplied by the
// number of times it has been ejected, at most `max_ejection_time`. Ejection
// never leaves fewer than `critical_min` pickable members. Defaults are
// Envoy's (5 in a row, 30 s x times ejected, at most 300 s).
struct OutlierEjectionOptions {
  // Default: true.
  bool enabled = true;
  // Failures in a row that eject a member. Must be >= 1. Default: 5.
  int consecutive_failures = 5;
  // Status codes counted as failures besides UNAVAILABLE (which always
  // counts), e.g. DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED. OK never counts.
  // Any other code resets the count. Default: none.
  std::vector<grpc::StatusCode> failure_codes;
  // Must be > 0. Default: 30 s.
  std::chrono::milliseconds base_ejection_time{30000};
  // Must be >= base_ejection_time. Default: 300 s.
  std::chrono::milliseconds max_ejection_time{300000};
  // Whether `healthy_threshold` successful health checks in a row end an
  // ejection early. Default: false: a backend that answers its health checks
  // but fails calls is exactly what ejection is for.
  bool uneject_on_health_check = false;
};

// TlsOptions
//
// TLS, or mutual TLS with a client certificate, for every member connection,
// from PEM files. With `ChannelOptions::tls` set, pass nullptr credentials to
// CreateChannel() (warm builds them); plain grpc::ChannelCredentials passed
// without `tls` work as before.
//
// At creation the files are read and checked with OpenSSL, and every problem
// is reported at once, naming the file and the reason: a file that cannot be
// read or parsed, a key that does not match the certificate
// (InvalidArgument); a certificate expired or not yet valid, or one issued by
// the CA in `ca_file` that does not verify against it (FailedPrecondition).
//
// Rotation: every `reload_interval` warm looks at the files (inode, size,
// modification and change times) and, when one changed, reads and checks
// them again. A good new set is used by every member opened from then on,
// and the existing members are recycled one at a time: a member with the new
// material opens on the same address, and once it passed its health check
// the old member is closed (its calls in flight finish), so the number of
// healthy members never drops; a replacement not healthy within three
// checks' time is closed and tried again later. A bad new set (half-written,
// a mismatched key, a chain missing the intermediate the files in use had,
// expired) leaves the working material in use; once the files stayed that
// way for a whole interval it is reported (event kTlsReloadFailed, metrics),
// once. A certificate not valid yet is tried again every interval and used
// once valid. Replace files atomically (write, then rename) where you can.
// Long-lived streams keep their connection, and so the old certificate, until
// they end.
//
// Key material never appears in errors, events, the diagnostics page or logs;
// the certificate's subject, issuer and expiry do.
struct TlsOptions {
  // PEM root certificates that verify the servers. Empty: gRPC's default
  // roots (on Debian /usr/share/grpc/roots.pem, the bundle shipped with
  // libgrpc, not /etc/ssl: give ca_file for CAs of your own).
  std::string ca_file;
  // The client's certificate (leaf first, then intermediates) and its
  // unencrypted private key, for mutual TLS: both or neither.
  std::string cert_file;
  std::string key_file;
  // The name the servers' certificates must carry when it is not the
  // target's host (e.g. targets by IP address). Empty: the target's host:
  // for DNS targets the DNS name (also sent as :authority), for address
  // lists the IP address.
  std::string server_name_override;
  // How often the files are checked for changes. Rotation tools renew
  // certificates long before they expire (cert-manager at 2/3 of the
  // lifetime, SPIRE at 1/2), so a minute's delay costs nothing, and a check
  // is a stat() of each file. Must be >= 100 ms. Default: 60 s.
  std::chrono::milliseconds reload_interval{60000};
};

// DnsOptions
//
// How DNS targets (dns:///HOST:PORT, dns://SERVER/HOST:PORT, HOST:PORT) are
// resolved. The name is resolved again when its smallest record TTL runs
// out, clamped to [min_refresh, max_refresh], then made up to 10 % earlier
// (so that clients of one name do not refresh in step). After a failure the
// last good addresses stay and the next try backs off: 1 s doubling, at most
// min(60 s, max_refresh), +-20 % jitter.
struct DnsOptions {
  // The lower bound of the time between two resolutions of a name, however
  // short its TTL. Must be > 0. Default: 5 s (as Envoy's
  // dns_min_refresh_rate: records with TTL 0, and names from /etc/hosts,
  // which have none, are not asked for every second).
  std::chrono::milliseconds min_refresh{5000};
  // The upper bound, however long the TTL. Must be >= min_refresh and at
  // most 24 h. Default: 300 s.
  std::chrono::milliseconds max_refresh{300000};
  // Per try of one DNS query; a query is tried twice (c-ares doubles the
  // wait the second time), per DNS server, and with the system's servers per
  // search domain too. Must be > 0 and at most 60 s. Default: 2 s.
  std::chrono::milliseconds query_timeout{2000};
};

// PickPolicy
//
// What "less loaded" means when a call picks between two members.
enum class PickPolicy {
  // Fewer calls in flight (counted until each call's status arrives).
  kInFlight,
  // Lower peak-EWMA latency x (calls in flight + 1), as Finagle's: a member
  // answering slowly is avoided even while it holds few calls. The latency
  // rises at once on a slower call and decays over ~10 s.
  kPeakEwma,
};

// ChannelOptions
//
// Everything that configures one warm channel. Each default is written beside
// its field; `CreateChannel()` validates all fields and reports every problem
// at once.
struct ChannelOptions {
  // Label for this channel in diagnostics and metrics.
  // Default (empty): the target string.
  std::string name;

  // How a call chooses between two random pickable members; see PickPolicy.
  // Default: kInFlight (measured in README: kPeakEwma keeps p99 off a slow
  // backend at high concurrency, where kInFlight sends it ~1-2 % of calls).
  PickPolicy pick = PickPolicy::kInFlight;

  // Member connections kept warm. Members go to distinct addresses first; when
  // the target has fewer addresses than `pool_size`, addresses get more than
  // one member, each its own TCP connection. Must be >= 1. Default: 3.
  int pool_size = 3;

  // gRPC channel arguments applied to every member connection (keepalive,
  // message sizes, user agent, ...). The warm channel adds
  // GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL = 1 so that every member owns its
  // connection; do not set it to 0 here (gRPC takes the first value, and
  // members on one address would share a connection). Default: none.
  grpc::ChannelArguments channel_args;

  // Client interceptors run on every call, in this order, whichever member the
  // call goes to. Entries must not be null. Default: none.
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;

  // Active health checking; see HealthCheckOptions.
  HealthCheckOptions health_check;

  // Below this many healthy members the channel reports itself unhealthy
  // (ChannelStatus::kUnhealthy). Capped at pool_size. Must be >= 0 and
  // >= critical_min. Default: 2 (as warm_channels).
  int healthy_min = 2;
  // Below this many healthy members, after having had that many, the
  // channel is degraded (ChannelStatus::kDegraded). 0 turns degraded mode
  // off. Capped at pool_size. Must be >= 0. Default: 1 (as warm_channels).
  int critical_min = 1;

  // Passive outlier ejection; see OutlierEjectionOptions.
  OutlierEjectionOptions outlier_ejection;

  // TLS or mutual TLS from PEM files, with rotation; see TlsOptions. When
  // set, CreateChannel() takes nullptr credentials. Default: none.
  std::optional<TlsOptions> tls;

  // Called with the new ChannelHealth whenever, after creation, the
  // channel's status, healthy member count or member count changes (at
  // creation the status is kStarting, or kHealthy when healthy_min is 0).
  // Runs on warm's background thread, never under a warm lock, and never
  // after the channel's destructor has returned; must not block. It may call
  // the channel's methods except the blocking ones (WaitForStateChange,
  // WaitForConnected), and may drop the last reference to the channel.
  // Default: none.
  std::function<void(const ChannelHealth&)> on_health_change;

  // How DNS targets are resolved and refreshed; see DnsOptions. Validated
  // for every target, used by DNS targets only.
  DnsOptions dns;

  // Events kept per channel for Channel::Events() and diagnostics. Must be
  // >= 0. Default: 128.
  int event_log_size = 128;

  // Methods with their own per-method metric series (grpc_client_*,
  // warm/prometheus.h), counted per (method, call type) in the order first
  // called. Calls of further methods are counted under grpc_service="other",
  // grpc_method="other" (never dropped; warm_channel_method_overflow_calls_total
  // says how many), so generic calls with arbitrary method names cannot grow
  // the series or memory without bound. 0 counts every call under "other".
  // Must be 0..4096. Default: 100 (a large service has a few dozen methods;
  // each method called costs its channel about 0.5 KB, and 21 series while
  // it has returned one status code, one more per further code; see
  // README, Benchmarks: metrics).
  int metrics_max_methods = 100;
};

}  // namespace warm

#endif  // WARM_OPTIONS_H_
