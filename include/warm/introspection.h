// warm/introspection.h: what a warm channel reports about itself.
//
// The types returned by `warm::Channel`'s Health(), Members(), Events() and
// Resolution() and passed to `ChannelOptions::on_health_change`, and the
// functions that name their enums (as shown on the diagnostics page and in
// log lines). Included by warm/channel.h.

#ifndef WARM_INTROSPECTION_H_
#define WARM_INTROSPECTION_H_

#include <grpc/grpc.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace warm {

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
  // Connected members that passed their health checks and are not ejected
  // (suspected members count: see LivenessOptions).
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
    kMemberReturned,    // outlier ejection or suspicion ended
    kEjectionSkipped,   // would have left fewer than critical_min pickable
    kAddressBackoff,    // an address waits before it gets a member again
    kAddressesChanged,  // the DNS answer changed: "+added -removed"
    kDnsFailed,         // a resolution failed; the last good answer stays
    kDegradedEntered,
    kDegradedLeft,
    kStatusChanged,    // ChannelStatus changed
    kTlsReloaded,      // new TLS files in use; members being recycled
    kTlsReloadFailed,  // changed TLS files are bad; the old ones stay
    kMemberSuspected,  // calls stalled: out of the picker while probed
    kPoolResized,      // the pool's size followed its load (PoolSizingOptions)
  };
  std::chrono::system_clock::time_point time;
  Kind kind = Kind::kMemberOpened;
  uint64_t member_id = 0;  // 0 when the event is not about one member
  std::string address;     // "" when not about one address
  std::string detail;      // human-readable, e.g. "2 checks failed: ..."
};
absl::string_view PoolEventKindName(PoolEvent::Kind kind);

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

  // Liveness (LivenessOptions): the member's calls stalled and it is out of
  // the picker until a probe passes.
  bool suspected = false;
  // How its health is checked: "watch" (a Health/Watch stream), "poll"
  // (Health/Check every interval), or "" (health checking off).
  std::string health_mode;
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

// ConnectivityStateName()
//
// gRPC's name of a connectivity state, as `Channel::GetState()` and
// `MemberInfo::state` report it: "IDLE", "CONNECTING", "READY",
// "TRANSIENT_FAILURE" or "SHUTDOWN"; "UNKNOWN" for a value outside the enum.
absl::string_view ConnectivityStateName(grpc_connectivity_state state);

}  // namespace warm

#endif  // WARM_INTROSPECTION_H_
