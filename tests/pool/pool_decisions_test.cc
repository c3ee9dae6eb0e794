// Unit tests of PoolDecisions, the pool's decisions without gRPC: start-up,
// health, address backoff, degraded mode and status. A fake steady clock
// advanced by hand, seeded randomness, no sleeps. Ejection, rebalancing,
// events, address changes and recycling: pool_decisions_members_test.cc.

#include "tests/pool/pool_decisions_harness.h"

namespace warm {
namespace internal {
namespace {
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

  // Out of backoff, the address ranks above the replacement's again, so a
  // member moves back (subsetting): opened first, the replacement retired
  // once it is healthy.
  pool.now += milliseconds(100);
  const Actions actions = pool.Timer();
  ASSERT_THAT(actions.open, SizeIs(1));
  EXPECT_EQ(actions.open[0].second, address);
  const Actions moved = pool.MakeHealthy(actions.open[0].first);
  EXPECT_THAT(moved.close, ElementsAre(evicted.open[0].first));
  pool.now += seconds(60);
  EXPECT_THAT(pool.Timer().events, IsEmpty());
  EXPECT_GT(pool.state.NextDeadline(), pool.now)
      << "NextDeadline() is still the retry_at of "
      << pool.Addr(address).address.display << ", which ran out 60 s ago";
}

TEST(PoolDecisionsBackoffTest, MemberMovingBackThatNeverConnectsIsEvictedInTime) {
  PoolPolicy policy = ExactBackoffPolicy(3);
  policy.replacement_timeout = seconds(10);
  Harness pool(policy, 4);
  pool.Start();
  for (uint64_t id : pool.Ids()) pool.MakeHealthy(id);
  const uint64_t victim = pool.Ids()[0];
  const size_t address = pool.AddressOf(victim);
  const Actions evicted = pool.FailUntilUnhealthy(victim);
  pool.MakeHealthy(evicted.open[0].first);
  pool.now += milliseconds(100);
  const Actions back = pool.Timer();
  ASSERT_THAT(back.open, SizeIs(1));
  const uint64_t surplus = back.open[0].first;
  ASSERT_EQ(pool.AddressOf(surplus), address);
  // Its connection never comes up (e.g. SYNs dropped): without a bound it
  // would be the one extra member for good, holding up TLS recycling.
  EXPECT_EQ(pool.state.NextDeadline(), pool.now + seconds(10));
  pool.now += seconds(10);
  const Actions late = pool.Timer();
  EXPECT_THAT(late.close, ElementsAre(surplus));
  EXPECT_GT(pool.Addr(address).retry_at, pool.now);
  EXPECT_THAT(pool.Ids(), SizeIs(3));
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

}  // namespace
}  // namespace internal
}  // namespace warm
