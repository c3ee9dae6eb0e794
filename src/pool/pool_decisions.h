// PoolDecisions: what one warm channel's pool decides, without gRPC.
//
// It knows the pool's members (by id, with address, connectivity, health and
// ejection), the known addresses (with per-address backoff), and whether the
// channel is degraded. Inputs are events with the time they happen at: a
// member's connectivity changed, a health check finished, a member's calls
// failed too often in a row, a timer fired. Each input returns the Actions the
// pool must carry out (open a member on an address, close a member, reset a
// member's failure count) plus the events to log. Time is always passed in, so
// unit tests drive it with a fake clock and no sleeps; randomness (backoff
// jitter, the first address) comes from a seeded generator.
//
// The rules:
//   - A member is *healthy* when its connection is READY and it passed its
//     checks (or has no health service, or checking is off).
//   - A new member is healthy after its first successful check; one that
//     failed `unhealthy_threshold` checks in a row is unhealthy and needs
//     `healthy_threshold` successes in a row to be healthy again.
//   - An unhealthy member is evicted (closed) at once, its address backs off
//     (exponential with jitter), and a replacement is opened on the address
//     with the fewest members that is not backing off. Exceptions: while
//     degraded, unhealthy members whose connection has not failed stay (and
//     take calls when READY); and the pool is never left empty: the last
//     member stays until a replacement can be opened.
//   - Degraded: fewer than critical_min healthy members after at least
//     critical_min were healthy at once. Left when critical_min are healthy.
//   - Subsetting: the current addresses are ranked (src/pool/subsetting.h);
//     a new member goes to the address with the fewest members, the
//     best-ranked among those, that is not backing off.
//   - Rebalancing: when every wanted member exists, and the address a new
//     member would go to (fewest members, best rank, not backing off) has
//     two members fewer than the most crowded current address (worst rank
//     first), or one fewer and a better rank (e.g. its backoff ran out, or
//     DNS added it), a surplus member is opened on it; when it becomes
//     healthy, one member of the most crowded other address is retired if
//     the move still improves things (else the surplus member closes). So
//     members end spread evenly, the extra ones on the best ranks. A
//     surplus member not healthy within replacement_timeout is evicted.
//   - Size: the pool wants target_size() members, pool_size at first. With
//     min_pool_size < max_pool_size, OnLoad() samples smooth the calls in
//     flight (an EWMA, time constant load_smoothing); above grow_above per
//     pickable member, while every wanted member is pickable, the target
//     grows by one (at most one per sample, up to max_pool_size and the
//     number of current addresses); once the smoothed load stayed below
//     shrink_below x (target - 1) for shrink_window since the last grow, it
//     shrinks by one and a member is closed (kShrunk): one out of service
//     (ejected, suspected, unhealthy; its address then backs off, so that
//     rebalancing does not reopen it), else one on the most crowded, then
//     worst-ranked address, never one being replaced by TLS recycling.
//     Growth waits for a free address out of backoff; members beyond
//     min_pool_size go only to addresses without a member.
//   - Address changes (SetAddresses): members on addresses that left the
//     answer keep serving, and are closed one for each member on a current
//     address that becomes pickable (calls in flight finish on their
//     connections); while degraded they stay. Replacements go to current
//     addresses; stale addresses never count as crowded.
//   - Recycling (Recycle(), for TLS rotation): one member at a time is
//     replaced by a new member on the same address, and closed once the new
//     one is healthy, so healthy members never drop. A replacement not
//     healthy within replacement_timeout is evicted and tried again after
//     its address's backoff. At most one extra member (a surplus or a
//     replacement) exists at a time.
//   - Health by source (OnCheck): a Watch message counts at once (SERVING:
//     healthy; otherwise unhealthy); polled checks and probes count towards
//     the thresholds above.
//   - Suspicion (OnStall): a pickable member whose calls stalled leaves the
//     picker and is probed, unless no other member is pickable; a probe the
//     server answered (SERVING, NOT_SERVING, UNIMPLEMENTED, or an error
//     status of its own) ends the suspicion, an unanswered one asks for
//     another probe (MemberChecks spaces them out). A member whose
//     connection leaves READY is no longer suspected (its next connection
//     starts afresh); when no member is pickable the oldest suspicion ends.
//     Suspected members count as pickable for the ejection floor below: a
//     suspicion lasts a probe's round trip and must not end another
//     member's ejection.
//   - Outlier ejection: OnCallFailures() ejects a member for base x times
//     ejected (capped), unless that would leave fewer than critical_min
//     pickable members; when other members fail later, ejections end early
//     (soonest first) to keep critical_min pickable. Ejected members do not
//     count as healthy.
//
// Thread safety: none; the pool calls it under its mutex.

#ifndef WARM_SRC_POOL_POOL_DECISIONS_H_
#define WARM_SRC_POOL_POOL_DECISIONS_H_

#include <grpc/grpc.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "src/common/random.h"
#include "src/common/target.h"
#include "src/common/time.h"
#include "src/health/check_outcome.h"
#include "src/pool/subsetting.h"
#include "warm/introspection.h"
#include "warm/log.h"

namespace warm {
namespace internal {

// What the pool's decisions depend on; made from ChannelOptions.
struct PoolPolicy {
  int pool_size = 3;  // the starting size
  // Dynamic size (PoolSizingOptions): 0 is pool_size; with min < max the
  // size follows OnLoad() samples.
  int min_pool_size = 0;
  int max_pool_size = 0;
  double grow_above = 2.0;
  double shrink_below = 1.0;
  Nanos load_smoothing = std::chrono::seconds(1);
  Nanos shrink_window = std::chrono::seconds(15);
  // Which addresses are preferred (src/pool/subsetting.h); a rendezvous
  // or random-offset seed of 0 is drawn from the decisions' generator.
  SubsetPolicy subset;
  bool health_checks = true;
  int unhealthy_threshold = 2;
  int healthy_threshold = 2;
  int healthy_min = 2;   // capped at pool_size
  int critical_min = 1;  // capped at pool_size; 0 = never degraded
  bool ejection = true;
  Nanos base_ejection = std::chrono::seconds(30);
  Nanos max_ejection = std::chrono::seconds(300);
  bool uneject_on_health_check = false;
  // Per-address backoff after a member on it was evicted: initial x
  // multiplier^(failures-1), at most max, randomised by +-jitter (the
  // defaults are warm_channels' reconnect backoff).
  Nanos backoff_initial = std::chrono::milliseconds(500);
  double backoff_multiplier = 1.5;
  double backoff_jitter = 0.5;
  Nanos backoff_max = std::chrono::seconds(60);
  // Recycling and rebalancing: a replacement or surplus member not healthy
  // this long after it opened is closed (its address backs off) and tried
  // again later.
  Nanos replacement_timeout = std::chrono::seconds(30);
  size_t event_log_size = 128;
};

// Why a member was closed (values index PoolDecisions::Counters).
enum class EvictionReason {
  kUnhealthy,
  kRebalanced,
  kAddressRemoved,
  kRecycled,  // replaced by a member on new TLS material
  kShrunk,    // the pool shrank with its load
};
inline constexpr size_t kEvictionReasons = 5;

class PoolDecisions {
 public:
  struct MemberRecord {
    uint64_t id = 0;
    size_t address = 0;  // index into addresses()
    SteadyTime opened_at;
    grpc_connectivity_state connectivity = GRPC_CHANNEL_IDLE;
    MemberHealth health = MemberHealth::kUnknown;
    int successes = 0;  // consecutive
    int failures = 0;   // consecutive
    std::string last_check;
    SteadyTime last_check_at{};
    bool ejected = false;
    SteadyTime ejected_until{};
    int times_ejected = 0;
    bool surplus = false;  // opened to rebalance; see the header comment
    // Recycling (TLS rotation): this member is on old material and is to be
    // replaced; `replaces`: this member was opened to replace that one.
    bool recycle = false;
    uint64_t replaces = 0;
    SteadyTime last_skip_event{};  // last kEjectionSkipped recorded
    // Liveness: calls stalled; out of the picker until a probe passes.
    bool suspected = false;
    SteadyTime suspected_at{};
  };

  struct AddressRecord {
    Address address;
    // No longer in the resolver's answer: gets no new members; its members
    // are closed once a member on a current address is pickable (unless the
    // channel is degraded). Forgotten once it has no members.
    bool stale = false;
    int members = 0;
    // Subsetting: 0 is the channel's most preferred current address; stale
    // addresses rank after every current one.
    uint32_t rank = 0;
    int failures = 0;       // evictions since a member here was healthy
    SteadyTime retry_at{};  // no new member here before this
    // The last failed health check of a member here ("" when none).
    std::string last_error;
    SteadyTime last_error_at{};
  };

  // Counts since the pool started, for metrics; they never go down.
  struct Counters {
    std::array<uint64_t, kCheckOutcomes> checks{};       // by CheckOutcome
    std::array<uint64_t, kEvictionReasons> evictions{};  // by EvictionReason
    uint64_t ejections = 0;
    // Changes of target_size() by load or by the address count (members
    // closed for them are evictions kShrunk).
    uint64_t grows = 0;
    uint64_t shrinks = 0;
  };

  // One event, timed on the steady clock (the pool converts).
  struct Event {
    SteadyTime time;
    PoolEvent::Kind kind;
    LogSeverity severity;
    uint64_t member_id;
    std::string address;
    std::string detail;
  };

  struct Actions {
    std::vector<std::pair<uint64_t, size_t>> open;  // (new id, address index)
    std::vector<uint64_t> close;
    std::vector<uint64_t> reset_failures;  // outlier counters to zero
    std::vector<uint64_t> probe;           // members to probe (liveness)
    std::vector<Event> events;             // new events, oldest first
    bool health_changed = false;           // health() differs
    // Adds `other`'s actions after these.
    void Append(Actions other);
  };

  // Where a member's calls may go (see picker.h).
  enum class Tier { kPickable, kTrying, kOther };

  PoolDecisions(PoolPolicy policy, std::vector<Address> addresses, uint64_t seed);

  // Opens the first pool_size members.
  Actions Start(SteadyTime now);
  Actions OnConnectivity(uint64_t id, grpc_connectivity_state state,
                         SteadyTime now);
  // `answered_error`: a kFailed outcome with a status the server itself
  // sent (HealthCheck::Result), which ends a suspicion like any answer.
  Actions OnCheck(uint64_t id, CheckSource source, CheckOutcome outcome,
                  std::string detail, SteadyTime now,
                  bool answered_error = false);
  // A polled check's outcome.
  Actions OnCheck(uint64_t id, CheckOutcome outcome, std::string detail,
                  SteadyTime now) {
    return OnCheck(id, CheckSource::kPoll, outcome, std::move(detail), now);
  }
  // The member's calls stalled (LivenessOptions); `detail` says how.
  Actions OnStall(uint64_t id, std::string detail, SteadyTime now);
  // The member's calls failed `consecutive_failures` times in a row.
  Actions OnCallFailures(uint64_t id, SteadyTime now);
  Actions OnTimer(SteadyTime now);
  // Dynamic size: `in_flight`, the calls in flight on the pickable members
  // now; samples come every kLoadSampleInterval. Grows or shrinks the pool
  // by at most one member (see PoolSizingOptions). Nothing when the size is
  // fixed.
  Actions OnLoad(int64_t in_flight, SteadyTime now);
  static constexpr Nanos kLoadSampleInterval = std::chrono::milliseconds(100);
  // The resolver's new answer (DNS targets). Addresses not in it become
  // stale; new ones get members (distinct addresses first, rebalancing).
  Actions SetAddresses(std::vector<Address> addresses, SteadyTime now);
  // The members `ids` are on old TLS material: replace them one at a time,
  // each by a new member on the same address that must become healthy
  // before the old one is closed.
  Actions Recycle(const std::vector<uint64_t>& ids, SteadyTime now);
  // Records an event about the channel as a whole (e.g. a TLS reload).
  Actions Note(PoolEvent::Kind kind, LogSeverity severity, std::string detail,
               SteadyTime now);
  // A DNS resolution failed; `addresses_kept`: an earlier answer is still
  // in use. Without one the status is kUnhealthy rather than kStarting.
  Actions OnResolutionFailed(SteadyTime now, std::string detail,
                             bool addresses_kept);

  // When OnTimer() next has something to do (an ejection ending, an address
  // backoff running out); SteadyTime::max() when nothing is pending.
  SteadyTime NextDeadline() const;

  Tier TierOf(const MemberRecord& member) const;
  // The tier it would have if it were not suspected.
  Tier TierIgnoringSuspicion(const MemberRecord& member) const;
  bool Healthy(const MemberRecord& member) const;

  const std::map<uint64_t, MemberRecord>& members() const { return members_; }
  const std::vector<AddressRecord>& addresses() const { return addresses_; }
  const std::deque<Event>& events() const { return events_; }
  ChannelHealth health() const { return health_; }
  // The members the pool wants now (pool_size, or where load took it).
  int target_size() const { return target_size_; }
  bool dynamic_size() const {
    return policy_.min_pool_size < policy_.max_pool_size;
  }
  // The smoothed calls in flight (0 with a fixed size).
  double smoothed_load() const { return load_; }
  bool degraded() const { return degraded_; }
  const PoolPolicy& policy() const { return policy_; }
  const Counters& counters() const { return counters_; }

 private:
  // Re-evaluates everything after an input: ejections ending, health and
  // degraded mode, evictions, replacements, rebalancing.
  void Update(SteadyTime now, Actions& actions);
  void RecomputeHealth(SteadyTime now, Actions& actions);
  void Open(size_t address, bool surplus, SteadyTime now, Actions& actions,
            uint64_t replaces = 0);
  // Opens a replacement for the oldest member still to be recycled.
  void RecycleOne(SteadyTime now, Actions& actions);
  // Closes a member (an eviction, counted by reason).
  void Close(uint64_t id, EvictionReason reason, LogSeverity severity,
             std::string detail, SteadyTime now, Actions& actions);
  // Closes an unhealthy member and backs its address off; `why` for the
  // event ("" : its last check).
  void Evict(MemberRecord& member, SteadyTime now, Actions& actions,
             std::string why = "");
  void MemberBecameHealthy(MemberRecord& member, SteadyTime now,
                           Actions& actions);
  void EndSuspicion(MemberRecord& member, LogSeverity severity,
                    std::string why, SteadyTime now, Actions& actions);
  // Retires one member for a surplus member `keep` that became healthy,
  // from MostCrowded() other than keep's address, when Improves() still
  // holds for that move. False when it does not.
  bool Retire(const MemberRecord& keep, SteadyTime now, Actions& actions);
  // The current address with the most members, the worst-ranked among
  // them, other than `except`; -1 when none has members.
  int MostCrowded(int except) const;
  // Whether a member moving from address `from` to `to` (which has
  // `to_members` without it) spreads the pool better: counts differing by
  // two or more even out, or a count differing by one goes to the
  // better-ranked address. Each move lowers either the spread or the rank
  // order's inversions, so moves end.
  bool Improves(size_t to, int to_members, size_t from) const;
  // Closes one member the pool no longer wants (load fell); false when no
  // member can go.
  bool Shrink(SteadyTime now, Actions& actions);
  // Ranks the current addresses (subsetting); stale ones go last.
  void Rank();
  // Grow or shrink by one after a load sample.
  void Resize(SteadyTime now, Actions& actions);
  // The largest target: max_pool_size, at most the current addresses, at
  // least min_pool_size.
  int SizeCap() const;
  // Lowers a dynamic target above SizeCap() (addresses left).
  void CapTarget(SteadyTime now, Actions& actions);
  // Counts towards the target: not surplus, not a replacement, on a current
  // address.
  bool Wanted(const MemberRecord& member) const;
  // Closes members on stale addresses when they are no longer needed, and
  // forgets stale addresses without members.
  void DrainStale(SteadyTime now, Actions& actions);
  // The address a new member should go to: the fewest members, then the
  // best rank; -1 when every address is backing off.
  int ChooseAddress(SteadyTime now) const;
  // Whether some address other than `except` is out of backoff.
  bool CanOpenOtherThan(size_t except, SteadyTime now) const;
  Nanos Backoff(int failures);
  void Record(SteadyTime now, PoolEvent::Kind kind, LogSeverity severity,
              uint64_t member_id, std::string address, std::string detail,
              Actions& actions);
  void Record(SteadyTime now, PoolEvent::Kind kind, LogSeverity severity,
              const MemberRecord& member, std::string detail, Actions& actions);

  const PoolPolicy policy_;
  std::vector<AddressRecord> addresses_;
  std::map<uint64_t, MemberRecord> members_;  // by id = opening order
  std::deque<Event> events_;
  SmallRandom random_;
  uint64_t next_id_ = 1;
  int target_size_;
  // Dynamic size: the smoothed load, when it was last sampled, and the
  // window's maxima (a monotonic queue: times increase, loads decrease; a
  // vector, as a deque allocates 512 bytes even in channels of fixed size).
  double load_ = 0;
  SteadyTime load_at_{};
  SteadyTime grew_at_{};  // the last grow, or Start()
  int shrinks_due_ = 0;   // members Resize() took off the target
  std::vector<std::pair<SteadyTime, double>> load_peaks_;
  SteadyTime last_update_{};  // the latest `now` seen
  bool reached_critical_ = false;
  bool reached_healthy_min_ = false;
  bool any_member_failed_ = false;
  bool degraded_ = false;
  ChannelHealth health_;
  Counters counters_;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_POOL_POOL_DECISIONS_H_
