#include "src/pool/pool_decisions.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace warm {
namespace internal {

void PoolDecisions::Actions::Append(Actions other) {
  for (auto& entry : other.open) open.push_back(entry);
  for (uint64_t id : other.close) close.push_back(id);
  for (uint64_t id : other.reset_failures) reset_failures.push_back(id);
  for (uint64_t id : other.probe) probe.push_back(id);
  for (Event& event : other.events) events.push_back(std::move(event));
  health_changed |= other.health_changed;
}

namespace {

bool HealthOk(MemberHealth health) {
  return health == MemberHealth::kHealthy ||
         health == MemberHealth::kNoHealthService ||
         health == MemberHealth::kNotChecked;
}

// Fills in the sizes PoolPolicy leaves as 0, and a subsetting seed.
PoolPolicy Normalized(PoolPolicy policy, uint64_t seed) {
  if (policy.min_pool_size <= 0) policy.min_pool_size = policy.pool_size;
  if (policy.max_pool_size <= 0) policy.max_pool_size = policy.pool_size;
  policy.max_pool_size = std::max(policy.max_pool_size, policy.min_pool_size);
  policy.pool_size = std::clamp(policy.pool_size, policy.min_pool_size,
                                policy.max_pool_size);
  // A random seed per channel, so that a fleet's clients rank differently.
  if (policy.subset.mode != SubsetPolicy::Mode::kDeterministic &&
      policy.subset.seed == 0) {
    policy.subset.seed = SmallRandom(seed ^ 0x5375627365747321u)();
  }
  return policy;
}

}  // namespace

PoolDecisions::PoolDecisions(PoolPolicy policy, std::vector<Address> addresses,
                     uint64_t seed)
    : policy_(Normalized(policy, seed)),
      random_(seed),
      target_size_(policy_.pool_size) {
  for (Address& address : addresses) {
    AddressRecord record;
    record.address = std::move(address);
    addresses_.push_back(std::move(record));
  }
  Rank();
  health_.healthy_min = policy_.healthy_min;
  health_.critical_min = policy_.critical_min;
}

PoolDecisions::Actions PoolDecisions::Start(SteadyTime now) {
  Actions actions;
  grew_at_ = now;
  load_at_ = now;
  Update(now, actions);
  return actions;
}

PoolDecisions::Actions PoolDecisions::OnConnectivity(uint64_t id,
                                             grpc_connectivity_state state,
                                             SteadyTime now) {
  Actions actions;
  auto it = members_.find(id);
  if (it == members_.end()) return actions;
  MemberRecord& member = it->second;
  const bool was_healthy = Healthy(member);
  member.connectivity = state;
  if (member.suspected && state != GRPC_CHANNEL_READY) {
    EndSuspicion(member, LogSeverity::kInfo,
                 absl::StrCat("connection ", ConnectivityStateName(state)), now,
                 actions);
  }
  if (!was_healthy && Healthy(member))
    MemberBecameHealthy(member, now, actions);
  Update(now, actions);
  return actions;
}

PoolDecisions::Actions PoolDecisions::OnCheck(uint64_t id, CheckSource source,
                                              CheckOutcome outcome,
                                              std::string detail,
                                              SteadyTime now,
                                              bool answered_error) {
  Actions actions;
  auto it = members_.find(id);
  if (it == members_.end()) return actions;
  MemberRecord& member = it->second;
  if (source == CheckSource::kProbe && member.suspected) {
    if (outcome == CheckOutcome::kFailed && !answered_error) {
      actions.probe.push_back(id);  // still suspected: probe again
    } else {
      EndSuspicion(member, LogSeverity::kInfo,
                   absl::StrCat("probe answered ", detail), now, actions);
    }
  }
  if (!policy_.health_checks) {
    Update(now, actions);
    return actions;
  }
  const bool was_healthy = Healthy(member);
  ++counters_.checks[static_cast<size_t>(outcome)];
  member.last_check = detail;
  member.last_check_at = now;
  if (outcome == CheckOutcome::kServing ||
      outcome == CheckOutcome::kUnimplemented) {
    member.failures = 0;
    ++member.successes;
    // A Watch message is the server's word: enough on its own.
    if (source == CheckSource::kWatch) {
      member.successes = std::max(member.successes, policy_.healthy_threshold);
    }
    const MemberHealth ok = outcome == CheckOutcome::kServing
                                ? MemberHealth::kHealthy
                                : MemberHealth::kNoHealthService;
    if (member.health == MemberHealth::kUnknown ||
        (member.health == MemberHealth::kUnhealthy &&
         member.successes >= policy_.healthy_threshold)) {
      member.health = ok;
    } else if (HealthOk(member.health)) {
      member.health = ok;  // a backend may add or drop its health service
    }
    if (member.ejected && policy_.uneject_on_health_check &&
        member.successes >= policy_.healthy_threshold) {
      member.ejected = false;
      actions.reset_failures.push_back(member.id);
      Record(now, PoolEvent::Kind::kMemberReturned, LogSeverity::kInfo, member,
             absl::StrCat(member.successes, " health checks passed"), actions);
    }
  } else {
    member.successes = 0;
    ++member.failures;
    if (source == CheckSource::kWatch &&
        outcome == CheckOutcome::kNotServing) {
      member.failures = std::max(member.failures, policy_.unhealthy_threshold);
    }
    AddressRecord& address = addresses_[member.address];
    address.last_error = detail;
    address.last_error_at = now;
    if (member.failures >= policy_.unhealthy_threshold &&
        member.health != MemberHealth::kUnhealthy) {
      const bool never_healthy = member.health == MemberHealth::kUnknown;
      member.health = MemberHealth::kUnhealthy;
      any_member_failed_ = true;
      const std::string why =
          source == CheckSource::kWatch && outcome == CheckOutcome::kNotServing
              ? absl::StrCat("the server says ", detail)
              : absl::StrCat(member.failures, " checks failed in a row",
                             never_healthy ? " (never healthy)" : "",
                             "; last: ", detail);
      Record(now, PoolEvent::Kind::kMemberUnhealthy, LogSeverity::kWarning,
             member, why, actions);
    }
  }
  if (!was_healthy && Healthy(member))
    MemberBecameHealthy(member, now, actions);
  Update(now, actions);
  return actions;
}

PoolDecisions::Actions PoolDecisions::OnStall(uint64_t id, std::string detail,
                                              SteadyTime now) {
  Actions actions;
  auto it = members_.find(id);
  if (it == members_.end()) return actions;
  MemberRecord& member = it->second;
  if (member.suspected || TierOf(member) != Tier::kPickable) return actions;
  bool others = false;
  for (const auto& [other_id, other] : members_) {
    others = others || (other_id != id && TierOf(other) == Tier::kPickable);
  }
  // With no other member to send calls to, taking this one out gains
  // nothing; its calls end at their deadlines, and checks still run.
  if (!others) return actions;
  member.suspected = true;
  member.suspected_at = now;
  actions.probe.push_back(id);
  Record(now, PoolEvent::Kind::kMemberSuspected, LogSeverity::kWarning, member,
         std::move(detail), actions);
  Update(now, actions);
  return actions;
}

void PoolDecisions::EndSuspicion(MemberRecord& member, LogSeverity severity,
                                 std::string why, SteadyTime now,
                                 Actions& actions) {
  member.suspected = false;
  Record(now, PoolEvent::Kind::kMemberReturned, severity, member,
         absl::StrCat("no longer suspected: ", why), actions);
}

PoolDecisions::Actions PoolDecisions::OnCallFailures(uint64_t id, SteadyTime now) {
  Actions actions;
  auto it = members_.find(id);
  if (it == members_.end()) return actions;
  MemberRecord& member = it->second;
  actions.reset_failures.push_back(id);
  if (!policy_.ejection || member.ejected) return actions;
  int pickable_others = 0;
  for (const auto& [other_id, other] : members_) {
    if (other_id != id && TierOf(other) == Tier::kPickable) ++pickable_others;
  }
  if (pickable_others < policy_.critical_min) {
    // Reported every `consecutive_failures` failed calls; recorded at most
    // once per base ejection time, so a failing member cannot flood the log.
    if (member.last_skip_event == SteadyTime{} ||
        now - member.last_skip_event >= policy_.base_ejection) {
      member.last_skip_event = now;
      Record(now, PoolEvent::Kind::kEjectionSkipped, LogSeverity::kWarning,
             member,
             absl::StrCat("calls failing, but only ", pickable_others,
                          " other pickable members (critical_min ",
                          policy_.critical_min, ")"),
             actions);
    }
    return actions;
  }
  ++member.times_ejected;
  ++counters_.ejections;
  const Nanos duration = std::min<Nanos>(
      policy_.base_ejection * member.times_ejected, policy_.max_ejection);
  member.ejected = true;
  member.ejected_until = now + duration;
  // Only checks passed from now on may end the ejection early.
  member.successes = 0;
  Record(now, PoolEvent::Kind::kMemberEjected, LogSeverity::kWarning, member,
         absl::StrCat("calls failed in a row; ejected for ",
                      FormatDuration(duration), " (ejection ",
                      member.times_ejected, ")"),
         actions);
  Update(now, actions);
  return actions;
}

PoolDecisions::Actions PoolDecisions::OnTimer(SteadyTime now) {
  Actions actions;
  Update(now, actions);
  return actions;
}

PoolDecisions::Actions PoolDecisions::OnResolutionFailed(SteadyTime now,
                                                 std::string detail,
                                                 bool addresses_kept) {
  Actions actions;
  Record(now, PoolEvent::Kind::kDnsFailed, LogSeverity::kWarning, 0, "",
         std::move(detail), actions);
  // No address at all is a failure, not a slow start.
  if (!addresses_kept) any_member_failed_ = true;
  Update(now, actions);
  return actions;
}

PoolDecisions::Actions PoolDecisions::SetAddresses(std::vector<Address> addresses,
                                           SteadyTime now) {
  Actions actions;
  for (AddressRecord& record : addresses_) record.stale = true;
  std::vector<std::string> added;
  for (Address& address : addresses) {
    auto it = std::find_if(
        addresses_.begin(), addresses_.end(),
        [&](const AddressRecord& r) { return r.address == address; });
    if (it != addresses_.end()) {
      it->stale = false;
      continue;
    }
    added.push_back(address.display);
    AddressRecord record;
    record.address = std::move(address);
    addresses_.push_back(std::move(record));
  }
  std::vector<std::string> removed;
  for (const AddressRecord& record : addresses_) {
    if (record.stale) removed.push_back(record.address.display);
  }
  if (!added.empty() || !removed.empty()) {
    std::string detail;
    for (const std::string& a : added) absl::StrAppend(&detail, " +", a);
    for (const std::string& r : removed) absl::StrAppend(&detail, " -", r);
    Record(now, PoolEvent::Kind::kAddressesChanged, LogSeverity::kInfo, 0, "",
           detail.substr(1), actions);
  }
  Rank();
  Update(now, actions);
  return actions;
}

PoolDecisions::Actions PoolDecisions::OnLoad(int64_t in_flight,
                                             SteadyTime now) {
  Actions actions;
  if (!dynamic_size()) return actions;
  // An exponential moving average over time (samples may come late).
  const double dt =
      std::chrono::duration<double>(std::max(now - load_at_, Nanos{0})).count();
  const double tau = std::chrono::duration<double>(
                         std::max<Nanos>(policy_.load_smoothing, Nanos{1}))
                         .count();
  load_ += (static_cast<double>(std::max<int64_t>(in_flight, 0)) - load_) *
           (1 - std::exp(-dt / tau));
  load_at_ = now;
  while (!load_peaks_.empty() && load_peaks_.back().second <= load_) {
    load_peaks_.pop_back();
  }
  load_peaks_.emplace_back(now, load_);
  const auto in_window = std::find_if(
      load_peaks_.begin(), load_peaks_.end(), [&](const auto& peak) {
        return peak.first >= now - policy_.shrink_window;
      });
  load_peaks_.erase(load_peaks_.begin(), in_window);
  Resize(now, actions);
  Update(now, actions);
  return actions;
}

int PoolDecisions::SizeCap() const {
  int current = 0;
  for (const AddressRecord& address : addresses_) current += !address.stale;
  // More members than addresses would not spread load over more backends.
  return std::max(policy_.min_pool_size,
                  std::min(policy_.max_pool_size, current));
}

void PoolDecisions::CapTarget(SteadyTime now, Actions& actions) {
  const int cap = SizeCap();
  // Without addresses (a DNS target before its first answer) there is
  // nothing to cap by: the pool starts at pool_size.
  const bool any_current = std::any_of(
      addresses_.begin(), addresses_.end(),
      [](const AddressRecord& a) { return !a.stale; });
  if (!dynamic_size() || !any_current || target_size_ <= cap) return;
  Record(now, PoolEvent::Kind::kPoolResized, LogSeverity::kInfo, 0, "",
         absl::StrCat(target_size_, " -> ", cap, " members: ",
                      cap == policy_.min_pool_size
                          ? "min_size"
                          : absl::StrCat("only ", cap, " addresses")),
         actions);
  counters_.shrinks += static_cast<uint64_t>(target_size_ - cap);
  target_size_ = cap;
}

void PoolDecisions::Resize(SteadyTime now, Actions& actions) {
  // Load is per pickable member (those on stale addresses carry calls too);
  // growth waits until every wanted member is pickable.
  int pickable = 0;
  int wanted_pickable = 0;
  for (const auto& [id, member] : members_) {
    const bool is_pickable = TierOf(member) == Tier::kPickable;
    pickable += is_pickable;
    wanted_pickable += is_pickable && Wanted(member);
  }
  auto record = [&](std::string detail) {
    Record(now, PoolEvent::Kind::kPoolResized, LogSeverity::kInfo, 0, "",
           std::move(detail), actions);
  };
  // An address without members, out of backoff, for the new member (so that
  // the target does not run ahead of what can open).
  const bool free_address = std::any_of(
      addresses_.begin(), addresses_.end(), [&](const AddressRecord& a) {
        return !a.stale && a.members == 0 &&
               !(a.failures > 0 && a.retry_at > now);
      });
  if (target_size_ < SizeCap() && free_address && pickable > 0 &&
      wanted_pickable >= target_size_ &&
      load_ > policy_.grow_above * pickable) {
    ++target_size_;
    ++counters_.grows;
    grew_at_ = now;
    record(absl::StrFormat(
        "%d -> %d members: %.1f calls in flight (smoothed) over %d pickable "
        "members, above grow_above %g each",
        target_size_ - 1, target_size_, load_, pickable, policy_.grow_above));
    return;
  }
  const double peak = load_peaks_.front().second;
  if (target_size_ > policy_.min_pool_size &&
      now - grew_at_ >= policy_.shrink_window &&
      peak < policy_.shrink_below * (target_size_ - 1)) {
    --target_size_;
    ++shrinks_due_;
    ++counters_.shrinks;
    record(absl::StrFormat(
        "%d -> %d members: at most %.1f calls in flight (smoothed) in the "
        "last %s, below shrink_below %g for each of %d",
        target_size_ + 1, target_size_, peak,
        FormatDuration(policy_.shrink_window), policy_.shrink_below,
        target_size_));
  }
}

PoolDecisions::Actions PoolDecisions::Note(PoolEvent::Kind kind, LogSeverity severity,
                                   std::string detail, SteadyTime now) {
  Actions actions;
  Record(now, kind, severity, 0, "", std::move(detail), actions);
  return actions;
}

PoolDecisions::Actions PoolDecisions::Recycle(const std::vector<uint64_t>& ids,
                                      SteadyTime now) {
  Actions actions;
  for (uint64_t id : ids) {
    auto it = members_.find(id);
    if (it != members_.end()) it->second.recycle = true;
  }
  Update(now, actions);
  return actions;
}

SteadyTime PoolDecisions::NextDeadline() const {
  SteadyTime next = SteadyTime::max();
  for (const auto& [id, member] : members_) {
    if (member.ejected) next = std::min(next, member.ejected_until);
    if ((member.replaces != 0 || member.surplus) && !Healthy(member)) {
      next = std::min(next, member.opened_at + policy_.replacement_timeout);
    }
  }
  for (const AddressRecord& address : addresses_) {
    // A backoff that has run out needs no timer (it may stay recorded until
    // a member there is healthy).
    if (address.failures > 0 && address.retry_at > last_update_) {
      next = std::min(next, address.retry_at);
    }
  }
  return next;
}

bool PoolDecisions::Healthy(const MemberRecord& member) const {
  return member.connectivity == GRPC_CHANNEL_READY && HealthOk(member.health);
}

PoolDecisions::Tier PoolDecisions::TierOf(const MemberRecord& member) const {
  if (member.suspected) return Tier::kOther;
  return TierIgnoringSuspicion(member);
}

PoolDecisions::Tier PoolDecisions::TierIgnoringSuspicion(
    const MemberRecord& member) const {
  if (member.ejected) return Tier::kOther;
  if (member.connectivity == GRPC_CHANNEL_READY) {
    if (HealthOk(member.health) || degraded_) return Tier::kPickable;
    if (member.health == MemberHealth::kUnknown) return Tier::kTrying;
    return Tier::kOther;
  }
  if (member.connectivity == GRPC_CHANNEL_IDLE ||
      member.connectivity == GRPC_CHANNEL_CONNECTING) {
    return Tier::kTrying;
  }
  return Tier::kOther;
}

void PoolDecisions::Update(SteadyTime now, Actions& actions) {
  last_update_ = now;
  for (auto& [id, member] : members_) {
    if (member.ejected && now >= member.ejected_until) {
      member.ejected = false;
      actions.reset_failures.push_back(id);
      Record(now, PoolEvent::Kind::kMemberReturned, LogSeverity::kInfo, member,
             "ejection time over", actions);
    }
  }
  RecomputeHealth(now, actions);
  // Suspicion must not leave the picker empty (other members may have gone
  // since): the oldest suspicion ends.
  for (;;) {
    MemberRecord* oldest = nullptr;
    bool pickable = false;
    for (auto& [id, member] : members_) {
      pickable = pickable || TierOf(member) == Tier::kPickable;
      if (member.suspected &&
          (oldest == nullptr || member.suspected_at < oldest->suspected_at)) {
        oldest = &member;
      }
    }
    if (pickable || oldest == nullptr) break;
    EndSuspicion(*oldest, LogSeverity::kWarning,
                 "no other member is pickable", now, actions);
  }
  // Ejection must not leave fewer than critical_min pickable members (other
  // members may have failed since): end the ejections that end soonest.
  for (;;) {
    int pickable = 0;
    MemberRecord* soonest = nullptr;
    for (auto& [id, member] : members_) {
      pickable += TierIgnoringSuspicion(member) == Tier::kPickable;
      if (member.ejected && (soonest == nullptr ||
                             member.ejected_until < soonest->ejected_until)) {
        soonest = &member;
      }
    }
    if (pickable >= policy_.critical_min || soonest == nullptr) break;
    soonest->ejected = false;
    actions.reset_failures.push_back(soonest->id);
    Record(now, PoolEvent::Kind::kMemberReturned, LogSeverity::kWarning,
           *soonest,
           absl::StrCat("early: only ", pickable,
                        " pickable members (critical_min ",
                        policy_.critical_min, ")"),
           actions);
    RecomputeHealth(now, actions);
  }

  // Evict unhealthy members. While degraded, those still connected or
  // reconnecting stay; only members whose connection failed go.
  std::vector<uint64_t> evict;
  for (const auto& [id, member] : members_) {
    if (member.health == MemberHealth::kUnhealthy &&
        !(degraded_ && member.connectivity != GRPC_CHANNEL_TRANSIENT_FAILURE)) {
      evict.push_back(id);
    }
  }
  for (uint64_t id : evict) {
    // Never leave the pool empty: calls need a member to go to. The last
    // member stays (its connection keeps retrying) until a replacement can
    // be opened, i.e. until some address is out of backoff.
    if (members_.size() == 1 &&
        !CanOpenOtherThan(members_.at(id).address, now)) {
      break;
    }
    Evict(members_.at(id), now, actions);
  }

  // A replacement (recycling) or surplus (rebalancing) member that is not
  // healthy in time goes, its address backing off; the member it was to
  // replace keeps serving and is replaced later. Without this one that never
  // connects (checks off, degraded, SYNs dropped) would hold recycling and
  // rebalancing up for good: there is one extra member at a time.
  std::vector<uint64_t> late;
  for (const auto& [id, member] : members_) {
    if ((member.replaces != 0 || member.surplus) && !Healthy(member) &&
        now - member.opened_at >= policy_.replacement_timeout) {
      late.push_back(id);
    }
  }
  for (uint64_t id : late) {
    MemberRecord& member = members_.at(id);
    const std::string within = FormatDuration(policy_.replacement_timeout);
    Evict(member, now, actions,
          member.replaces != 0
              ? absl::StrCat("replacement for #", member.replaces,
                             " not healthy within ", within, "; #",
                             member.replaces, " keeps serving")
              : absl::StrCat("opened to rebalance, not healthy within ",
                             within));
  }

  CapTarget(now, actions);
  DrainStale(now, actions);

  // Replace what is missing (members on stale addresses are on their way
  // out). Members beyond min_pool_size go only to addresses without one:
  // a second connection to a backend would not spread load.
  auto wanted_present = [&] {
    int present = 0;
    for (const auto& [id, member] : members_) present += Wanted(member);
    return present;
  };
  while (wanted_present() < target_size_) {
    const int address = ChooseAddress(now);
    if (address < 0 || (wanted_present() >= policy_.min_pool_size &&
                        addresses_[address].members > 0)) {
      break;
    }
    Open(static_cast<size_t>(address), /*surplus=*/false, now, actions);
  }
  while (wanted_present() > target_size_ && Shrink(now, actions)) {
  }
  shrinks_due_ = 0;

  // Rebalance: one surplus member at a time, onto the address that should
  // have one more (the fewest members, best-ranked) when moving one there
  // from the one that should have one fewer (the most, worst-ranked) is
  // better (see Improves()).
  const bool surplus_open =
      std::any_of(members_.begin(), members_.end(),
                  [](const auto& entry) { return entry.second.surplus; });
  const bool replacing =
      std::any_of(members_.begin(), members_.end(),
                  [](const auto& entry) { return entry.second.replaces != 0; });
  bool surplus_now = surplus_open;
  if (!surplus_open && !replacing && wanted_present() >= target_size_) {
    const int to = ChooseAddress(now);
    const int from = MostCrowded(/*except=*/-1);
    if (to >= 0 && from >= 0 &&
        Improves(static_cast<size_t>(to), addresses_[to].members,
                 static_cast<size_t>(from))) {
      Open(static_cast<size_t>(to), /*surplus=*/true, now, actions);
      surplus_now = true;
    }
  }
  // One extra member at a time: a surplus or a replacement.
  if (!replacing && !surplus_now) RecycleOne(now, actions);
  RecomputeHealth(now, actions);
}

void PoolDecisions::RecycleOne(SteadyTime now, Actions& actions) {
  // Oldest first; members on stale addresses are being drained anyway, and
  // an address backing off waits.
  for (const auto& [id, member] : members_) {
    const AddressRecord& address = addresses_[member.address];
    if (!member.recycle || address.stale ||
        (address.failures > 0 && address.retry_at > now)) {
      continue;
    }
    Open(member.address, /*surplus=*/false, now, actions, /*replaces=*/id);
    return;
  }
}

void PoolDecisions::RecomputeHealth(SteadyTime now, Actions& actions) {
  int healthy = 0;
  // Ejected members take no calls, so they do not count as healthy here.
  for (const auto& [id, member] : members_) {
    healthy += Healthy(member) && !member.ejected;
  }
  if (policy_.critical_min > 0 && healthy >= policy_.critical_min) {
    reached_critical_ = true;
  }
  if (healthy >= policy_.healthy_min) reached_healthy_min_ = true;

  const bool degraded = policy_.critical_min > 0 && reached_critical_ &&
                        healthy < policy_.critical_min;
  if (degraded != degraded_) {
    degraded_ = degraded;
    if (degraded) {
      Record(now, PoolEvent::Kind::kDegradedEntered, LogSeverity::kWarning, 0,
             "",
             absl::StrCat(healthy, " healthy members, critical_min ",
                          policy_.critical_min,
                          "; connected unhealthy members now take calls"),
             actions);
    } else {
      Record(now, PoolEvent::Kind::kDegradedLeft, LogSeverity::kInfo, 0, "",
             absl::StrCat(healthy, " healthy members, critical_min ",
                          policy_.critical_min),
             actions);
    }
  }

  ChannelHealth next = health_;
  next.healthy_members = healthy;
  next.members = static_cast<int>(members_.size());
  if (degraded_) {
    next.status = ChannelStatus::kDegraded;
  } else if (healthy >= policy_.healthy_min) {
    next.status = ChannelStatus::kHealthy;
  } else if (!reached_healthy_min_ && !any_member_failed_) {
    next.status = ChannelStatus::kStarting;
  } else {
    next.status = ChannelStatus::kUnhealthy;
  }
  if (next.status != health_.status) {
    const bool worse = next.status == ChannelStatus::kUnhealthy ||
                       next.status == ChannelStatus::kDegraded;
    Record(now, PoolEvent::Kind::kStatusChanged,
           worse ? LogSeverity::kWarning : LogSeverity::kInfo, 0, "",
           absl::StrCat(ChannelStatusName(health_.status), " -> ",
                        ChannelStatusName(next.status), " (", healthy, " of ",
                        members_.size(), " members healthy, healthy_min ",
                        policy_.healthy_min, ")"),
           actions);
  }
  if (next.status != health_.status ||
      next.healthy_members != health_.healthy_members ||
      next.members != health_.members) {
    actions.health_changed = true;
  }
  health_ = next;
}

void PoolDecisions::Open(size_t address, bool surplus, SteadyTime now,
                     Actions& actions, uint64_t replaces) {
  MemberRecord member;
  member.id = next_id_++;
  member.address = address;
  member.opened_at = now;
  member.surplus = surplus;
  member.replaces = replaces;
  member.health = policy_.health_checks ? MemberHealth::kUnknown
                                        : MemberHealth::kNotChecked;
  ++addresses_[address].members;
  actions.open.emplace_back(member.id, address);
  std::string why;
  if (surplus) why = "to spread members over more backends";
  if (replaces != 0) {
    why = absl::StrCat("to replace #", replaces, ", on the old TLS material");
  }
  Record(now, PoolEvent::Kind::kMemberOpened, LogSeverity::kInfo, member,
         std::move(why), actions);
  members_.emplace(member.id, std::move(member));
}

void PoolDecisions::Close(uint64_t id, EvictionReason reason, LogSeverity severity,
                      std::string detail, SteadyTime now, Actions& actions) {
  auto it = members_.find(id);
  if (it == members_.end()) return;
  ++counters_.evictions[static_cast<size_t>(reason)];
  // A member opened to replace this one now stands on its own.
  for (auto& [other_id, other] : members_) {
    if (other.replaces == id) other.replaces = 0;
  }
  Record(now, PoolEvent::Kind::kMemberEvicted, severity, it->second,
         std::move(detail), actions);
  --addresses_[it->second.address].members;
  actions.close.push_back(id);
  members_.erase(it);
}

void PoolDecisions::Evict(MemberRecord& member, SteadyTime now, Actions& actions,
                      std::string why) {
  if (why.empty())
    why = absl::StrCat("unhealthy; last check: ", member.last_check);
  AddressRecord& address = addresses_[member.address];
  // Members evicted together (e.g. all on one dead backend) count as one
  // failure of the address, and a running backoff is never shortened.
  const bool backing_off = address.failures > 0 && address.retry_at > now;
  if (!backing_off) ++address.failures;
  const Nanos backoff = Backoff(address.failures);
  address.retry_at = std::max(address.retry_at, now + backoff);
  const uint64_t id = member.id;
  Close(id, EvictionReason::kUnhealthy, LogSeverity::kWarning, std::move(why),
        now, actions);
  Record(now, PoolEvent::Kind::kAddressBackoff, LogSeverity::kInfo, 0,
         address.address.display,
         absl::StrCat("no new member for ", FormatDuration(backoff), " (",
                      address.failures, " evictions in a row)"),
         actions);
}

void PoolDecisions::MemberBecameHealthy(MemberRecord& member, SteadyTime now,
                                    Actions& actions) {
  AddressRecord& address = addresses_[member.address];
  address.failures = 0;
  address.retry_at = SteadyTime{};
  if (policy_.health_checks) {
    Record(now, PoolEvent::Kind::kMemberHealthy, LogSeverity::kInfo, member,
           member.last_check, actions);
  }
  if (member.replaces != 0) {
    const uint64_t old = member.replaces;
    member.replaces = 0;
    Close(old, EvictionReason::kRecycled, LogSeverity::kInfo,
          absl::StrCat("recycled: #", member.id,
                       " on the new TLS material serves in its place"),
          now, actions);
  }
  if (member.surplus) {
    member.surplus = false;
    // Its address left DNS meanwhile: DrainStale() closes it when it is not
    // needed; it retires nobody.
    if (addresses_[member.address].stale) return;
    // Nothing to move any more (e.g. the addresses changed meanwhile): the
    // pool would be over its size, so the surplus member goes instead.
    if (!Retire(member, now, actions)) {
      Close(member.id, EvictionReason::kRebalanced, LogSeverity::kInfo,
            "not needed any more: members are spread evenly and by rank",
            now, actions);
    }
  }
}

void PoolDecisions::DrainStale(SteadyTime now, Actions& actions) {
  bool current_pickable = false;
  for (const auto& [id, member] : members_) {
    current_pickable |=
        !addresses_[member.address].stale && TierOf(member) == Tier::kPickable;
  }
  // Serving wins: members on stale addresses stay while the channel is
  // degraded, and otherwise hand over one for one: each member on a current
  // address that is pickable lets one stale member go (those not pickable
  // first, then the oldest), so capacity does not drop when a fleet moves.
  if (current_pickable && !degraded_) {
    int pickable_current = 0;
    std::vector<uint64_t> stale;
    for (const auto& [id, member] : members_) {
      if (addresses_[member.address].stale) {
        stale.push_back(id);
      } else {
        pickable_current += TierOf(member) == Tier::kPickable;
      }
    }
    std::stable_partition(stale.begin(), stale.end(), [&](uint64_t id) {
      return TierOf(members_.at(id)) != Tier::kPickable;
    });
    const int keep = std::max(0, target_size_ - pickable_current);
    const int close = static_cast<int>(stale.size()) - keep;
    for (int i = 0; i < close; ++i) {
      Close(stale[static_cast<size_t>(i)], EvictionReason::kAddressRemoved,
            LogSeverity::kInfo,
            "address left DNS; calls in flight finish on its connection", now,
            actions);
    }
  }
  // Forget stale addresses without members (indices of the rest shift).
  if (std::none_of(
          addresses_.begin(), addresses_.end(),
          [](const AddressRecord& a) { return a.stale && a.members == 0; })) {
    return;
  }
  std::vector<size_t> new_index(addresses_.size());
  std::vector<AddressRecord> kept;
  for (size_t i = 0; i < addresses_.size(); ++i) {
    new_index[i] = kept.size();
    if (!(addresses_[i].stale && addresses_[i].members == 0)) {
      kept.push_back(std::move(addresses_[i]));
    }
  }
  addresses_ = std::move(kept);
  for (auto& [id, member] : members_)
    member.address = new_index[member.address];
}

int PoolDecisions::MostCrowded(int except) const {
  int most = -1;
  for (size_t i = 0; i < addresses_.size(); ++i) {
    const AddressRecord& address = addresses_[i];
    if (address.stale || address.members == 0 || static_cast<int>(i) == except) {
      continue;
    }
    if (most < 0 || address.members > addresses_[most].members ||
        (address.members == addresses_[most].members &&
         address.rank > addresses_[most].rank)) {
      most = static_cast<int>(i);
    }
  }
  return most;
}

bool PoolDecisions::Improves(size_t to, int to_members, size_t from) const {
  const AddressRecord& a = addresses_[to];
  const AddressRecord& b = addresses_[from];
  return to_members <= b.members - 2 ||
         (to_members == b.members - 1 && a.rank < b.rank);
}

bool PoolDecisions::Retire(const MemberRecord& keep, SteadyTime now,
                           Actions& actions) {
  // Is keep's address, without keep, still one a member should move to from
  // the most crowded (worst-ranked) other address? Then retire one there: a
  // member that is not serving if there is one, else the youngest.
  const AddressRecord& to = addresses_[keep.address];
  const int from = MostCrowded(static_cast<int>(keep.address));
  if (from < 0 || !Improves(keep.address, to.members - 1,
                            static_cast<size_t>(from))) {
    return false;
  }
  const MemberRecord* victim = nullptr;
  for (const auto& [id, member] : members_) {
    if (member.address != static_cast<size_t>(from)) continue;
    auto serving = [&](const MemberRecord& m) {
      return Healthy(m) && !m.ejected;
    };
    if (victim == nullptr || (serving(*victim) && !serving(member)) ||
        serving(*victim) == serving(member)) {
      victim = &member;
    }
  }
  const AddressRecord& address = addresses_[static_cast<size_t>(from)];
  Close(victim->id, EvictionReason::kRebalanced, LogSeverity::kInfo,
        absl::StrCat("rebalanced: #", keep.id, " on ", to.address.display,
                     " (rank ", to.rank, ", now ", to.members,
                     " members) serves instead; ", address.address.display,
                     " (rank ", address.rank, ") had ", address.members),
        now, actions);
  return true;
}

bool PoolDecisions::Shrink(SteadyTime now, Actions& actions) {
  // The member the pool misses least: one taken out of service (ejected,
  // suspected, unhealthy), then in rebalancing's order: on the most
  // crowded, then worst-ranked address, the youngest. Not one a pending
  // replacement (TLS recycling) is to replace: that would make the
  // replacement wanted, and a second member go.
  auto out_of_service = [&](const MemberRecord& m) {
    return m.ejected || m.suspected || m.health == MemberHealth::kUnhealthy;
  };
  std::vector<uint64_t> replaced;
  for (const auto& [id, member] : members_) {
    if (member.replaces != 0) replaced.push_back(member.replaces);
  }
  const MemberRecord* victim = nullptr;
  auto key = [&](const MemberRecord& m) {
    const AddressRecord& address = addresses_[m.address];
    return std::make_tuple(out_of_service(m), address.members, address.rank,
                           m.id);
  };
  for (const auto& [id, member] : members_) {
    if (!Wanted(member) ||
        std::find(replaced.begin(), replaced.end(), id) != replaced.end()) {
      continue;
    }
    if (victim == nullptr || key(member) > key(*victim)) victim = &member;
  }
  if (victim == nullptr) return false;
  // A member out of service leaves its address backing off (until its
  // ejection would have ended, or as an eviction would), so that
  // rebalancing does not open a new member there at once and retire a
  // serving one for it.
  if (out_of_service(*victim)) {
    AddressRecord& address = addresses_[victim->address];
    if (!(address.failures > 0 && address.retry_at > now)) ++address.failures;
    address.retry_at =
        std::max(address.retry_at, victim->ejected
                                       ? victim->ejected_until
                                       : now + Backoff(address.failures));
  }
  // Load took the size down, or there is one member too many for another
  // reason (an address that had left DNS came back before its replacement
  // was healthy).
  if (shrinks_due_ > 0) {
    --shrinks_due_;
    Close(victim->id, EvictionReason::kShrunk, LogSeverity::kInfo,
          absl::StrCat("the pool shrank to ", target_size_,
                       " members; calls in flight finish on its connection"),
          now, actions);
  } else {
    Close(victim->id, EvictionReason::kRebalanced, LogSeverity::kInfo,
          absl::StrCat("one member more than the ", target_size_,
                       " wanted; calls in flight finish on its connection"),
          now, actions);
  }
  return true;
}

bool PoolDecisions::Wanted(const MemberRecord& member) const {
  return !member.surplus && member.replaces == 0 &&
         !addresses_[member.address].stale;
}

void PoolDecisions::Rank() {
  std::vector<std::string> keys;
  std::vector<size_t> current;
  for (size_t i = 0; i < addresses_.size(); ++i) {
    if (addresses_[i].stale) {
      addresses_[i].rank = UINT32_MAX;
    } else {
      keys.push_back(addresses_[i].address.grpc_target);
      current.push_back(i);
    }
  }
  const std::vector<uint32_t> ranks = RankAddresses(policy_.subset, keys);
  for (size_t k = 0; k < current.size(); ++k) {
    addresses_[current[k]].rank = ranks[k];
  }
}

bool PoolDecisions::CanOpenOtherThan(size_t except, SteadyTime now) const {
  for (size_t i = 0; i < addresses_.size(); ++i) {
    const AddressRecord& address = addresses_[i];
    if (i != except && !address.stale &&
        !(address.failures > 0 && address.retry_at > now)) {
      return true;
    }
  }
  return false;
}

int PoolDecisions::ChooseAddress(SteadyTime now) const {
  int best = -1;
  for (size_t i = 0; i < addresses_.size(); ++i) {
    const AddressRecord& address = addresses_[i];
    if (address.stale) continue;
    if (address.failures > 0 && address.retry_at > now) continue;
    if (best < 0 || address.members < addresses_[best].members ||
        (address.members == addresses_[best].members &&
         address.rank < addresses_[best].rank)) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

Nanos PoolDecisions::Backoff(int failures) {
  double nanos = static_cast<double>(policy_.backoff_initial.count()) *
                 std::pow(policy_.backoff_multiplier, failures - 1);
  nanos = std::min(nanos, static_cast<double>(policy_.backoff_max.count()));
  std::uniform_real_distribution<double> jitter(-policy_.backoff_jitter,
                                                policy_.backoff_jitter);
  return Nanos(static_cast<int64_t>(nanos * (1 + jitter(random_))));
}

void PoolDecisions::Record(SteadyTime now, PoolEvent::Kind kind,
                       LogSeverity severity, uint64_t member_id,
                       std::string address, std::string detail,
                       Actions& actions) {
  Event event{
      now, kind, severity, member_id, std::move(address), std::move(detail)};
  if (policy_.event_log_size > 0) {
    events_.push_back(event);
    while (events_.size() > policy_.event_log_size) events_.pop_front();
  }
  actions.events.push_back(std::move(event));
}

void PoolDecisions::Record(SteadyTime now, PoolEvent::Kind kind,
                       LogSeverity severity, const MemberRecord& member,
                       std::string detail, Actions& actions) {
  Record(now, kind, severity, member.id,
         addresses_[member.address].address.display, std::move(detail),
         actions);
}

}  // namespace internal
}  // namespace warm
