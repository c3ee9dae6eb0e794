// Unit tests of PoolDecisions, the pool's decisions without gRPC: a fake steady
// clock advanced by hand, seeded randomness, no sleeps.

#include "src/pool/pool_decisions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace warm {
namespace internal {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

using std::chrono::milliseconds;
using std::chrono::seconds;
using Actions = PoolDecisions::Actions;
using Event = PoolDecisions::Event;
using Kind = PoolEvent::Kind;
using Tier = PoolDecisions::Tier;

// "10.0.0.1:1" ... "10.0.0.N:1".
std::vector<Address> Addresses(int n) {
  std::vector<Address> addresses;
  for (int i = 1; i <= n; ++i) {
    const std::string display = "10.0.0." + std::to_string(i) + ":1";
    addresses.push_back(Address{"ipv4:" + display, display});
  }
  return addresses;
}

PoolPolicy Policy(int pool_size) {
  PoolPolicy policy;
  policy.pool_size = pool_size;
  return policy;
}

std::vector<Kind> Kinds(const std::vector<Event>& events) {
  std::vector<Kind> kinds;
  for (const Event& event : events) kinds.push_back(event.kind);
  return kinds;
}

// Whether `events` holds an event of `kind` about `member` (0: any member).
template <typename Events>
bool HasEvent(const Events& events, Kind kind, uint64_t member = 0) {
  return std::any_of(events.begin(), events.end(), [&](const Event& event) {
    return event.kind == kind && (member == 0 || event.member_id == member);
  });
}

bool HasEvent(const Actions& actions, Kind kind, uint64_t member = 0) {
  return HasEvent(actions.events, kind, member);
}

std::vector<uint64_t> OpenedIds(const Actions& actions) {
  std::vector<uint64_t> ids;
  for (const auto& [id, address] : actions.open) ids.push_back(id);
  return ids;
}

std::vector<size_t> OpenedAddresses(const Actions& actions) {
  std::vector<size_t> addresses;
  for (const auto& [id, address] : actions.open) addresses.push_back(address);
  return addresses;
}

// A PoolDecisions with a fake clock and short-hands for its inputs.
struct Harness {
  Harness(PoolPolicy policy, int addresses, uint64_t seed = 1)
      : state(policy, Addresses(addresses), seed) {}

  Actions Start() { return state.Start(now); }
  Actions Connectivity(uint64_t id, grpc_connectivity_state connectivity) {
    return state.OnConnectivity(id, connectivity, now);
  }
  Actions Ready(uint64_t id) { return Connectivity(id, GRPC_CHANNEL_READY); }
  Actions Disconnect(uint64_t id) {
    return Connectivity(id, GRPC_CHANNEL_TRANSIENT_FAILURE);
  }
  Actions Serve(uint64_t id) {
    return state.OnCheck(id, CheckOutcome::kServing, "SERVING", now);
  }
  Actions Fail(uint64_t id) {
    return state.OnCheck(id, CheckOutcome::kNotServing, "NOT_SERVING", now);
  }
  // unhealthy_threshold failed checks; the actions of the last one.
  Actions FailUntilUnhealthy(uint64_t id) {
    Actions last;
    for (int i = 0; i < state.policy().unhealthy_threshold; ++i) {
      last = Fail(id);
    }
    return last;
  }
  // READY, then one SERVING check; the actions of the check.
  Actions MakeHealthy(uint64_t id) {
    Ready(id);
    return Serve(id);
  }
  Actions CallFailures(uint64_t id) { return state.OnCallFailures(id, now); }
  Actions Timer() { return state.OnTimer(now); }

  bool Has(uint64_t id) const { return state.members().count(id) > 0; }
  const PoolDecisions::MemberRecord& Member(uint64_t id) const {
    return state.members().at(id);
  }
  Tier TierOf(uint64_t id) const { return state.TierOf(Member(id)); }
  size_t AddressOf(uint64_t id) const { return Member(id).address; }
  const PoolDecisions::AddressRecord& Addr(size_t index) const {
    return state.addresses().at(index);
  }
  std::vector<uint64_t> Ids() const {
    std::vector<uint64_t> ids;
    for (const auto& [id, member] : state.members()) ids.push_back(id);
    return ids;
  }
  std::vector<int> MembersPerAddress() const {
    std::vector<int> counts;
    for (const auto& address : state.addresses()) {
      counts.push_back(address.members);
    }
    return counts;
  }

  PoolDecisions state;
  // Far from the clock's epoch: SteadyTime{} means "unset" in the records.
  SteadyTime now = SteadyTime{} + std::chrono::hours(1);
};

// --- 1. Start ---------------------------------------------------------------

TEST(PoolDecisionsStartTest, OpensPoolSizeMembersOnDistinctAddresses) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SCOPED_TRACE(seed);
    Harness pool(Policy(3), 3, seed);
    const Actions actions = pool.Start();
    ASSERT_THAT(actions.open, SizeIs(3));
    EXPECT_THAT(OpenedAddresses(actions), UnorderedElementsAre(0u, 1u, 2u));
    const std::vector<uint64_t> ids = OpenedIds(actions);
    EXPECT_EQ(std::set<uint64_t>(ids.begin(), ids.end()).size(), 3u);
    EXPECT_THAT(pool.Ids(), UnorderedElementsAreArray(ids));
    EXPECT_THAT(pool.MembersPerAddress(), ElementsAre(1, 1, 1));
    EXPECT_THAT(actions.close, IsEmpty());
    EXPECT_THAT(Kinds(actions.events),
                ElementsAre(Kind::kMemberOpened, Kind::kMemberOpened,
                            Kind::kMemberOpened));
    for (uint64_t id : ids) {
      EXPECT_EQ(pool.Member(id).health, MemberHealth::kUnknown);
      EXPECT_EQ(pool.TierOf(id), Tier::kTrying);
      EXPECT_FALSE(pool.Member(id).surplus);
    }
    EXPECT_TRUE(actions.health_changed);
    EXPECT_EQ(pool.state.health().status, ChannelStatus::kStarting);
    EXPECT_EQ(pool.state.health().members, 3);
    EXPECT_EQ(pool.state.health().healthy_members, 0);
  }
}

TEST(PoolDecisionsStartTest, SpreadsFiveMembersThreeAndTwoOverTwoAddresses) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SCOPED_TRACE(seed);
    Harness pool(Policy(5), 2, seed);
    const Actions actions = pool.Start();
    ASSERT_THAT(actions.open, SizeIs(5));
    std::vector<int> counts = pool.MembersPerAddress();
    std::sort(counts.begin(), counts.end());
    EXPECT_THAT(counts, ElementsAre(2, 3));
    EXPECT_THAT(pool.Ids(), SizeIs(5));
  }
}

TEST(PoolDecisionsStartTest, PutsEveryMemberOnTheOnlyAddress) {
  Harness pool(Policy(2), 1);
  const Actions actions = pool.Start();
  EXPECT_THAT(OpenedAddresses(actions), ElementsAre(0u, 0u));
  EXPECT_THAT(pool.MembersPerAddress(), ElementsAre(2));
  EXPECT_THAT(pool.Ids(), SizeIs(2));
}

// --- 2. First health check --------------------------------------------------

TEST(PoolDecisionsHealthTest, ReadyMemberIsTryingUntilItsFirstServingCheck) {
  Harness pool(Policy(3), 3);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  EXPECT_EQ(pool.TierOf(id), Tier::kTrying);  // IDLE

  Actions actions = pool.Ready(id);
  EXPECT_EQ(pool.TierOf(id), Tier::kTrying);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kUnknown);
  EXPECT_FALSE(pool.state.Healthy(pool.Member(id)));
  EXPECT_FALSE(HasEvent(actions, Kind::kMemberHealthy));
  EXPECT_EQ(pool.state.health().healthy_members, 0);

  actions = pool.Serve(id);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kHealthy);
  EXPECT_TRUE(pool.state.Healthy(pool.Member(id)));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberHealthy, id));
  EXPECT_EQ(pool.Member(id).last_check, "SERVING");
  EXPECT_EQ(pool.Member(id).last_check_at, pool.now);
  EXPECT_TRUE(actions.health_changed);
  EXPECT_EQ(pool.state.health().healthy_members, 1);
}

TEST(PoolDecisionsHealthTest, ServingBeforeReadyMakesTheMemberPickableWhenReady) {
  Harness pool(Policy(3), 3);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  pool.Connectivity(id, GRPC_CHANNEL_CONNECTING);

  Actions actions = pool.Serve(id);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kHealthy);
  EXPECT_EQ(pool.TierOf(id), Tier::kTrying);  // not connected yet
  EXPECT_FALSE(pool.state.Healthy(pool.Member(id)));
  EXPECT_EQ(pool.state.health().healthy_members, 0);

  actions = pool.Ready(id);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  EXPECT_TRUE(pool.state.Healthy(pool.Member(id)));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberHealthy, id));
  EXPECT_EQ(pool.state.health().healthy_members, 1);
}

// --- 3. Thresholds ----------------------------------------------------------

TEST(PoolDecisionsHealthTest, UnhealthyAtTheThresholdEvictedAndReplacedElsewhere) {
  PoolPolicy policy = Policy(3);
  policy.unhealthy_threshold = 3;
  Harness pool(policy, 4);  // one address stays free
  pool.Start();
  const std::vector<uint64_t> ids = pool.Ids();
  for (uint64_t id : ids) pool.MakeHealthy(id);
  size_t free_address = 4;
  for (size_t i = 0; i < 4; ++i) {
    if (pool.Addr(i).members == 0) free_address = i;
  }
  ASSERT_LT(free_address, 4u);
  const uint64_t victim = ids[0];
  const size_t victim_address = pool.AddressOf(victim);

  for (int i = 0; i < 2; ++i) {
    const Actions actions = pool.Fail(victim);
    EXPECT_THAT(actions.close, IsEmpty());
    EXPECT_THAT(actions.open, IsEmpty());
    EXPECT_EQ(pool.Member(victim).health, MemberHealth::kHealthy);
    EXPECT_EQ(pool.TierOf(victim), Tier::kPickable);
    EXPECT_FALSE(HasEvent(actions, Kind::kMemberUnhealthy));
  }
  EXPECT_EQ(pool.Member(victim).failures, 2);

  const Actions actions = pool.Fail(victim);
  EXPECT_THAT(actions.close, ElementsAre(victim));
  EXPECT_FALSE(pool.Has(victim));
  ASSERT_THAT(actions.open, SizeIs(1));
  const auto [new_id, new_address] = actions.open[0];
  EXPECT_THAT(ids, Not(Contains(new_id)));
  EXPECT_NE(new_address, victim_address);
  EXPECT_EQ(new_address, free_address);
  EXPECT_TRUE(pool.Has(new_id));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberUnhealthy, victim));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberEvicted, victim));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberOpened, new_id));
  EXPECT_TRUE(HasEvent(pool.state.events(), Kind::kMemberUnhealthy, victim));
  EXPECT_TRUE(HasEvent(pool.state.events(), Kind::kMemberEvicted, victim));
  EXPECT_EQ(pool.Addr(victim_address).members, 0);
  EXPECT_EQ(pool.Addr(victim_address).failures, 1);
  EXPECT_THAT(pool.Ids(), SizeIs(3));
}

TEST(PoolDecisionsHealthTest, ASuccessBetweenFailuresResetsTheCount) {
  PoolPolicy policy = Policy(3);
  policy.unhealthy_threshold = 3;
  Harness pool(policy, 3);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);  // not degraded later
  const uint64_t id = pool.Ids()[0];

  pool.Fail(id);
  pool.Fail(id);
  pool.Serve(id);
  EXPECT_EQ(pool.Member(id).failures, 0);
  pool.Fail(id);
  Actions actions = pool.Fail(id);
  EXPECT_TRUE(pool.Has(id));
  EXPECT_THAT(actions.close, IsEmpty());
  EXPECT_EQ(pool.Member(id).failures, 2);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kHealthy);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);

  actions = pool.Fail(id);
  EXPECT_THAT(actions.close, ElementsAre(id));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberUnhealthy, id));
}

// --- 4. UNIMPLEMENTED -------------------------------------------------------

TEST(PoolDecisionsHealthTest, UnimplementedMeansNoHealthServiceAndPickable) {
  Harness pool(Policy(3), 3);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  pool.Ready(id);
  const Actions actions = pool.state.OnCheck(id, CheckOutcome::kUnimplemented,
                                             "UNIMPLEMENTED", pool.now);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kNoHealthService);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  EXPECT_TRUE(pool.state.Healthy(pool.Member(id)));
  EXPECT_THAT(actions.close, IsEmpty());
  EXPECT_EQ(pool.state.health().healthy_members, 1);
}

// --- 5. Health checks off ---------------------------------------------------

TEST(PoolDecisionsHealthTest, WithChecksOffReadyIsPickableAndChecksAreIgnored) {
  PoolPolicy policy = Policy(3);
  policy.health_checks = false;
  Harness pool(policy, 3);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kNotChecked);
  EXPECT_EQ(pool.TierOf(id), Tier::kTrying);

  pool.Ready(id);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kNotChecked);
  EXPECT_EQ(pool.state.health().healthy_members, 1);

  for (int i = 0; i < 5; ++i) {
    const Actions actions = pool.Fail(id);
    EXPECT_THAT(actions.close, IsEmpty());
    EXPECT_THAT(actions.open, IsEmpty());
    EXPECT_THAT(actions.events, IsEmpty());
  }
  pool.state.OnCheck(id, CheckOutcome::kServing, "SERVING", pool.now);
  ASSERT_TRUE(pool.Has(id));
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kNotChecked);
  EXPECT_EQ(pool.Member(id).failures, 0);
  EXPECT_EQ(pool.Member(id).last_check, "");
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
}

// --- 6. Per-address backoff -------------------------------------------------

TEST(PoolDecisionsBackoffTest, EvictionBacksOffTheAddressWithinTheJitter) {
  std::set<SteadyTime> retry_times;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SCOPED_TRACE(seed);
    // Two members on one address, so that one can be evicted (the last
    // member of a pool is never evicted while it cannot be replaced).
    PoolPolicy policy = Policy(2);  // backoff 500 ms, jitter 0.5
    Harness pool(policy, 1, seed);
    pool.Start();
    const uint64_t id = pool.Ids()[0];
    const Actions actions = pool.FailUntilUnhealthy(id);
    EXPECT_THAT(actions.close, ElementsAre(id));
    EXPECT_THAT(actions.open, IsEmpty());  // the only address backs off
    EXPECT_TRUE(HasEvent(actions, Kind::kAddressBackoff));
    const PoolDecisions::AddressRecord& address = pool.Addr(0);
    EXPECT_EQ(address.failures, 1);
    EXPECT_GE(address.retry_at, pool.now + milliseconds(250));
    EXPECT_LE(address.retry_at, pool.now + milliseconds(750));
    EXPECT_EQ(pool.state.NextDeadline(), address.retry_at);
    retry_times.insert(address.retry_at);
  }
  EXPECT_GT(retry_times.size(), 1u) << "no jitter applied";
}

PoolPolicy ExactBackoffPolicy(int pool_size) {
  PoolPolicy policy = Policy(pool_size);
  policy.backoff_initial = milliseconds(100);
  policy.backoff_multiplier = 2;
  policy.backoff_max = milliseconds(350);
  policy.backoff_jitter = 0;
  return policy;
}

TEST(PoolDecisionsBackoffTest, NoReplacementOnTheOnlyAddressUntilItsBackoffEnds) {
  Harness pool(ExactBackoffPolicy(2), 1);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  const uint64_t other = pool.Ids()[1];
  pool.FailUntilUnhealthy(id);
  const SteadyTime retry_at = pool.Addr(0).retry_at;
  EXPECT_EQ(retry_at, pool.now + milliseconds(100));
  EXPECT_EQ(pool.state.NextDeadline(), retry_at);
  EXPECT_THAT(pool.Ids(), ElementsAre(other));

  pool.now = retry_at - std::chrono::nanoseconds(1);
  Actions actions = pool.Timer();
  EXPECT_THAT(actions.open, IsEmpty());
  EXPECT_THAT(pool.Ids(), ElementsAre(other));

  pool.now = retry_at;
  actions = pool.Timer();
  ASSERT_THAT(actions.open, SizeIs(1));
  EXPECT_EQ(actions.open[0].second, 0u);
  EXPECT_THAT(actions.open[0].first, Not(id));
  EXPECT_THAT(pool.Ids(), ElementsAre(other, actions.open[0].first));
}

TEST(PoolDecisionsBackoffTest, TheLastMemberStaysWhileItCannotBeReplaced) {
  Harness pool(ExactBackoffPolicy(1), 1);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  const Actions actions = pool.FailUntilUnhealthy(id);
  EXPECT_THAT(actions.close, IsEmpty());
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kUnhealthy);
  EXPECT_THAT(pool.Ids(), ElementsAre(id));  // calls still have a member
  // It comes back on its own connection.
  pool.Serve(id);
  pool.Serve(id);  // healthy_threshold 2
  pool.Ready(id);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
}

TEST(PoolDecisionsBackoffTest, TheLastMemberGoesWhenAnotherAddressIsFree) {
  PoolPolicy policy = ExactBackoffPolicy(1);
  policy.critical_min = 0;
  Harness pool(policy, 2);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  const size_t address = pool.AddressOf(id);
  const Actions actions = pool.FailUntilUnhealthy(id);
  EXPECT_THAT(actions.close, ElementsAre(id));
  ASSERT_THAT(actions.open, SizeIs(1));
  EXPECT_NE(actions.open[0].second, address);
  EXPECT_THAT(pool.Ids(), SizeIs(1));
}

TEST(PoolDecisionsBackoffTest, MembersEvictedTogetherCountAsOneFailure) {
  PoolPolicy policy = ExactBackoffPolicy(3);
  policy.critical_min = 0;
  Harness pool(policy, 2);
  pool.Start();
  // Two members share one address; both fail at the same time.
  std::vector<uint64_t> shared;
  for (uint64_t id : pool.Ids()) {
    if (pool.state.addresses()[pool.AddressOf(id)].members == 2) {
      shared.push_back(id);
    }
  }
  ASSERT_THAT(shared, SizeIs(2));
  const size_t address = pool.AddressOf(shared[0]);
  pool.FailUntilUnhealthy(shared[0]);
  const SteadyTime first_retry = pool.Addr(address).retry_at;
  pool.FailUntilUnhealthy(shared[1]);
  EXPECT_EQ(pool.Addr(address).failures, 1);
  EXPECT_EQ(pool.Addr(address).retry_at, first_retry);  // not shortened
}

TEST(PoolDecisionsBackoffTest, GrowsByTheMultiplierIsCappedAndResetsWhenHealthy) {
  // Two members on one address: the second stays while the first is evicted
  // again and again (the last member is never evicted while it cannot be
  // replaced).
  PoolPolicy policy = ExactBackoffPolicy(2);
  // Else losing the one healthy member at the end degrades the channel, and
  // a degraded channel keeps a connected unhealthy member.
  policy.critical_min = 0;
  Harness pool(policy, 1);
  pool.Start();
  uint64_t id = pool.Ids()[0];
  const std::vector<milliseconds> expected = {
      milliseconds(100), milliseconds(200), milliseconds(350),
      milliseconds(350)};
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    pool.FailUntilUnhealthy(id);
    ASSERT_FALSE(pool.Has(id));
    EXPECT_EQ(pool.Addr(0).failures, static_cast<int>(i + 1));
    EXPECT_EQ(pool.Addr(0).retry_at, pool.now + expected[i]);
    EXPECT_EQ(pool.state.NextDeadline(), pool.now + expected[i]);
    pool.now = pool.Addr(0).retry_at;
    const Actions actions = pool.Timer();
    ASSERT_THAT(actions.open, SizeIs(1));
    id = actions.open[0].first;
  }

  // A healthy member on the address resets its backoff.
  pool.MakeHealthy(id);
  EXPECT_EQ(pool.Addr(0).failures, 0);
  EXPECT_EQ(pool.state.NextDeadline(), SteadyTime::max());
  pool.now += seconds(1);
  pool.FailUntilUnhealthy(id);
  EXPECT_EQ(pool.Addr(0).failures, 1);
  EXPECT_EQ(pool.Addr(0).retry_at, pool.now + milliseconds(100));
}

// NextDeadline() is "when OnTimer() next has something to do": once an
// address's backoff has run out (and its replacement is open) there is
// nothing left to wait for. A deadline in the past makes the pool re-arm its
// timer for "now" after every OnTimer(), i.e. spin, until a member on that
// address becomes healthy (which may never happen).
TEST(PoolDecisionsBackoffTest, NextDeadlineIsNotInThePastOnceABackoffRanOut) {
  Harness pool(ExactBackoffPolicy(2), 1);
  pool.Start();
  pool.FailUntilUnhealthy(pool.Ids()[0]);
  pool.now = pool.Addr(0).retry_at;
  const Actions actions = pool.Timer();
  ASSERT_THAT(actions.open, SizeIs(1));

  // Nothing is left for OnTimer() to do...
  pool.now += milliseconds(1);
  const Actions again = pool.Timer();
  EXPECT_THAT(again.open, IsEmpty());
  EXPECT_THAT(again.close, IsEmpty());
  EXPECT_THAT(again.events, IsEmpty());
  // ...so the next deadline must not be one that has already passed.
  EXPECT_GT(pool.state.NextDeadline(), pool.now)
      << "NextDeadline() is "
      << std::chrono::duration_cast<milliseconds>(pool.now -
                                                  pool.state.NextDeadline())
             .count()
      << " ms in the past (the expired retry_at of an address whose member "
         "is not healthy yet)";
}

// The same with an address nobody needs any more: 4 addresses, pool_size 3,
// the evicted member's replacement went to the free address. Its failures
// stay > 0 for good (no member there will become healthy), so an expired
// retry_at returned here would keep the pool's timer firing forever.
TEST(PoolDecisionsBackoffTest, NextDeadlineForgetsAnExpiredBackoffNobodyNeeds) {
  PoolPolicy policy = ExactBackoffPolicy(3);
  Harness pool(policy, 4);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  const uint64_t victim = pool.Ids()[0];
  const size_t address = pool.AddressOf(victim);
  const Actions evicted = pool.FailUntilUnhealthy(victim);
  ASSERT_THAT(evicted.open, SizeIs(1));
  EXPECT_NE(evicted.open[0].second, address);
  EXPECT_EQ(pool.state.NextDeadline(), pool.now + milliseconds(100));

  pool.now += milliseconds(100);
  const Actions actions = pool.Timer();
  EXPECT_THAT(actions.open, IsEmpty());  // balanced: nothing to open there
  pool.now += seconds(60);
  EXPECT_THAT(pool.Timer().events, IsEmpty());
  EXPECT_GT(pool.state.NextDeadline(), pool.now)
      << "NextDeadline() is still the retry_at of "
      << pool.Addr(address).address.display << ", which ran out 60 s ago";
}

// --- 7. Degraded mode -------------------------------------------------------

TEST(PoolDecisionsDegradedTest, NeverDegradedDuringStartUp) {
  Harness pool(Policy(3), 3);  // critical_min 1
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.Disconnect(id);
  pool.Fail(pool.Ids()[0]);  // below the threshold of 2
  pool.now += seconds(10);
  pool.Timer();
  EXPECT_FALSE(pool.state.degraded());
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kStarting);
  EXPECT_EQ(pool.state.health().healthy_members, 0);
  EXPECT_FALSE(HasEvent(pool.state.events(), Kind::kDegradedEntered));

  // Once critical_min members were healthy, losing them does degrade.
  const uint64_t id = pool.Ids()[1];
  pool.MakeHealthy(id);
  const Actions actions = pool.Disconnect(id);
  EXPECT_TRUE(pool.state.degraded());
  EXPECT_TRUE(HasEvent(actions, Kind::kDegradedEntered));
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kDegraded);
}

TEST(PoolDecisionsDegradedTest, ConnectedUnhealthyMembersStayUntilDegradedIsLeft) {
  PoolPolicy policy = Policy(3);
  policy.critical_min = 2;
  policy.healthy_min = 3;
  Harness pool(policy, 3);
  pool.Start();
  const std::vector<uint64_t> ids = pool.Ids();
  const uint64_t m1 = ids[0], m2 = ids[1], m3 = ids[2];
  for (uint64_t id : ids) pool.MakeHealthy(id);
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kHealthy);

  // 2 healthy: not degraded yet.
  pool.Disconnect(m1);
  EXPECT_FALSE(pool.state.degraded());
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kUnhealthy);

  // 1 healthy: degraded; the connected unhealthy m2 stays and takes calls.
  Actions actions = pool.FailUntilUnhealthy(m2);
  EXPECT_TRUE(pool.state.degraded());
  EXPECT_TRUE(HasEvent(actions, Kind::kDegradedEntered));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberUnhealthy, m2));
  EXPECT_TRUE(actions.health_changed);
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kDegraded);
  EXPECT_THAT(actions.close, IsEmpty());
  EXPECT_THAT(actions.open, IsEmpty());
  ASSERT_TRUE(pool.Has(m2));
  EXPECT_EQ(pool.Member(m2).health, MemberHealth::kUnhealthy);
  EXPECT_EQ(pool.TierOf(m2), Tier::kPickable);
  actions = pool.Fail(m2);
  EXPECT_THAT(actions.close, IsEmpty());
  EXPECT_TRUE(pool.Has(m2));

  // The disconnected m1 turning unhealthy is evicted even while degraded.
  actions = pool.FailUntilUnhealthy(m1);
  EXPECT_THAT(actions.close, ElementsAre(m1));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberEvicted, m1));
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t m4 = actions.open[0].first;
  EXPECT_TRUE(pool.state.degraded());
  EXPECT_TRUE(pool.Has(m2));

  // m4 healthy: 2 healthy again, degraded is left and m2 is evicted now.
  pool.Ready(m4);
  EXPECT_TRUE(pool.state.degraded());
  actions = pool.Serve(m4);
  EXPECT_FALSE(pool.state.degraded());
  EXPECT_TRUE(HasEvent(actions, Kind::kDegradedLeft));
  EXPECT_THAT(actions.close, ElementsAre(m2));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberEvicted, m2));
  EXPECT_FALSE(pool.Has(m2));
  ASSERT_THAT(actions.open, SizeIs(1));  // m2's replacement
  EXPECT_THAT(pool.Ids(), Contains(m3));
  EXPECT_THAT(pool.Ids(), SizeIs(3));
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kUnhealthy);
  EXPECT_EQ(pool.state.health().healthy_members, 2);
}

TEST(PoolDecisionsDegradedTest, UnhealthyMemberThatDisconnectsWhileDegradedGoes) {
  Harness pool(Policy(2), 2);  // critical_min 1
  pool.Start();
  const uint64_t m1 = pool.Ids()[0], m2 = pool.Ids()[1];
  pool.MakeHealthy(m1);
  pool.MakeHealthy(m2);
  pool.Disconnect(m1);
  pool.FailUntilUnhealthy(m2);
  ASSERT_TRUE(pool.state.degraded());
  ASSERT_TRUE(pool.Has(m2));
  EXPECT_EQ(pool.TierOf(m2), Tier::kPickable);

  const Actions actions = pool.Disconnect(m2);
  EXPECT_THAT(actions.close, ElementsAre(m2));
  EXPECT_FALSE(pool.Has(m2));
  EXPECT_TRUE(pool.state.degraded());
}

TEST(PoolDecisionsDegradedTest, UnhealthyMemberNeedsHealthyThresholdSuccesses) {
  Harness pool(Policy(2), 2);  // healthy_threshold 2, critical_min 1
  pool.Start();
  const uint64_t m1 = pool.Ids()[0], m2 = pool.Ids()[1];
  pool.MakeHealthy(m1);
  pool.MakeHealthy(m2);
  pool.Disconnect(m1);
  pool.FailUntilUnhealthy(m2);
  ASSERT_TRUE(pool.state.degraded());

  Actions actions = pool.Serve(m2);
  EXPECT_EQ(pool.Member(m2).health, MemberHealth::kUnhealthy);
  EXPECT_TRUE(pool.state.degraded());
  EXPECT_FALSE(HasEvent(actions, Kind::kMemberHealthy));

  actions = pool.Serve(m2);
  EXPECT_EQ(pool.Member(m2).health, MemberHealth::kHealthy);
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberHealthy, m2));
  EXPECT_TRUE(HasEvent(actions, Kind::kDegradedLeft));
  EXPECT_FALSE(pool.state.degraded());
  EXPECT_THAT(actions.close, IsEmpty());
  EXPECT_EQ(pool.TierOf(m2), Tier::kPickable);
}

// --- 8. Status --------------------------------------------------------------

TEST(PoolDecisionsStatusTest, FollowsHealthyMin) {
  Harness pool(Policy(3), 3);  // healthy_min 2, critical_min 1
  pool.Start();
  const std::vector<uint64_t> ids = pool.Ids();
  EXPECT_EQ(pool.state.health().healthy_min, 2);
  EXPECT_EQ(pool.state.health().critical_min, 1);

  Actions actions = pool.MakeHealthy(ids[0]);
  EXPECT_TRUE(actions.health_changed);
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kStarting);

  actions = pool.MakeHealthy(ids[1]);
  EXPECT_TRUE(actions.health_changed);
  EXPECT_TRUE(HasEvent(actions, Kind::kStatusChanged));
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kHealthy);
  EXPECT_EQ(pool.state.health().healthy_members, 2);

  actions = pool.MakeHealthy(ids[2]);
  EXPECT_TRUE(actions.health_changed);  // the count changed
  EXPECT_FALSE(HasEvent(actions, Kind::kStatusChanged));
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kHealthy);

  actions = pool.Timer();
  EXPECT_FALSE(actions.health_changed);

  actions = pool.Disconnect(ids[2]);
  EXPECT_TRUE(actions.health_changed);
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kHealthy);
  EXPECT_EQ(pool.state.health().healthy_members, 2);

  actions = pool.Disconnect(ids[1]);
  EXPECT_TRUE(actions.health_changed);
  EXPECT_TRUE(HasEvent(actions, Kind::kStatusChanged));
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kUnhealthy);
  EXPECT_FALSE(pool.state.degraded());

  actions = pool.Ready(ids[1]);
  EXPECT_TRUE(actions.health_changed);
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kHealthy);
}

TEST(PoolDecisionsStatusTest, StartingBecomesUnhealthyWhenAMemberFailsFirst) {
  Harness pool(Policy(3), 3);  // healthy_min 2
  pool.Start();
  const std::vector<uint64_t> ids = pool.Ids();
  pool.MakeHealthy(ids[0]);
  ASSERT_EQ(pool.state.health().status, ChannelStatus::kStarting);

  pool.Ready(ids[1]);
  const Actions actions = pool.FailUntilUnhealthy(ids[1]);
  EXPECT_TRUE(actions.health_changed);
  EXPECT_TRUE(HasEvent(actions, Kind::kStatusChanged));
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kUnhealthy);
  EXPECT_FALSE(pool.state.degraded());
}

// --- 9. Outlier ejection ----------------------------------------------------

PoolPolicy EjectionPolicy() {
  PoolPolicy policy = Policy(3);
  policy.base_ejection = seconds(10);
  policy.max_ejection = seconds(25);
  return policy;
}

TEST(PoolDecisionsEjectionTest, EjectsForBaseTimesEjectionsCappedAtMax) {
  Harness pool(EjectionPolicy(), 3);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  const uint64_t id = pool.Ids()[0];
  EXPECT_EQ(pool.state.NextDeadline(), SteadyTime::max());

  const std::vector<seconds> expected = {seconds(10), seconds(20), seconds(25)};
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    Actions actions = pool.CallFailures(id);
    EXPECT_THAT(actions.reset_failures, Contains(id));
    EXPECT_TRUE(HasEvent(actions, Kind::kMemberEjected, id));
    EXPECT_TRUE(pool.Member(id).ejected);
    EXPECT_EQ(pool.Member(id).times_ejected, static_cast<int>(i + 1));
    EXPECT_EQ(pool.TierOf(id), Tier::kOther);
    const SteadyTime until = pool.now + expected[i];
    EXPECT_EQ(pool.Member(id).ejected_until, until);
    EXPECT_EQ(pool.state.NextDeadline(), until);

    pool.now = until - std::chrono::nanoseconds(1);
    actions = pool.Timer();
    EXPECT_TRUE(pool.Member(id).ejected);
    EXPECT_FALSE(HasEvent(actions, Kind::kMemberReturned));

    pool.now = until;
    actions = pool.Timer();
    EXPECT_FALSE(pool.Member(id).ejected);
    EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
    EXPECT_TRUE(HasEvent(actions, Kind::kMemberReturned, id));
    EXPECT_THAT(actions.reset_failures, ElementsAre(id));
    EXPECT_EQ(pool.state.NextDeadline(), SteadyTime::max());
    pool.now += seconds(1);
  }
}

TEST(PoolDecisionsEjectionTest, NeverEjectsBelowCriticalMinPickable) {
  PoolPolicy policy = EjectionPolicy();
  policy.pool_size = 2;
  policy.critical_min = 2;
  Harness pool(policy, 2);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  const uint64_t id = pool.Ids()[0];

  const Actions actions = pool.CallFailures(id);
  EXPECT_TRUE(HasEvent(actions, Kind::kEjectionSkipped, id));
  EXPECT_FALSE(HasEvent(actions, Kind::kMemberEjected));
  EXPECT_FALSE(pool.Member(id).ejected);
  EXPECT_EQ(pool.Member(id).times_ejected, 0);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  EXPECT_THAT(actions.reset_failures, Contains(id));
}

TEST(PoolDecisionsEjectionTest, SkippedEjectionsAreRecordedOncePerBaseTime) {
  PoolPolicy policy = EjectionPolicy();
  policy.pool_size = 2;
  policy.critical_min = 2;
  Harness pool(policy, 2);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  const uint64_t id = pool.Ids()[0];
  EXPECT_TRUE(HasEvent(pool.CallFailures(id), Kind::kEjectionSkipped, id));
  for (int i = 0; i < 100; ++i) {
    const Actions again = pool.CallFailures(id);
    EXPECT_FALSE(HasEvent(again, Kind::kEjectionSkipped)) << i;
    EXPECT_THAT(again.reset_failures, Contains(id));  // counting goes on
  }
  pool.now += policy.base_ejection;
  EXPECT_TRUE(HasEvent(pool.CallFailures(id), Kind::kEjectionSkipped, id));
}

TEST(PoolDecisionsEjectionTest, EjectedMembersDoNotCountAsHealthy) {
  PoolPolicy policy = EjectionPolicy();
  policy.healthy_min = 3;
  policy.critical_min = 1;
  Harness pool(policy, 3);
  pool.Start();
  const std::vector<uint64_t> ids = pool.Ids();
  for (uint64_t id : ids) pool.MakeHealthy(id);
  ASSERT_EQ(pool.state.health().status, ChannelStatus::kHealthy);
  const Actions actions = pool.CallFailures(ids[0]);
  ASSERT_TRUE(pool.Member(ids[0]).ejected);
  EXPECT_EQ(pool.state.health().healthy_members, 2);
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kUnhealthy);
  EXPECT_TRUE(actions.health_changed);
}

TEST(PoolDecisionsEjectionTest, EjectionsEndEarlyWhenOthersFail) {
  PoolPolicy policy = EjectionPolicy();
  policy.critical_min = 1;
  Harness pool(policy, 3);
  pool.Start();
  const std::vector<uint64_t> ids = pool.Ids();
  for (uint64_t id : ids) pool.MakeHealthy(id);
  pool.CallFailures(ids[0]);
  pool.now += seconds(1);
  pool.CallFailures(ids[1]);
  ASSERT_TRUE(pool.Member(ids[0]).ejected);
  ASSERT_TRUE(pool.Member(ids[1]).ejected);
  // The one pickable member disconnects: the ejection ending soonest ends now.
  const Actions actions = pool.Disconnect(ids[2]);
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberReturned, ids[0]));
  EXPECT_FALSE(pool.Member(ids[0]).ejected);
  EXPECT_TRUE(pool.Member(ids[1]).ejected);
  EXPECT_EQ(pool.TierOf(ids[0]), Tier::kPickable);
  EXPECT_THAT(actions.reset_failures, Contains(ids[0]));
}

TEST(PoolDecisionsEjectionTest, EjectsWhileEnoughOthersStayPickable) {
  PoolPolicy policy = EjectionPolicy();
  policy.critical_min = 2;
  Harness pool(policy, 3);
  pool.Start();
  const std::vector<uint64_t> ids = pool.Ids();
  for (uint64_t id : ids) pool.MakeHealthy(id);

  Actions actions = pool.CallFailures(ids[0]);
  EXPECT_TRUE(pool.Member(ids[0]).ejected);
  actions = pool.CallFailures(ids[1]);  // only ids[2] would be left
  EXPECT_TRUE(HasEvent(actions, Kind::kEjectionSkipped, ids[1]));
  EXPECT_FALSE(pool.Member(ids[1]).ejected);
}

TEST(PoolDecisionsEjectionTest, HealthChecksEndEjectionEarlyWhenAllowed) {
  PoolPolicy policy = EjectionPolicy();
  policy.uneject_on_health_check = true;  // healthy_threshold 2
  Harness pool(policy, 3);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  const uint64_t id = pool.Ids()[0];
  pool.Fail(id);  // no successes in a row left (still healthy)
  ASSERT_EQ(pool.Member(id).successes, 0);
  pool.CallFailures(id);
  ASSERT_TRUE(pool.Member(id).ejected);

  Actions actions = pool.Serve(id);
  EXPECT_TRUE(pool.Member(id).ejected);
  EXPECT_EQ(pool.TierOf(id), Tier::kOther);
  actions = pool.Serve(id);
  EXPECT_FALSE(pool.Member(id).ejected);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberReturned, id));
  EXPECT_THAT(actions.reset_failures, Contains(id));
  EXPECT_EQ(pool.state.NextDeadline(), SteadyTime::max());
}

TEST(PoolDecisionsEjectionTest, HealthChecksDoNotEndEjectionByDefault) {
  Harness pool(EjectionPolicy(), 3);  // uneject_on_health_check false
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  const uint64_t id = pool.Ids()[0];
  pool.CallFailures(id);
  for (int i = 0; i < 5; ++i) {
    const Actions actions = pool.Serve(id);
    EXPECT_FALSE(HasEvent(actions, Kind::kMemberReturned));
  }
  EXPECT_TRUE(pool.Member(id).ejected);
  EXPECT_EQ(pool.TierOf(id), Tier::kOther);
}

// OutlierEjectionOptions: "healthy_threshold successful health checks in a
// row end an ejection early". Checks that passed before the ejection (when
// the calls were already failing) must not count towards ending it.
TEST(PoolDecisionsEjectionTest, ChecksPassedBeforeTheEjectionDoNotEndIt) {
  PoolPolicy policy = EjectionPolicy();
  policy.uneject_on_health_check = true;
  policy.healthy_threshold = 3;
  Harness pool(policy, 3);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  const uint64_t id = pool.Ids()[0];
  pool.Serve(id);
  pool.Serve(id);  // 3 successes in a row, all before the ejection
  pool.CallFailures(id);
  ASSERT_TRUE(pool.Member(id).ejected);

  pool.Serve(id);
  EXPECT_TRUE(pool.Member(id).ejected)
      << "one check after the ejection ended it (healthy_threshold 3)";
  pool.Serve(id);
  EXPECT_TRUE(pool.Member(id).ejected);
  pool.Serve(id);
  EXPECT_FALSE(pool.Member(id).ejected);
}

// --- 10. Rebalancing --------------------------------------------------------

// Two addresses, pool_size 2: B's member is evicted, its replacement goes on
// A, and B's backoff (1 s, no jitter) has just run out so that a surplus
// member was opened on B.
struct RebalanceSetup {
  RebalanceSetup() : pool(ExactBackoffPolicyOneSecond(), 2) {
    pool.Start();
    m1 = pool.Ids()[0];
    m2 = pool.Ids()[1];
    a = pool.AddressOf(m1);
    b = pool.AddressOf(m2);
    pool.MakeHealthy(m1);
    pool.MakeHealthy(m2);
  }
  static PoolPolicy ExactBackoffPolicyOneSecond() {
    PoolPolicy policy = Policy(2);  // critical_min 1
    policy.backoff_initial = seconds(1);
    policy.backoff_jitter = 0;
    return policy;
  }
  Harness pool;
  uint64_t m1 = 0, m2 = 0;
  size_t a = 0, b = 0;
};

TEST(PoolDecisionsRebalanceTest, SurplusMemberOnAFreedAddressRetiresACrowdedOne) {
  RebalanceSetup setup;
  Harness& pool = setup.pool;
  ASSERT_NE(setup.a, setup.b);

  Actions actions = pool.FailUntilUnhealthy(setup.m2);
  EXPECT_THAT(actions.close, ElementsAre(setup.m2));
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t m3 = actions.open[0].first;
  EXPECT_EQ(actions.open[0].second, setup.a);
  EXPECT_EQ(pool.Addr(setup.a).members, 2);
  EXPECT_EQ(pool.Addr(setup.b).members, 0);
  EXPECT_FALSE(pool.Member(m3).surplus);
  const SteadyTime retry_at = pool.Addr(setup.b).retry_at;
  EXPECT_EQ(retry_at, pool.now + seconds(1));
  EXPECT_EQ(pool.state.NextDeadline(), retry_at);
  pool.MakeHealthy(m3);

  pool.now += milliseconds(500);
  actions = pool.Timer();
  EXPECT_THAT(actions.open, IsEmpty());

  pool.now = retry_at;
  actions = pool.Timer();
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t m4 = actions.open[0].first;
  EXPECT_EQ(actions.open[0].second, setup.b);
  EXPECT_THAT(actions.close, IsEmpty());
  EXPECT_TRUE(pool.Member(m4).surplus);
  EXPECT_THAT(pool.Ids(), SizeIs(3));

  pool.Ready(m4);
  EXPECT_THAT(pool.Ids(), SizeIs(3));
  actions = pool.Serve(m4);
  // Both of A's members are healthy: the youngest, m3, is retired.
  EXPECT_THAT(actions.close, ElementsAre(m3));
  EXPECT_THAT(actions.open, IsEmpty());
  bool rebalanced = false;
  for (const Event& event : actions.events) {
    if (event.kind == Kind::kMemberEvicted && event.member_id == m3) {
      EXPECT_THAT(event.detail, HasSubstr("rebalanced"));
      rebalanced = true;
    }
  }
  EXPECT_TRUE(rebalanced);
  EXPECT_EQ(pool.Addr(setup.a).members, 1);
  EXPECT_EQ(pool.Addr(setup.b).members, 1);
  EXPECT_EQ(pool.Addr(setup.b).failures, 0);
  EXPECT_THAT(pool.Ids(), UnorderedElementsAre(setup.m1, m4));
  EXPECT_FALSE(pool.Member(m4).surplus);

  // Balanced: nothing more to do.
  pool.now += seconds(10);
  actions = pool.Timer();
  EXPECT_THAT(actions.open, IsEmpty());
  EXPECT_THAT(actions.close, IsEmpty());
}

TEST(PoolDecisionsRebalanceTest, RetiresAMemberThatIsNotHealthyBeforeTheYoungest) {
  RebalanceSetup setup;
  Harness& pool = setup.pool;
  Actions actions = pool.FailUntilUnhealthy(setup.m2);
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t m3 = actions.open[0].first;
  pool.MakeHealthy(m3);
  pool.Disconnect(setup.m1);  // the older member is not healthy now

  pool.now = pool.Addr(setup.b).retry_at;
  actions = pool.Timer();
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t m4 = actions.open[0].first;
  actions = pool.MakeHealthy(m4);
  EXPECT_THAT(actions.close, ElementsAre(setup.m1));
  EXPECT_THAT(pool.Ids(), UnorderedElementsAre(m3, m4));
}

TEST(PoolDecisionsRebalanceTest, FailedSurplusMemberIsEvictedAndNothingRetired) {
  RebalanceSetup setup;
  Harness& pool = setup.pool;
  Actions actions = pool.FailUntilUnhealthy(setup.m2);
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t m3 = actions.open[0].first;
  pool.MakeHealthy(m3);

  pool.now = pool.Addr(setup.b).retry_at;
  actions = pool.Timer();
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t m4 = actions.open[0].first;

  pool.Ready(m4);
  actions = pool.FailUntilUnhealthy(m4);
  EXPECT_THAT(actions.close, ElementsAre(m4));
  EXPECT_THAT(actions.open, IsEmpty());
  for (const Event& event : actions.events) {
    EXPECT_THAT(event.detail, Not(HasSubstr("rebalanced")));
  }
  EXPECT_THAT(pool.Ids(), UnorderedElementsAre(setup.m1, m3));
  EXPECT_EQ(pool.Addr(setup.a).members, 2);
  EXPECT_EQ(pool.Addr(setup.b).members, 0);
  EXPECT_EQ(pool.Addr(setup.b).failures, 2);
  EXPECT_EQ(pool.Addr(setup.b).retry_at, pool.now + milliseconds(1500));

  // B is tried again once its (longer) backoff has run out.
  pool.now = pool.Addr(setup.b).retry_at;
  actions = pool.Timer();
  ASSERT_THAT(actions.open, SizeIs(1));
  EXPECT_EQ(actions.open[0].second, setup.b);
  EXPECT_TRUE(pool.Member(actions.open[0].first).surplus);
}

// --- 11. Event log ----------------------------------------------------------

TEST(PoolDecisionsEventsTest, LogKeepsOnlyTheNewestEventLogSizeEvents) {
  PoolPolicy policy = Policy(3);
  policy.event_log_size = 4;
  Harness pool(policy, 3);
  std::vector<Event> all;
  auto keep = [&](const Actions& actions) {
    all.insert(all.end(), actions.events.begin(), actions.events.end());
  };
  keep(pool.Start());
  for (uint64_t id : pool.Ids()) {
    keep(pool.Ready(id));
    pool.now += seconds(1);
    keep(pool.Serve(id));
  }
  ASSERT_GT(all.size(), 4u);
  ASSERT_THAT(pool.state.events(), SizeIs(4));
  for (size_t i = 0; i < 4; ++i) {
    const Event& kept = pool.state.events()[i];
    const Event& expected = all[all.size() - 4 + i];
    EXPECT_EQ(kept.kind, expected.kind) << i;
    EXPECT_EQ(kept.member_id, expected.member_id) << i;
    EXPECT_EQ(kept.time, expected.time) << i;
  }
  EXPECT_EQ(pool.state.events().back().kind, Kind::kMemberHealthy);
}

TEST(PoolDecisionsEventsTest, ZeroSizedLogKeepsNothingButActionsStillHaveEvents) {
  PoolPolicy policy = Policy(3);
  policy.event_log_size = 0;
  Harness pool(policy, 3);
  const Actions actions = pool.Start();
  EXPECT_THAT(actions.events, SizeIs(3));
  EXPECT_THAT(pool.state.events(), IsEmpty());
}

}  // namespace
}  // namespace internal
}  // namespace warm

// --- Address changes (DNS answers) ------------------------------------------

namespace warm {
namespace internal {
namespace {

std::vector<Address> Named(std::initializer_list<int> last_octets) {
  std::vector<Address> addresses;
  for (int n : last_octets) {
    const std::string display = "10.0.0." + std::to_string(n) + ":1";
    addresses.push_back(Address{"ipv4:" + display, display});
  }
  return addresses;
}

std::set<std::string> MemberAddresses(const PoolDecisions& state) {
  std::set<std::string> out;
  for (const auto& [id, member] : state.members()) {
    out.insert(state.addresses()[member.address].address.display);
  }
  return out;
}

TEST(PoolDecisionsAddressesTest, FirstAnswerOpensMembersOnDistinctAddresses) {
  PoolDecisions state(Policy(3), {}, 1);
  const SteadyTime now = SteadyTime{} + std::chrono::hours(1);
  EXPECT_THAT(state.Start(now).open, IsEmpty());  // nothing resolved yet
  EXPECT_THAT(state.members(), IsEmpty());
  const Actions actions = state.SetAddresses(Named({1, 2, 3}), now);
  EXPECT_THAT(actions.open, SizeIs(3));
  EXPECT_THAT(MemberAddresses(state),
              UnorderedElementsAre("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"));
  EXPECT_TRUE(HasEvent(actions, Kind::kAddressesChanged));
}

TEST(PoolDecisionsAddressesTest, RemovedAddressIsDrainedOnceItsReplacementServes) {
  Harness pool(Policy(3), 3);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  uint64_t on_third = 0;
  for (uint64_t id : pool.Ids()) {
    if (pool.Addr(pool.AddressOf(id)).address.display == "10.0.0.3:1") {
      on_third = id;
    }
  }
  Actions actions = pool.state.SetAddresses(Named({1, 2, 4}), pool.now);
  // Replaced on the new address; the old member serves meanwhile.
  EXPECT_THAT(actions.close, IsEmpty());
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t replacement = actions.open[0].first;
  EXPECT_EQ(pool.Addr(actions.open[0].second).address.display, "10.0.0.4:1");
  EXPECT_EQ(pool.TierOf(on_third), Tier::kPickable);
  // Its replacement is pickable: the old one goes.
  actions = pool.MakeHealthy(replacement);
  EXPECT_THAT(actions.close, ElementsAre(on_third));
  // The stale address is forgotten once it has no members.
  EXPECT_THAT(pool.state.addresses(), SizeIs(3));
  EXPECT_THAT(MemberAddresses(pool.state),
              UnorderedElementsAre("10.0.0.1:1", "10.0.0.2:1", "10.0.0.4:1"));
}

TEST(PoolDecisionsAddressesTest, MovedFleetHandsOverOneForOne) {
  Harness pool(Policy(2), 2);
  pool.Start();
  const std::vector<uint64_t> old_ids = pool.Ids();
  for (uint64_t id : old_ids) pool.MakeHealthy(id);
  Actions actions = pool.state.SetAddresses(Named({7, 8}), pool.now);
  EXPECT_THAT(actions.close, IsEmpty());  // nothing else could serve yet
  ASSERT_THAT(actions.open, SizeIs(2));
  const uint64_t first_new = actions.open[0].first;
  const uint64_t second_new = actions.open[1].first;
  for (uint64_t id : old_ids) EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  // Each new member that passes its check lets one old member go.
  actions = pool.MakeHealthy(first_new);
  EXPECT_THAT(actions.close, ElementsAre(old_ids[0]));
  actions = pool.MakeHealthy(second_new);
  EXPECT_THAT(actions.close, ElementsAre(old_ids[1]));
  EXPECT_THAT(MemberAddresses(pool.state),
              UnorderedElementsAre("10.0.0.7:1", "10.0.0.8:1"));
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kHealthy);
}

TEST(PoolDecisionsAddressesTest, SurplusIsClosedWhenNothingIsCrowdedAnyMore) {
  Harness pool(Policy(2), 1);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);  // both on 10.0.0.1
  Actions actions = pool.state.SetAddresses(Named({1, 2}), pool.now);
  ASSERT_THAT(actions.open, SizeIs(1));  // surplus on 10.0.0.2
  const uint64_t surplus = actions.open[0].first;
  // The answer changes again before the surplus is healthy: 10.0.0.1 goes.
  actions = pool.state.SetAddresses(Named({2, 3}), pool.now);
  for (const auto& [id, member] : pool.state.members()) {
    if (id != surplus) pool.MakeHealthy(id);
  }
  pool.MakeHealthy(surplus);
  int current = 0;
  for (const auto& [id, member] : pool.state.members()) {
    current += !pool.state.addresses()[member.address].stale;
  }
  EXPECT_LE(current, 2) << "more members than pool_size";
}

TEST(PoolDecisionsAddressesTest, DegradedChannelKeepsMembersOnRemovedAddresses) {
  PoolPolicy policy = Policy(2);
  policy.critical_min = 2;  // losing one member degrades: both stay
  Harness pool(policy, 2);
  pool.Start();
  const std::vector<uint64_t> ids = pool.Ids();
  for (uint64_t id : ids) pool.MakeHealthy(id);
  for (uint64_t id : ids) pool.FailUntilUnhealthy(id);
  ASSERT_TRUE(pool.state.degraded());
  ASSERT_TRUE(pool.Has(ids[0]) && pool.Has(ids[1]));
  const Actions actions = pool.state.SetAddresses(Named({5, 6}), pool.now);
  EXPECT_THAT(actions.close, IsEmpty());
  for (uint64_t id : ids) EXPECT_TRUE(pool.Has(id));
}

TEST(PoolDecisionsAddressesTest, NewAddressesTakeMembersFromACrowdedOne) {
  Harness pool(Policy(3), 1);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  ASSERT_EQ(pool.MembersPerAddress(), std::vector<int>{3});
  Actions actions = pool.state.SetAddresses(Named({1, 2}), pool.now);
  ASSERT_THAT(actions.open, SizeIs(1));  // one surplus member at a time
  EXPECT_EQ(pool.Addr(actions.open[0].second).address.display, "10.0.0.2:1");
  actions = pool.MakeHealthy(actions.open[0].first);
  EXPECT_THAT(actions.close, SizeIs(1));  // retired from the crowded one
  EXPECT_EQ(pool.MembersPerAddress(), (std::vector<int>{2, 1}));
}

TEST(PoolDecisionsAddressesTest, UnchangedAnswerChangesNothing) {
  Harness pool(Policy(3), 3);
  pool.Start();
  std::vector<Address> same = Addresses(3);
  const Actions actions = pool.state.SetAddresses(same, pool.now);
  EXPECT_THAT(actions.open, IsEmpty());
  EXPECT_THAT(actions.close, IsEmpty());
  EXPECT_FALSE(HasEvent(actions, Kind::kAddressesChanged));
}

// --- Recycling (TLS rotation)
// -------------------------------------------------

// Healthy members counted in the state.
int HealthyCount(const Harness& pool) {
  int healthy = 0;
  for (const auto& [id, member] : pool.state.members()) {
    healthy += pool.state.Healthy(member) && !member.ejected;
  }
  return healthy;
}

TEST(PoolDecisionsRecycleTest, ReplacesOneAtATimeWithoutLosingHealthyMembers) {
  Harness pool(Policy(3), 3);
  pool.Start();
  const std::vector<uint64_t> old = pool.Ids();
  for (uint64_t id : old) pool.MakeHealthy(id);
  ASSERT_EQ(HealthyCount(pool), 3);

  Actions actions = pool.state.Recycle(old, pool.now);
  EXPECT_THAT(actions.close, IsEmpty());
  std::set<uint64_t> closed;
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE(step);
    // One replacement at a time, on the address of an old member.
    ASSERT_THAT(actions.open, SizeIs(1));
    const auto [replacement, address] = actions.open[0];
    EXPECT_NE(pool.Member(replacement).replaces, 0u);
    const uint64_t replaced = pool.Member(replacement).replaces;
    EXPECT_EQ(pool.AddressOf(replaced), address);
    EXPECT_EQ(HealthyCount(pool), 3);  // the old one still serves
    // Connected but not yet checked: nothing closes.
    actions = pool.Ready(replacement);
    EXPECT_THAT(actions.close, IsEmpty());
    // Healthy: the old member closes, the next replacement opens.
    actions = pool.Serve(replacement);
    EXPECT_THAT(actions.close, ElementsAre(replaced));
    EXPECT_TRUE(HasEvent(actions, Kind::kMemberEvicted, replaced));
    closed.insert(replaced);
    EXPECT_EQ(HealthyCount(pool), 3);
    EXPECT_EQ(pool.Member(replacement).replaces, 0u);
  }
  EXPECT_THAT(actions.open, IsEmpty());  // every old member is gone
  EXPECT_EQ(closed, std::set<uint64_t>(old.begin(), old.end()));
  EXPECT_THAT(pool.MembersPerAddress(), ElementsAre(1, 1, 1));
  EXPECT_EQ(pool.state.counters()
                .evictions[static_cast<size_t>(EvictionReason::kRecycled)],
            3u);
}

TEST(PoolDecisionsRecycleTest, AFailedReplacementLeavesTheOldMemberServing) {
  Harness pool(Policy(2), 2);
  pool.Start();
  const std::vector<uint64_t> old = pool.Ids();
  for (uint64_t id : old) pool.MakeHealthy(id);
  Actions actions = pool.state.Recycle({old[0]}, pool.now);
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t replacement = actions.open[0].first;
  pool.Ready(replacement);
  actions = pool.FailUntilUnhealthy(replacement);
  // The replacement is evicted; the old member stays and still serves.
  EXPECT_THAT(actions.close, Contains(replacement));
  EXPECT_TRUE(pool.Has(old[0]));
  EXPECT_EQ(pool.TierOf(old[0]), Tier::kPickable);
  // Once the address's backoff is over, another replacement opens.
  pool.now += seconds(61);
  actions = pool.Timer();
  ASSERT_THAT(actions.open, SizeIs(1));
  EXPECT_EQ(pool.Member(actions.open[0].first).replaces, old[0]);
}

TEST(PoolDecisionsRecycleTest, OldMemberEvictedMeanwhileLeavesNoExtraMember) {
  Harness pool(Policy(2), 2);
  pool.Start();
  const std::vector<uint64_t> old = pool.Ids();
  for (uint64_t id : old) pool.MakeHealthy(id);
  Actions actions = pool.state.Recycle({old[0]}, pool.now);
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t replacement = actions.open[0].first;
  // The old member fails before its replacement is healthy: the
  // replacement takes its place, and no further member opens for it.
  actions = pool.FailUntilUnhealthy(old[0]);
  EXPECT_THAT(actions.close, Contains(old[0]));
  EXPECT_THAT(actions.open, IsEmpty());
  EXPECT_EQ(pool.Member(replacement).replaces, 0u);
  pool.MakeHealthy(replacement);
  EXPECT_EQ(pool.state.members().size(), 2u);
}

TEST(PoolDecisionsRecycleTest, NeverMoreThanOneExtraMember) {
  // Two members on one address and a free one: a surplus opens to spread
  // them; recycling meanwhile waits for it.
  Harness pool(Policy(2), 1);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  const std::vector<uint64_t> old = pool.Ids();
  Actions actions = pool.state.SetAddresses(Addresses(2), pool.now);
  ASSERT_THAT(actions.open, SizeIs(1));  // the surplus
  actions = pool.state.Recycle(old, pool.now);
  EXPECT_THAT(actions.open, IsEmpty());
  EXPECT_EQ(pool.state.members().size(), 3u);
}

TEST(PoolDecisionsRecycleTest, AReplacementNeverHealthyIsEvictedInTime) {
  PoolPolicy policy = Policy(1);
  policy.replacement_timeout = seconds(10);
  Harness pool(policy, 1);
  pool.Start();
  const uint64_t old = pool.Ids()[0];
  pool.MakeHealthy(old);
  Actions actions = pool.state.Recycle({old}, pool.now);
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t replacement = actions.open[0].first;
  pool.Disconnect(replacement);  // never connects; no check ever fails
  EXPECT_EQ(pool.state.NextDeadline(), pool.now + seconds(10));
  pool.now += seconds(10);
  actions = pool.Timer();
  EXPECT_THAT(actions.close, ElementsAre(replacement));
  EXPECT_TRUE(pool.Has(old));
  EXPECT_EQ(pool.TierOf(old), Tier::kPickable);
  // Tried again once the address's backoff is over.
  pool.now += seconds(61);
  actions = pool.Timer();
  ASSERT_THAT(actions.open, SizeIs(1));
  EXPECT_EQ(pool.Member(actions.open[0].first).replaces, old);
}

}  // namespace
}  // namespace internal
}  // namespace warm
