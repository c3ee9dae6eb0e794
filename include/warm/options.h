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
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "warm/introspection.h"

namespace warm {

// HealthCheckOptions
//
// Active health checking of every member with the standard grpc.health.v1
// protocol, on the member's own connection. By default each member keeps one
// `Health/Watch` stream open (gRFC A17): the server pushes its status when it
// changes, so NOT_SERVING takes the member out of the picker within one
// round trip, and an idle member costs one quiet stream, not a check every
// few seconds. A server that answers Watch with UNIMPLEMENTED is polled with
// `Health/Check` instead; one that answers both with UNIMPLEMENTED has no
// health service, and the member is treated as healthy (shown as
// `MemberHealth::kNoHealthService`).
//
// What counts:
//   - A Watch message is the server's own word: SERVING makes the member
//     healthy, NOT_SERVING (or any other status) unhealthy, at once.
//   - A Watch stream that ends (other than UNIMPLEMENTED), or sends nothing
//     within `timeout` of opening, is a failed check, and the stream is
//     opened again after a backoff (1 s doubling, at most 30 s, then +-20 %
//     jitter; reset by any message).
//   - A polled Check: SERVING succeeds; NOT_SERVING, an error and a timeout
//     fail; `unhealthy_threshold` failures in a row make the member
//     unhealthy, `healthy_threshold` successes healthy again.
//   - Liveness probes (LivenessOptions) count like polled Checks.
// An unhealthy member leaves the picker at once and is closed and replaced.
// A quiet Watch stream says nothing about whether the connection still
// works; that is LivenessOptions' job.
//
// Defaults, and why:
//   timeout 3 s: long enough for a server under load to answer; a member
//     whose connection has failed fails its checks at once instead.
//   interval 5 s, no_traffic_interval 60 s (polling only): a member with
//     calls is polled every 5 s; one without calls since its last check
//     every 60 s, as Envoy's no_traffic_interval, so that idle channels cost
//     almost nothing.
//   unhealthy_threshold 2, healthy_threshold 2: Envoy's thresholds are
//     explicit, commonly 2-3; two is enough to ride over one lost check. A
//     new member needs only its first success (as in Envoy and
//     warm_channels), so a new member becomes pickable within one round trip.
struct HealthCheckOptions {
  // Check members at all. When false a member is pickable whenever its
  // connection is READY and is never evicted for health. Default: true.
  bool enabled = true;
  // The service name sent in HealthCheckRequest; "" asks about the whole
  // server. Default: "".
  std::string service;
  // Use Health/Watch streams where the server has them. False: poll with
  // Health/Check only (one unary call per member per interval). Default:
  // true.
  bool watch = true;
  // Polling: time from the end of one check of a member to the start of the
  // next while the member has had calls since its previous check. Must be
  // > 0. Default: 5 s.
  std::chrono::milliseconds interval{5000};
  // Polling: the same while the member has had no calls since its previous
  // check and has none in flight. Must be >= interval. Default: 60 s.
  std::chrono::milliseconds no_traffic_interval{60000};
  // Deadline of one Check, and the time a new Watch stream has to send its
  // first message. A check waits within it while the member is connecting,
  // and fails at once when the member's connection has failed. Must be > 0.
  // Default: 3 s.
  std::chrono::milliseconds timeout{3000};
  // Consecutive failed checks (polled, probes, or Watch streams that broke)
  // that make a member unhealthy. Must be >= 1. Default: 2.
  int unhealthy_threshold = 2;
  // Consecutive successful checks that make an unhealthy (or ejected, see
  // OutlierEjectionOptions) member healthy again; a SERVING Watch message
  // counts as enough. A new member needs one. Must be >= 1. Default: 2.
  int healthy_threshold = 2;
};

// LivenessOptions
//
// Whether a member's connection still works, apart from what its health
// service says. A partitioned or hung backend (packets dropped, process
// stopped) does not end a Watch stream or close the connection: it just goes
// quiet. warm finds it in two ways:
//   - Stalls, while the channel has calls: a member with unary calls in
//     flight, none of which completed for `stall_timeout`, while calls on
//     other members of the channel complete — or whose call timed out
//     (DEADLINE_EXCEEDED) after it answered nothing for `stall_timeout`,
//     unless every other member is stalled too (this finds a hung backend
//     with a single caller) — is *suspected*: it leaves the
//     picker at once (unless no other member is pickable) and is probed
//     with a Health/Check of deadline `probe_timeout`. Any answer from the
//     server (SERVING, NOT_SERVING, UNIMPLEMENTED) returns it to the picker
//     and counts like a polled Check; a probe that gets no answer (timeout,
//     connection error) counts as a failed check and is repeated until one
//     is answered or the member is unhealthy (then evicted). A suspected
//     member still counts as healthy in ChannelHealth: suspicion lasts a
//     probe's round trip on a live backend, and counting it out would make
//     the channel's status flap with slow calls.
//     Nothing runs for this while the channel has no calls: stalls are
//     noticed by other calls' ends.
//   - HTTP/2 keepalive, while the member's connection has a call open (its
//     Watch stream is one): a ping every `keepalive_time`, and the
//     connection is closed when no answer comes within `keepalive_timeout`;
//     gRPC also sets TCP_USER_TIMEOUT to `keepalive_timeout` on the socket,
//     so unacknowledged data closes it as well. This finds dead connections
//     of idle channels.
// Defaults, and why:
//   stall_timeout 500 ms: a call that would fail at a 1 s deadline is
//     noticed before it does, so P2C stops sending new calls to the member
//     before its stuck calls time out and make it look idle; calls slower
//     than this on a healthy backend cost one probe per stall_timeout.
//   probe_timeout 1 s: a loaded server answers a Check within it.
//   keepalive_time 330 s, keepalive_timeout 20 s: gRPC servers (C++, Go,
//     Java; grpc-js likewise) by default refuse pings more often than every
//     5 minutes on a connection that sends no data and answer with GOAWAY
//     `too_many_pings`; a quiet Watch stream sends no data. 330 s stays
//     clear of that with 10 % to spare. Pings are sent only while a call is
//     open (gRPC's default GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS 0), without
//     limit on pings between data frames (warm sets
//     GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA 0: gRPC's default 2 would stop
//     the pings on a quiet Watch stream). Keepalive arguments in
//     ChannelOptions::channel_args take precedence.
struct LivenessOptions {
  // Suspect stalled members and probe them. Default: true.
  bool stall_detection = true;
  // Must be >= 10 ms. Default: 500 ms.
  std::chrono::milliseconds stall_timeout{500};
  // Must be > 0. Default: 1 s.
  std::chrono::milliseconds probe_timeout{1000};
  // 0: warm sets no keepalive arguments (gRPC's default: no pings). Below
  // 5 min only against servers configured to accept such pings
  // (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS on gRPC C++
  // servers). Must be 0..24 h. Default: 330 s.
  std::chrono::milliseconds keepalive_time{330000};
  // Must be > 0 and at most 24 h. Default: 20 s (gRPC's).
  std::chrono::milliseconds keepalive_timeout{20000};
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
  // rises at once on a slower call and decays over ~10 s. Costs a clock read
  // and two exp() per pick.
  kPeakEwma,
  // Lower (calls in flight + 1) x max(latency, age of the oldest unanswered
  // unary call): the latency is a decaying peak of the member's unary calls
  // (it rises at once on a slower call, falls by 1/8 of the gap on a faster
  // one, and halves every ~0.26 s without calls, so a member that was slow
  // once is soon tried again); DEADLINE_EXCEEDED counts as the deadline,
  // CANCELLED not at all. Streams count only by being in flight. A member
  // that has not answered a unary call yet gets one at a time until it
  // does, and one whose unary calls go unanswered stops getting new ones
  // within milliseconds, long before their deadlines. Integer arithmetic
  // and a coarse clock read: about as cheap as kInFlight.
  kLatency,
};

// PoolSizingOptions
//
// A pool that sizes itself to load. The signal is the channel's calls in
// flight on its pickable members (unary calls and streams: a long-lived
// stream counts for as long as it is open), sampled every 100 ms and
// smoothed (an exponential moving average with time constant `smoothing`):
//   - grow: while the smoothed load per pickable member is above
//     `grow_above` and every wanted member is pickable, one member opens per
//     sample (100 ms), on the least-used address next in the client's
//     subsetting order (SubsettingOptions), up to `max_size` and at most one
//     member per address;
//   - shrink: once the smoothed load has stayed, for a whole `shrink_window`,
//     low enough that one member fewer would carry less than `shrink_below`
//     per member, one member drains and closes per sample (its calls in
//     flight finish), down to `min_size`. A member out of service
//     (ejected, suspected, unhealthy) goes first, else one on the most
//     crowded, then the client's last-ranked, address.
// Why these defaults:
//   grow_above 2, shrink_below 1: members multiplex calls over HTTP/2, so a
//     member carries two calls at once cheaply; beyond that a backend starts
//     queueing this client's calls (Finagle's aperture aims at one call per
//     member for connections that do not multiplex). Because the shrink test
//     is made for the pool one member smaller, any shrink_below <=
//     grow_above cannot undo a grow at steady load; the factor 2 leaves room
//     for noise.
//   smoothing 1 s: a load step is acted on within about a second (from 4 to
//     64 callers the pool starts growing at the first sample). A burst
//     shorter than a sample counts only if a sample catches it, and then at
//     about a tenth of its size (100 ms / smoothing): 64 calls caught once
//     add 6 to the average, enough to grow a pool of 3 by one.
//   shrink_window 15 s: Finagle's smoothing window; connections are not
//     closed and reopened with every lull. After load stops, the pool is at
//     min_size within shrink_window + smoothing x ln(peak smoothed load /
//     (shrink_below x min_size)), plus 100 ms a member (~18 s after 64
//     calls in flight, back to 3 members, with the defaults).
// With min_size == max_size (the default: both pool_size) the pool size is
// fixed and nothing of this runs; a dynamic channel's pool wakes every
// 100 ms (a few microseconds of its worker thread).
struct PoolSizingOptions {
  // The smallest pool. 0: ChannelOptions::pool_size. Must be >= 0.
  // Default: 0.
  int min_size = 0;
  // The largest pool. 0: ChannelOptions::pool_size. Must be >= min_size
  // (after 0 is replaced). The pool starts at pool_size clamped to
  // [min_size, max_size]. Default: 0.
  int max_size = 0;
  // Must be > 0. Default: 2.
  double grow_above = 2.0;
  // Must be > 0 and <= grow_above. Default: 1.
  double shrink_below = 1.0;
  // Must be 100 ms..60 s. Default: 1 s.
  std::chrono::milliseconds smoothing{1000};
  // Must be 0..1 h. Default: 15 s.
  std::chrono::milliseconds shrink_window{15000};
};

// SubsettingOptions
//
// Which of the target's addresses get this channel's members when there are
// more addresses than members, so that a fleet of clients spreads evenly
// over a service's backends. Each channel ranks the addresses; new members
// go to the least-used address, best-ranked first (so a growing pool, see
// PoolSizingOptions, takes the next addresses in its own order), and a
// member on an address ranked below a free one (e.g. after DNS added a
// backend, or a backed-off address recovered) moves there: the new member
// opens first and the old one closes once the new one is healthy.
//   - Deterministic (client_count > 0): the addresses, sorted, form a ring;
//     client `client_index` of `client_count` starts at address
//     floor(client_index x addresses / client_count) and goes round. Across
//     a fleet whose clients have indices 0..client_count-1 and one pool
//     size, connections per backend differ by at most 1, for any numbers of
//     clients and addresses (a window of k addresses starting at evenly
//     spaced points). Chosen over the SRE book's shuffled rounds, which are
//     even only when the addresses divide by the pool size, and whose
//     subsets do not grow in a useful order. An address added or removed
//     shifts the ring: a client may change up to 2 members.
//   - Rendezvous (the default, client_count 0): as gRFC A68, each address
//     ranks by a hash of it and a per-channel seed. Even only on average
//     (connections per backend are about binomial across a fleet) but
//     stable: an address removed changes at most one member of each
//     client, an address added at most one.
// Both spread a fleet only if its clients differ: the same explicit `seed`
// on every client, or client_count 1, gives every client the same subset.
// The ring also needs every client to see the same addresses (a DNS server
// that answers each client with a different part of the records breaks the
// "at most 1").
struct SubsettingOptions {
  // Clients in the fleet that share this target, for deterministic
  // subsetting. 0: rendezvous hashing. Must be 0..1,000,000. Default: 0.
  int client_count = 0;
  // This client's index, 0..client_count-1 (e.g. a StatefulSet ordinal).
  // Must be 0 when client_count is 0. Default: 0.
  int client_index = 0;
  // Rendezvous seed. 0: random per channel (A68); set it to make a
  // channel's ranking repeatable. Ignored by deterministic subsetting.
  // Default: 0.
  uint64_t seed = 0;
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
  // Default: kLatency (measured in README: it keeps p99 and p99.9 off a slow
  // backend from 4 to 64 callers, where kInFlight sends it ~1-2 % of calls
  // at 32 and more, and picks in about the time kInFlight does).
  PickPolicy pick = PickPolicy::kLatency;

  // Member connections kept warm. Members go to distinct addresses first; when
  // the target has fewer addresses than `pool_size`, addresses get more than
  // one member, each its own TCP connection. Must be >= 1. Default: 3.
  int pool_size = 3;

  // A pool size that follows load between a minimum and a maximum; see
  // PoolSizingOptions. Default: fixed at pool_size.
  PoolSizingOptions pool_sizing;

  // Which addresses get members when there are more than members; see
  // SubsettingOptions. Default: rendezvous hashing, random seed.
  SubsettingOptions subsetting;

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

  // Stall detection with probes, and HTTP/2 keepalive; see LivenessOptions.
  LivenessOptions liveness;

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
