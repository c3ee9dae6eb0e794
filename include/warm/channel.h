// warm/channel.h: always-warm, load-balanced gRPC client channels.
//
// A `warm::Channel` is a `grpc::ChannelInterface`: hand it to any generated
// stub instead of the channel `grpc::CreateChannel()` returns, and sync, async
// (completion queue), callback and streaming calls work unchanged.
//
// Behind it a pool of member connections is opened at creation and kept
// connected, each member its own TCP connection to one backend address
// (distinct addresses first). Every call goes to the less loaded of two
// distinct, randomly chosen READY members ("power of two choices"), where load
// is the number of calls in flight on a member, counted from call creation
// until the call's status arrives or the call is destroyed.
//
// Glossary:
//   member   one gRPC channel to one backend address, with its own connection
//   pool     the set of members a warm channel keeps open (`pool_size`)
//   picker   an immutable snapshot of the members a call may go to; replaced
//            (never changed) when a member's state changes
//   in flight  calls created on a member whose status has not yet arrived
//
// Example:
//
//   warm::ChannelOptions options;
//   options.name = "greeter";
//   options.pool_size = 3;
//   absl::StatusOr<std::shared_ptr<warm::Channel>> channel =
//       warm::CreateChannel("ipv4:10.0.0.1:50051,10.0.0.2:50051",
//                           grpc::InsecureChannelCredentials(),
//                           std::move(options));
//   if (!channel.ok()) return channel.status();
//   auto stub = helloworld::Greeter::NewStub(*channel);

#ifndef WARM_CHANNEL_H_
#define WARM_CHANNEL_H_

#include <grpc/grpc.h>
#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_interceptor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warm {

namespace internal {
class Pool;
}  // namespace internal

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

// ChannelHealth
//
// How well a warm channel is served, as reported to
// `ChannelOptions::on_health_change` and by `Channel::Health()`.
enum class ChannelStatus {
  // Since creation fewer than `healthy_min` members have ever been healthy at
  // once, and none has yet failed its health checks.
  kStarting,
  // At least `healthy_min` members are healthy.
  kHealthy,
  // Fewer than `healthy_min` members are healthy.
  kUnhealthy,
  // Fewer than `critical_min` members are healthy after at least
  // `critical_min` were: connected but unhealthy members take calls, and
  // unhealthy members are not evicted unless their connection has failed,
  // until `critical_min` are healthy again.
  kDegraded,
};
absl::string_view ChannelStatusName(ChannelStatus status);

struct ChannelHealth {
  ChannelStatus status = ChannelStatus::kStarting;
  int healthy_members = 0;
  int members = 0;
  // The effective minimums (ChannelOptions values capped at pool_size).
  int healthy_min = 0;
  int critical_min = 0;
};

// PoolEvent
//
// One thing a channel's pool did, kept in a per-channel log of the last
// `ChannelOptions::event_log_size` events and passed to the log sink.
struct PoolEvent {
  enum class Kind {
    kMemberOpened,
    kMemberHealthy,
    kMemberUnhealthy,
    kMemberEvicted,     // closed: unhealthy, or retired by rebalancing
    kMemberEjected,     // outlier ejection started
    kMemberReturned,    // outlier ejection ended
    kEjectionSkipped,   // would have left fewer than critical_min pickable
    kAddressBackoff,    // an address waits before it gets a member again
    kAddressesChanged,  // the DNS answer changed: "+added -removed"
    kDnsFailed,         // a resolution failed; the last good answer stays
    kDegradedEntered,
    kDegradedLeft,
    kStatusChanged,    // ChannelStatus changed
    kTlsReloaded,      // new TLS files in use; members being recycled
    kTlsReloadFailed,  // changed TLS files are bad; the old ones stay
  };
  std::chrono::system_clock::time_point time;
  Kind kind = Kind::kMemberOpened;
  uint64_t member_id = 0;  // 0 when the event is not about one member
  std::string address;     // "" when not about one address
  std::string detail;      // human-readable, e.g. "2 checks failed: ..."
};
absl::string_view PoolEventKindName(PoolEvent::Kind kind);

// Logging
//
// Every PoolEvent of every channel is also passed to one process-wide sink as
// a line "warm channel NAME: ...". Events that mean trouble (unhealthy,
// evicted for health, ejected, degraded, status worse) are kWarning, the rest
// kInfo. The default sink writes kWarning lines to stderr and drops kInfo.
// The sink runs on warm's background thread (for the events of creating a
// channel: on the creating thread), never under a warm lock, and must not
// block.
enum class LogSeverity { kInfo, kWarning };
using LogSink = std::function<void(LogSeverity, absl::string_view line)>;
// Replaces the sink; nullptr restores the default. Thread-safe.
void SetLogSink(LogSink sink);

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

  // DNS targets (dns:///HOST:PORT, dns://SERVER/HOST:PORT, HOST:PORT): the
  // name is resolved again when its smallest record TTL runs out, clamped to
  // [dns_min_refresh, dns_max_refresh], then made up to 10 % earlier (so
  // that clients of one name do not refresh in step). After a failure the
  // last good addresses stay and the next try backs off: 1 s doubling, at
  // most min(60 s, dns_max_refresh), +-20 % jitter.
  // Defaults: 5 s (as Envoy's dns_min_refresh_rate: records with TTL 0, and
  // names from /etc/hosts, which have none, are not asked for every second)
  // and 300 s. min > 0, min <= max <= 24 h.
  std::chrono::milliseconds dns_min_refresh{5000};
  std::chrono::milliseconds dns_max_refresh{300000};
  // Per try of one DNS query; a query is tried twice (c-ares doubles the
  // wait the second time), per DNS server, and with the system's servers per
  // search domain too. Must be > 0 and at most 60 s. Default: 2 s.
  std::chrono::milliseconds dns_query_timeout{2000};

  // Events kept per channel for Channel::Events() and diagnostics. Must be
  // >= 0. Default: 128.
  int event_log_size = 128;
};

// MemberHealth
//
// A member's health as seen by active health checking.
enum class MemberHealth {
  kUnknown,          // not checked yet: not pickable while checking is on
  kHealthy,          // passed its checks (SERVING)
  kUnhealthy,        // failed unhealthy_threshold checks in a row
  kNoHealthService,  // the backend answered UNIMPLEMENTED: treated healthy
  kNotChecked,       // health checking is off: healthy while READY
};
absl::string_view MemberHealthName(MemberHealth health);

// MemberInfo
//
// A read-only view of one member at the time `Channel::Members()` was called.
struct MemberInfo {
  // Identifies the member within its channel; never reused by that channel.
  uint64_t id = 0;
  // The backend address, e.g. "127.0.0.1:50051", "[::1]:50051", "unix:/s".
  std::string address;
  // The member connection's connectivity state.
  grpc_connectivity_state state = GRPC_CHANNEL_IDLE;
  // Whether new calls may be sent to this member now.
  bool pickable = false;
  // Calls created on this member whose status has not arrived yet.
  int64_t in_flight = 0;
  // Calls created on this member since it was opened.
  uint64_t calls_started = 0;
  // Calls finished on this member, by status code (index = grpc::StatusCode,
  // 0..16). A call destroyed before its status arrived counts as CANCELLED.
  std::vector<uint64_t> calls_finished_by_code;
  // When the member was opened.
  std::chrono::system_clock::time_point opened_at;

  // Health as seen by active health checks (HealthCheckOptions).
  MemberHealth health = MemberHealth::kUnknown;
  // The last check's outcome, e.g. "SERVING", "NOT_SERVING",
  // "DEADLINE_EXCEEDED: ...", and when it completed ("" and epoch before the
  // first check).
  std::string last_check;
  std::chrono::system_clock::time_point last_check_at;
  // Latency of this member's calls whose status arrived, from call creation
  // to status: a moving average weighted towards recent calls (weight 1/8
  // per call; -1 before the first call), and percentiles since the member
  // opened, estimated from a histogram (the upper bound of the bucket the
  // percentile falls in; buckets 0.5, 1, 2.5, 5, 10, 25 ... 10000 ms).
  std::chrono::microseconds latency_ewma{-1};
  std::chrono::microseconds latency_p50{0};
  std::chrono::microseconds latency_p99{0};
  // Calls per latency bucket (bounds in `latency_bucket_bounds`, the last
  // bucket above them all), for histograms.
  std::vector<uint64_t> latency_buckets;
  std::vector<std::chrono::microseconds> latency_bucket_bounds;

  // Outlier ejection: whether ejected now, until when, and how many times.
  bool ejected = false;
  std::chrono::system_clock::time_point ejected_until;
  int times_ejected = 0;
};

// ResolutionInfo
//
// Where a channel's addresses come from, at the time Channel::Resolution()
// was called.
struct ResolvedAddressInfo {
  std::string address;  // "10.0.0.1:443", "[fd00::1]:443"
  // DNS only: the record's TTL and when it runs out.
  std::chrono::seconds ttl{0};
  std::chrono::system_clock::time_point expires_at;
  // Left the DNS answer; members on it are being replaced.
  bool stale = false;
};
struct ResolutionInfo {
  bool dns = false;        // false: a static address list
  std::string dns_server;  // "" = the system's
  std::string host;
  int port = 0;
  std::vector<ResolvedAddressInfo> addresses;
  // DNS only (epoch when never):
  std::chrono::system_clock::time_point last_answer_at;  // last good answer
  std::string last_error;  // "" after a good answer
  std::chrono::system_clock::time_point last_error_at;
  int failures_in_a_row = 0;
  std::chrono::system_clock::time_point next_refresh_at;
  uint64_t resolutions_ok = 0;
  uint64_t resolutions_failed = 0;
};

class Channel;

// CreateChannel()
//
// Creates a warm channel to `target` and starts connecting its members at
// once: no call is needed to warm it up.
//
// Targets:
//   - "ipv4:ADDR:PORT[,ADDR:PORT...]", e.g. "ipv4:10.0.0.1:80,10.0.0.2:80";
//   - "ipv6:[ADDR]:PORT[,[ADDR]:PORT...]", e.g. "ipv6:[::1]:50051";
//   - "unix:PATH", "unix-abstract:NAME": one Unix socket (<= 107 bytes);
//   - "ADDR:PORT", "[ADDR]:PORT": one literal IP address;
//   - "dns:///HOST:PORT", "HOST:PORT": HOST resolved with the system's DNS
//     servers; "dns://SERVER/HOST:PORT" asks SERVER ("IP" or "IP:PORT") only.
//     A port is required (no default of 443: say which port you mean).
//     Resolution runs in the background: the channel is created at once, is
//     CONNECTING until the first answer (TRANSIENT_FAILURE once a resolution
//     failed with no answer yet), and follows the records' TTLs afterwards
//     (see ChannelOptions::dns_min_refresh). Before the first answer, calls
//     fail at once with UNAVAILABLE saying why, even with wait_for_ready.
//     A name with both A and AAAA records gets members on both families.
//     The system's resolver configuration (/etc/resolv.conf) is read when
//     the channel is created.
//
// Errors: `InvalidArgument` naming every bad input (malformed target, port out
// of range, empty address list, a DNS server that is not an IP address, any
// invalid option, null credentials or interceptor, credentials and
// `options.tls` both given, unreadable or malformed TLS files);
// `FailedPrecondition` for TLS files that are well-formed but unusable now
// (see TlsOptions).
absl::StatusOr<std::shared_ptr<Channel>> CreateChannel(
    absl::string_view target,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    ChannelOptions options = {});

// Channel
//
// A `grpc::ChannelInterface` backed by a pool of warm member connections.
// Create one with `warm::CreateChannel()`.
//
// This class is thread-safe. Destroying it (dropping the last shared_ptr,
// which generated stubs also hold) while calls are in flight is safe: each call
// keeps its member connection alive until it finishes. The destructor returns
// once warm's background work for the channel has stopped and its options
// (callbacks, interceptors) are destroyed -- except when it runs on warm's
// thread (from on_health_change), where that happens right after.
class Channel final : public grpc::ChannelInterface {
 public:
  ~Channel() override;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // The aggregate state of the members: READY when any member is pickable
  // (connected, and healthy unless checking is off or the channel is
  // degraded, and not ejected); else CONNECTING when any member is
  // connecting, idle, or connected but not yet checked; else
  // TRANSIENT_FAILURE (every member failed, is unhealthy or is ejected).
  // Members are always kept connecting, so `try_to_connect` only makes an
  // IDLE member reconnect sooner.
  grpc_connectivity_state GetState(bool try_to_connect) override;

  // The label from `ChannelOptions::name` (or the target).
  const std::string& name() const;
  // The target string this channel was created with.
  const std::string& target() const;

  // A snapshot of every member, in the order they were opened.
  std::vector<MemberInfo> Members() const;

  // The channel's health now (see ChannelStatus).
  ChannelHealth Health() const;

  // The most recent pool events, oldest first (at most
  // ChannelOptions::event_log_size).
  std::vector<PoolEvent> Events() const;

  // The channel's addresses and, for DNS targets, their TTLs and the state
  // of resolution.
  ResolutionInfo Resolution() const;

 private:
  friend absl::StatusOr<std::shared_ptr<Channel>> CreateChannel(
      absl::string_view, std::shared_ptr<grpc::ChannelCredentials>,
      ChannelOptions);
  explicit Channel(std::shared_ptr<internal::Pool> pool);

  // grpc::ChannelInterface's private interface, used by generated code.
  grpc::internal::Call CreateCall(const grpc::internal::RpcMethod& method,
                                  grpc::ClientContext* context,
                                  grpc::CompletionQueue* cq) override;
  void PerformOpsOnCall(grpc::internal::CallOpSetInterface* ops,
                        grpc::internal::Call* call) override;
  void* RegisterMethod(const char* method) override;
  void NotifyOnStateChangeImpl(grpc_connectivity_state last_observed,
                               gpr_timespec deadline, grpc::CompletionQueue* cq,
                               void* tag) override;
  bool WaitForStateChangeImpl(grpc_connectivity_state last_observed,
                              gpr_timespec deadline) override;
  grpc::CompletionQueue* CallbackCQ() override;

  std::shared_ptr<internal::Pool> pool_;  // null once destroyed
};
}  // namespace warm

#endif  // WARM_CHANNEL_H_
