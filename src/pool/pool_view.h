// PoolView: everything a pool shows of itself, at one moment.
//
// Built by Pool::View() under the pool's lock with one reading of each clock
// (Clocks), so its times agree with each other and its counts with its
// states. Channel::Members(), Resolution() and Events() and the diagnostics
// snapshot (src/diagnostics/channel_snapshot.cc) are renderings of it; none
// of them reads the pool on its own.
//
// Thread safety: a value.

#ifndef WARM_SRC_POOL_POOL_VIEW_H_
#define WARM_SRC_POOL_POOL_VIEW_H_

#include <grpc/grpc.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "src/call/member_load.h"
#include "src/call/method_stats.h"
#include "src/common/time.h"
#include "src/pool/pool_decisions.h"
#include "warm/introspection.h"
#include "warm/options.h"

namespace warm {
namespace internal {

struct PoolView {
  struct Address {
    std::string address;
    bool stale = false;
    int members = 0;
    int rank = -1;  // subsetting preference, 0 first; -1: stale
    int evictions_in_a_row = 0;
    WallTime backoff_until;  // epoch: not backing off
    std::string last_error;  // of a health check of a member here
    WallTime last_error_at;
    // DNS: the record's TTL and when it runs out (0 / epoch otherwise).
    std::chrono::seconds ttl{0};
    WallTime expires_at;
  };
  struct Member {
    MemberInfo info;
    // One word: "healthy", "starting", "unhealthy", "ejected", "suspected",
    // "draining".
    absl::string_view state_word;
    // Calls since the oldest latency sample kept, and their percentiles
    // (-1: none); see Pool::View().
    int64_t recent_p50_us = -1;
    int64_t recent_p99_us = -1;
    uint64_t recent_calls = 0;
    Nanos recent_window{0};
    double latency_ewma_ms = -1;
    bool old_tls_material = false;
  };
  struct Tls {
    TlsOptions options;
    std::string subject;
    std::string issuer;
    WallTime not_before;
    WallTime not_after;
    WallTime loaded_at;
    uint64_t reloads_ok = 0;
    uint64_t reloads_failed = 0;
    std::string last_error;
    WallTime last_error_at;
    int members_on_old_material = 0;
  };

  Clocks clocks;  // when the view was taken
  std::string name;
  std::string target;
  WallTime created_at;
  grpc_connectivity_state connectivity = GRPC_CHANNEL_IDLE;
  ChannelHealth health;
  bool degraded = false;
  int pool_size = 0;  // wanted now
  int pool_size_min = 0;
  int pool_size_max = 0;
  double pool_load = 0;  // smoothed calls in flight (dynamic size only)
  std::string subsetting;
  bool health_checks = false;
  ResolutionInfo resolution;
  std::vector<Address> addresses;  // the decisions' addresses, in order
  std::vector<Member> members;     // in opening order
  std::optional<Tls> tls;
  struct Event {
    PoolEvent event;
    LogSeverity severity = LogSeverity::kInfo;
  };
  std::vector<Event> events;  // oldest first
  CallCounts calls;               // every call, closed members' included
  size_t waiting_calls = 0;       // wait_for_ready calls held (CallHolder)
  std::vector<MethodCounts> methods;  // per method (MethodStats::Counts())
  int metrics_max_methods = 0;        // ChannelOptions::metrics_max_methods
  PoolDecisions::Counters counters;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_POOL_POOL_VIEW_H_
