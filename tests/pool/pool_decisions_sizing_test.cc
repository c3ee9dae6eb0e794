// Unit tests of PoolDecisions' dynamic size and subsetting (the header
// comment's "Subsetting", "Rebalancing" and "Size" rules): OnLoad() grows the
// pool one member per sample while the smoothed load is above grow_above per
// pickable member and every wanted member is pickable, up to max_pool_size
// and the number of addresses; it shrinks only after shrink_window of low
// load, never below min_pool_size and without flapping at steady load; the
// shrink victim, the order growth takes addresses in, and how members follow
// ranks when addresses change or back off. Fake clock, no sleeps.

#include "tests/pool/pool_decisions_harness.h"

#include <map>
#include <set>

namespace warm {
namespace internal {
namespace {

using ::testing::Each;

constexpr Nanos kSample = PoolDecisions::kLoadSampleInterval;

SubsetPolicy RendezvousSeed(uint64_t seed) {
  SubsetPolicy subset;
  subset.mode = SubsetPolicy::Mode::kRendezvous;
  subset.seed = seed;
  return subset;
}

// min..max members, starting at min, grow_above 2, shrink_below 1, smoothing
// 1 s, shrink_window 15 s (the defaults), rendezvous with a fixed seed.
PoolPolicy Dynamic(int min, int max, uint64_t subset_seed = 42) {
  PoolPolicy policy = Policy(min);
  policy.min_pool_size = min;
  policy.max_pool_size = max;
  policy.grow_above = 2.0;
  policy.shrink_below = 1.0;
  policy.load_smoothing = seconds(1);
  policy.shrink_window = seconds(15);
  policy.subset = RendezvousSeed(subset_seed);
  return policy;
}

bool IsHealthy(const Harness& pool, uint64_t id) {
  return pool.state.Healthy(pool.Member(id));
}

// Makes every member that is not healthy yet healthy (READY, one SERVING
// check); the actions of all of it.
Actions HealAll(Harness& pool) {
  Actions all;
  for (bool again = true; again;) {
    again = false;
    for (uint64_t id : pool.Ids()) {
      if (pool.Has(id) && !IsHealthy(pool, id)) {
        all.Append(pool.MakeHealthy(id));
        again = true;  // members may have come or gone
        break;
      }
    }
  }
  return all;
}

// One load sample, kLoadSampleInterval after the previous one.
Actions Sample(Harness& pool, int64_t in_flight) {
  pool.now += kSample;
  return pool.state.OnLoad(in_flight, pool.now);
}

// A sample, then every member it opened made healthy; the sample's actions.
Actions SampleAndHeal(Harness& pool, int64_t in_flight) {
  Actions actions = Sample(pool, in_flight);
  HealAll(pool);
  return actions;
}

int Closed(const Actions& actions) {
  return static_cast<int>(actions.close.size());
}

uint32_t RankOf(const Harness& pool, uint64_t id) {
  return pool.Addr(pool.AddressOf(id)).rank;
}

// The ranks of the members' addresses, sorted.
std::vector<uint32_t> MemberRanks(const Harness& pool) {
  std::vector<uint32_t> ranks;
  for (uint64_t id : pool.Ids()) ranks.push_back(RankOf(pool, id));
  std::sort(ranks.begin(), ranks.end());
  return ranks;
}

std::vector<uint32_t> Iota(uint32_t n) {
  std::vector<uint32_t> v(n);
  for (uint32_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// The members' addresses (display), sorted.
std::vector<std::string> MemberAddresses(const Harness& pool) {
  std::vector<std::string> addresses;
  for (uint64_t id : pool.Ids()) {
    addresses.push_back(pool.Addr(pool.AddressOf(id)).address.display);
  }
  std::sort(addresses.begin(), addresses.end());
  return addresses;
}

// Every address but the one displayed as `display`.
std::vector<Address> AddressesWithout(int n, const std::string& display) {
  std::vector<Address> addresses;
  for (Address& address : Addresses(n)) {
    if (address.display != display) addresses.push_back(std::move(address));
  }
  return addresses;
}

size_t CountEvents(const std::vector<Event>& events, Kind kind) {
  return static_cast<size_t>(
      std::count_if(events.begin(), events.end(),
                    [&](const Event& event) { return event.kind == kind; }));
}

// A started pool with every member healthy.
void StartHealthy(Harness& pool) {
  pool.Start();
  HealAll(pool);
}

// Samples `in_flight` (members healed) until the target is `size`; false if
// it is not within 200 samples.
bool GrowTo(Harness& pool, int size, int64_t in_flight = 1000) {
  for (int i = 0; i < 200 && pool.state.target_size() < size; ++i) {
    SampleAndHeal(pool, in_flight);
  }
  return pool.state.target_size() == size;
}

// --- Growing ------------------------------------------------------------------

TEST(PoolDecisionsSizingTest, GrowsOneMemberPerSampleAboveGrowAbove) {
  Harness pool(Dynamic(2, 6), 8);
  StartHealthy(pool);
  ASSERT_EQ(pool.state.target_size(), 2);
  ASSERT_THAT(pool.Ids(), SizeIs(2));

  // 40 calls in flight, far above 2 per member: however fast the smoothed
  // load rises, each sample adds at most one member, and only once the
  // smoothed load is above grow_above x pickable members.
  for (int expected = 3; expected <= 6; ++expected) {
    SCOPED_TRACE(expected);
    Actions actions;
    for (int i = 0; i < 50 && actions.open.empty(); ++i) {
      const double before = pool.state.smoothed_load();
      actions = Sample(pool, 40);
      EXPECT_LE(actions.open.size(), 1u);
      EXPECT_GT(pool.state.smoothed_load(), before);
      if (actions.open.empty()) {
        EXPECT_LE(pool.state.smoothed_load(), 2.0 * (expected - 1));
      }
    }
    ASSERT_THAT(actions.open, SizeIs(1));
    EXPECT_EQ(pool.state.target_size(), expected);
    EXPECT_GT(pool.state.smoothed_load(), 2.0 * (expected - 1));
    EXPECT_TRUE(HasEvent(actions, Kind::kPoolResized));
    EXPECT_TRUE(HasEvent(actions, Kind::kMemberOpened, actions.open[0].first));
    EXPECT_THAT(actions.close, IsEmpty());
    EXPECT_THAT(pool.Ids(), SizeIs(static_cast<size_t>(expected)));
    EXPECT_EQ(pool.state.counters().grows, static_cast<uint64_t>(expected - 2));
    pool.MakeHealthy(actions.open[0].first);
  }
}

TEST(PoolDecisionsSizingTest, DoesNotGrowWhileAWantedMemberIsNotPickable) {
  Harness pool(Dynamic(2, 6), 8);
  StartHealthy(pool);
  // One member's connection fails (it stays, reconnecting): not pickable.
  const uint64_t down = pool.Ids()[0];
  pool.Disconnect(down);
  ASSERT_TRUE(pool.Has(down));
  ASSERT_NE(pool.TierOf(down), Tier::kPickable);
  for (int i = 0; i < 100; ++i) {
    const Actions actions = Sample(pool, 1000);
    ASSERT_THAT(actions.open, IsEmpty()) << "sample " << i;
    ASSERT_FALSE(HasEvent(actions, Kind::kPoolResized)) << "sample " << i;
  }
  EXPECT_EQ(pool.state.target_size(), 2);
  EXPECT_EQ(pool.state.counters().grows, 0u);
  // Back: growth resumes at the next sample.
  pool.Ready(down);
  ASSERT_EQ(pool.TierOf(down), Tier::kPickable);
  EXPECT_THAT(Sample(pool, 1000).open, SizeIs(1));
  EXPECT_EQ(pool.state.target_size(), 3);
  EXPECT_EQ(pool.state.counters().grows, 1u);
}

TEST(PoolDecisionsSizingTest, DoesNotGrowWhileTheNewMemberIsStillConnecting) {
  Harness pool(Dynamic(2, 6), 8);
  StartHealthy(pool);
  Actions actions;
  for (int i = 0; i < 50 && actions.open.empty(); ++i) {
    actions = Sample(pool, 1000);
  }
  ASSERT_THAT(actions.open, SizeIs(1));
  const uint64_t fresh = actions.open[0].first;
  EXPECT_EQ(pool.TierOf(fresh), Tier::kTrying);
  for (int i = 0; i < 100; ++i) {
    ASSERT_THAT(Sample(pool, 1000).open, IsEmpty()) << i;
  }
  EXPECT_EQ(pool.state.target_size(), 3);
  pool.Ready(fresh);  // READY but not checked yet: still not pickable
  ASSERT_THAT(Sample(pool, 1000).open, IsEmpty());
  pool.Serve(fresh);
  EXPECT_THAT(Sample(pool, 1000).open, SizeIs(1));
  EXPECT_EQ(pool.state.target_size(), 4);
}

TEST(PoolDecisionsSizingTest, DoesNotGrowAtGrowAboveExactly) {
  Harness pool(Dynamic(2, 6), 8);
  StartHealthy(pool);
  // 4 in flight over 2 members: 2 each, not above grow_above 2. The
  // smoothed load approaches 4 from below and never passes it.
  for (int i = 0; i < 3000; ++i) {
    const Actions actions = SampleAndHeal(pool, 4);
    ASSERT_THAT(actions.open, IsEmpty()) << i;
  }
  EXPECT_EQ(pool.state.target_size(), 2);
  EXPECT_NEAR(pool.state.smoothed_load(), 4.0, 0.01);
  // One more call in flight each: it grows.
  ASSERT_TRUE(GrowTo(pool, 3, 5));
}

TEST(PoolDecisionsSizingTest, GrowsNoFurtherThanMaxSize) {
  Harness pool(Dynamic(2, 5), 8);
  StartHealthy(pool);
  ASSERT_TRUE(GrowTo(pool, 5));
  for (int i = 0; i < 300; ++i) {
    const Actions actions = SampleAndHeal(pool, 100000);
    ASSERT_THAT(actions.open, IsEmpty()) << i;
  }
  EXPECT_EQ(pool.state.target_size(), 5);
  EXPECT_THAT(pool.Ids(), SizeIs(5));
  EXPECT_EQ(pool.state.counters().grows, 3u);
  EXPECT_THAT(pool.MembersPerAddress(), Each(::testing::Le(1)));
}

TEST(PoolDecisionsSizingTest, GrowsNoFurtherThanTheAddresses) {
  Harness pool(Dynamic(2, 6), 4);
  StartHealthy(pool);
  ASSERT_TRUE(GrowTo(pool, 4));
  for (int i = 0; i < 300; ++i) {
    const Actions actions = SampleAndHeal(pool, 100000);
    ASSERT_THAT(actions.open, IsEmpty()) << i;
  }
  EXPECT_EQ(pool.state.target_size(), 4);
  EXPECT_THAT(pool.MembersPerAddress(), ElementsAre(1, 1, 1, 1));
  EXPECT_EQ(pool.state.counters().grows, 2u);
}

// --- Shrinking ----------------------------------------------------------------

TEST(PoolDecisionsSizingTest, ShrinksOnlyAfterAShrinkWindowOfLowLoad) {
  Harness pool(Dynamic(2, 6), 8);
  StartHealthy(pool);
  // 7 calls: above 2 x 3 members, not above 2 x 4, so it stops at 4.
  ASSERT_TRUE(GrowTo(pool, 4, 7));
  for (int i = 0; i < 50; ++i) ASSERT_THAT(SampleAndHeal(pool, 7).open, IsEmpty());
  ASSERT_EQ(pool.state.target_size(), 4);
  const PoolPolicy& policy = pool.state.policy();

  // The load stops. Shrinking to 3 needs the smoothed load below
  // shrink_below x 3 for a whole shrink_window.
  SteadyTime low_since{};
  SteadyTime shrunk_at{};
  for (int i = 0; i < 1000 && shrunk_at == SteadyTime{}; ++i) {
    const Actions actions = SampleAndHeal(pool, 0);
    if (low_since == SteadyTime{} &&
        pool.state.smoothed_load() < policy.shrink_below * 3) {
      low_since = pool.now;
    }
    if (!actions.close.empty()) shrunk_at = pool.now;
  }
  ASSERT_NE(low_since, SteadyTime{});
  ASSERT_NE(shrunk_at, SteadyTime{});
  EXPECT_GE(shrunk_at - low_since, policy.shrink_window);
  EXPECT_LE(shrunk_at - low_since, policy.shrink_window + 2 * kSample);
  EXPECT_EQ(pool.state.target_size(), 3);
}

TEST(PoolDecisionsSizingTest, ABurstOfLoadRestartsTheShrinkWindow) {
  Harness pool(Dynamic(2, 6), 8);
  StartHealthy(pool);
  // 5 calls: above 2 x 2 members, not above 2 x 3, so it stops at 3 (the
  // smoothed load lags: far more would go on growing after the load stops).
  ASSERT_TRUE(GrowTo(pool, 3, 5));
  // Without load it shrinks back, not before a window after the grow.
  const SteadyTime grown = pool.now;
  for (int i = 0; i < 10000; ++i) {
    const Actions actions = SampleAndHeal(pool, 0);
    if (!actions.close.empty()) break;
  }
  const SteadyTime first_shrink = pool.now;
  ASSERT_EQ(pool.state.target_size(), 2);
  EXPECT_GE(first_shrink - grown, pool.state.policy().shrink_window);

  // Grow again, then a quiet half window, a burst, and quiet again.
  ASSERT_TRUE(GrowTo(pool, 3, 5));
  // 7 s: half a window.
  for (int i = 0; i < 70; ++i) {
    ASSERT_THAT(SampleAndHeal(pool, 0).close, IsEmpty()) << i;
  }
  // A burst: one sample of 30 calls brings the smoothed load (~0 after 7 s
  // of nothing) above 2, the mark for 3 -> 2 (30 x (1 - e^-0.1) = 2.85), but
  // not above 2 x 3, so no grow. The shrink waits a whole window after it,
  // although the grow was longer ago than that by then.
  const Actions burst = SampleAndHeal(pool, 30);
  ASSERT_GT(pool.state.smoothed_load(), 2.0);
  ASSERT_LT(pool.state.smoothed_load(), 6.0);
  ASSERT_THAT(burst.open, IsEmpty());
  const SteadyTime burst_at = pool.now;
  SteadyTime low_since{};
  SteadyTime shrunk_at{};
  for (int i = 0; i < 1000 && shrunk_at == SteadyTime{}; ++i) {
    const Actions actions = SampleAndHeal(pool, 0);
    if (low_since == SteadyTime{} && pool.state.smoothed_load() < 2.0) {
      low_since = pool.now;
    }
    if (!actions.close.empty()) shrunk_at = pool.now;
  }
  ASSERT_NE(shrunk_at, SteadyTime{});
  EXPECT_GE(shrunk_at - burst_at, pool.state.policy().shrink_window);
  EXPECT_GE(shrunk_at - low_since, pool.state.policy().shrink_window);
}

TEST(PoolDecisionsSizingTest, ShrinksOneMemberPerSampleDownToMinOnly) {
  Harness pool(Dynamic(2, 6), 8);
  StartHealthy(pool);
  ASSERT_TRUE(GrowTo(pool, 6));
  int last_target = 6;
  int shrinks = 0;
  for (int i = 0; i < 5000; ++i) {
    const Actions actions = SampleAndHeal(pool, 0);
    ASSERT_LE(Closed(actions), 1) << i;
    ASSERT_THAT(actions.open, IsEmpty()) << i;
    const int target = pool.state.target_size();
    ASSERT_GE(target, last_target - 1) << i;
    ASSERT_GE(target, 2) << i;
    if (target < last_target) {
      ++shrinks;
      EXPECT_EQ(Closed(actions), 1) << i;
    }
    last_target = target;
  }
  EXPECT_EQ(pool.state.target_size(), 2);
  EXPECT_THAT(pool.Ids(), SizeIs(2));
  EXPECT_EQ(shrinks, 4);
  EXPECT_EQ(pool.state.counters().evictions[static_cast<size_t>(EvictionReason::kShrunk)], 4u);
}

TEST(PoolDecisionsSizingTest, StartsAtPoolSizeAndShrinksToMinWithoutLoad) {
  PoolPolicy policy = Dynamic(2, 6);
  policy.pool_size = 4;
  Harness pool(policy, 8);
  StartHealthy(pool);
  EXPECT_EQ(pool.state.target_size(), 4);
  EXPECT_THAT(pool.Ids(), SizeIs(4));
  // Not before a shrink window after the start.
  const SteadyTime started = pool.now;
  SteadyTime first_shrink{};
  for (int i = 0; i < 1000; ++i) {
    const Actions actions = SampleAndHeal(pool, 0);
    if (first_shrink == SteadyTime{} && !actions.close.empty()) {
      first_shrink = pool.now;
    }
  }
  ASSERT_NE(first_shrink, SteadyTime{});
  EXPECT_GE(first_shrink - started, policy.shrink_window);
  EXPECT_EQ(pool.state.target_size(), 2);
  EXPECT_THAT(pool.Ids(), SizeIs(2));
}

// At a steady load near either mark, with a little noise, the pool settles
// and never shrinks back after growing (the shrink test is made for one
// member fewer, so shrink_below <= grow_above cannot undo a grow).
TEST(PoolDecisionsSizingTest, NoFlappingAtSteadyLoadNearTheMarks) {
  for (double shrink_below : {1.0, 2.0}) {
    for (int load = 1; load <= 14; ++load) {
      SCOPED_TRACE("shrink_below " + std::to_string(shrink_below) + " load " +
                   std::to_string(load));
      PoolPolicy policy = Dynamic(2, 6);
      policy.shrink_below = shrink_below;
      Harness pool(policy, 8);
      StartHealthy(pool);
      int changes_late = 0;
      int last = pool.state.target_size();
      for (int i = 0; i < 4000; ++i) {  // 400 s: many shrink windows
        // +-1 noise, deterministic.
        const int64_t in_flight = load + (i % 3) - 1;
        SampleAndHeal(pool, in_flight);
        const int target = pool.state.target_size();
        ASSERT_GE(target, last) << "shrank at sample " << i;
        if (target != last && i >= 2000) ++changes_late;
        last = target;
      }
      EXPECT_EQ(pool.state.counters().evictions[static_cast<size_t>(EvictionReason::kShrunk)], 0u);
      EXPECT_EQ(changes_late, 0);
      EXPECT_LE(pool.state.counters().grows, 4u);
      // It settled where the load per member is at most grow_above (unless
      // at max), with the noise's smoothed amplitude as the margin.
      const int target = pool.state.target_size();
      if (target < 6) {
        EXPECT_LE(pool.state.smoothed_load(), 2.0 * target + 0.2);
      }
      EXPECT_GE(pool.state.smoothed_load(), 0);
    }
  }
}

TEST(PoolDecisionsSizingTest, ShrinkClosesTheMemberOnTheWorstRankedAddress) {
  for (uint64_t seed : {3ull, 17ull, 99ull}) {
    SCOPED_TRACE(seed);
    Harness pool(Dynamic(2, 5, seed), 8, seed);
    StartHealthy(pool);
    ASSERT_TRUE(GrowTo(pool, 5));
    ASSERT_EQ(MemberRanks(pool), Iota(5));
    std::map<uint64_t, uint32_t> rank_of;
    for (uint64_t id : pool.Ids()) rank_of[id] = RankOf(pool, id);
    std::vector<uint32_t> closed_ranks;
    for (int i = 0; i < 2000; ++i) {
      const Actions actions = SampleAndHeal(pool, 0);
      for (uint64_t id : actions.close) closed_ranks.push_back(rank_of.at(id));
    }
    EXPECT_THAT(closed_ranks, ElementsAre(4u, 3u, 2u));
    EXPECT_EQ(MemberRanks(pool), Iota(2));
  }
}

TEST(PoolDecisionsSizingTest, ResizesRecordEventsAndCounters) {
  Harness pool(Dynamic(2, 4), 6);
  StartHealthy(pool);
  std::vector<Event> events;
  for (int i = 0; i < 100; ++i) {
    Actions actions = SampleAndHeal(pool, 1000);
    for (Event& e : actions.events) events.push_back(std::move(e));
  }
  ASSERT_EQ(pool.state.target_size(), 4);
  EXPECT_EQ(CountEvents(events, Kind::kPoolResized), 2u);
  EXPECT_EQ(pool.state.counters().grows, 2u);
  EXPECT_EQ(pool.state.counters().evictions[static_cast<size_t>(EvictionReason::kShrunk)], 0u);
  for (const Event& e : events) {
    if (e.kind != Kind::kPoolResized) continue;
    EXPECT_THAT(e.detail, HasSubstr(" -> "));
    EXPECT_EQ(e.member_id, 0u);
    EXPECT_EQ(e.severity, LogSeverity::kInfo);
  }
  EXPECT_TRUE(HasEvent(pool.state.events(), Kind::kPoolResized));

  events.clear();
  for (int i = 0; i < 1000; ++i) {
    Actions actions = SampleAndHeal(pool, 0);
    for (Event& e : actions.events) events.push_back(std::move(e));
  }
  ASSERT_EQ(pool.state.target_size(), 2);
  EXPECT_EQ(CountEvents(events, Kind::kPoolResized), 2u);
  EXPECT_EQ(CountEvents(events, Kind::kMemberEvicted), 2u);
  for (const Event& e : events) {
    if (e.kind == Kind::kMemberEvicted) {
      EXPECT_THAT(e.detail, HasSubstr("shrank"));
    }
  }
  EXPECT_EQ(pool.state.counters().grows, 2u);
  EXPECT_EQ(pool.state.counters().evictions[static_cast<size_t>(EvictionReason::kShrunk)], 2u);
  EXPECT_EQ(pool.state.counters()
                .evictions[static_cast<size_t>(EvictionReason::kShrunk)],
            2u);
  EXPECT_EQ(pool.state.counters()
                .evictions[static_cast<size_t>(EvictionReason::kRebalanced)],
            0u);
}

TEST(PoolDecisionsSizingTest, AFixedSizeIgnoresOnLoad) {
  for (int bounds : {0, 3}) {  // 0: both default to pool_size
    SCOPED_TRACE(bounds);
    PoolPolicy policy = Policy(3);
    policy.min_pool_size = bounds;
    policy.max_pool_size = bounds;
    Harness pool(policy, 8);
    StartHealthy(pool);
    EXPECT_FALSE(pool.state.dynamic_size());
    const size_t events = pool.state.events().size();
    for (int64_t in_flight : {int64_t{1000000}, int64_t{0}}) {
      for (int i = 0; i < 500; ++i) {
        const Actions actions = Sample(pool, in_flight);
        ASSERT_THAT(actions.open, IsEmpty());
        ASSERT_THAT(actions.close, IsEmpty());
        ASSERT_THAT(actions.events, IsEmpty());
      }
    }
    EXPECT_EQ(pool.state.target_size(), 3);
    EXPECT_EQ(pool.state.smoothed_load(), 0.0);
    EXPECT_EQ(pool.state.events().size(), events);
    EXPECT_EQ(pool.state.counters().grows, 0u);
    EXPECT_EQ(pool.state.counters().evictions[static_cast<size_t>(EvictionReason::kShrunk)], 0u);
  }
}

// --- Subsetting -----------------------------------------------------------------

TEST(PoolDecisionsSubsettingTest, GrowthTakesTheNextAddressesInRankOrder) {
  std::vector<PoolPolicy> policies;
  for (uint64_t seed : {5ull, 6ull, 7ull}) policies.push_back(Dynamic(2, 6, seed));
  for (int index : {0, 4, 9}) {
    PoolPolicy policy = Dynamic(2, 6);
    policy.subset.mode = SubsetPolicy::Mode::kDeterministic;
    policy.subset.client_index = index;
    policy.subset.client_count = 10;
    policies.push_back(policy);
  }
  for (size_t p = 0; p < policies.size(); ++p) {
    SCOPED_TRACE(p);
    Harness pool(policies[p], 9);
    StartHealthy(pool);
    EXPECT_EQ(MemberRanks(pool), Iota(2));
    for (uint32_t next = 2; next < 6; ++next) {
      Actions actions;
      for (int i = 0; i < 50 && actions.open.empty(); ++i) {
        actions = Sample(pool, 1000);
      }
      ASSERT_THAT(actions.open, SizeIs(1));
      EXPECT_EQ(pool.Addr(actions.open[0].second).rank, next);
      HealAll(pool);
      EXPECT_EQ(MemberRanks(pool), Iota(next + 1));
    }
  }
}

// Deterministic subsetting: client i's members are on exactly its ranks
// 0..k-1, and over a fleet of 7 clients with 3 members each on 10 addresses
// every backend has 2 or 3 of the 21 connections.
TEST(PoolDecisionsSubsettingTest, DeterministicMembersAreExactlyTheFirstRanks) {
  constexpr int kClients = 7;
  std::vector<Address> addresses = Addresses(10);
  std::vector<std::string> sorted;
  for (const Address& a : addresses) sorted.push_back(a.grpc_target);
  std::sort(sorted.begin(), sorted.end());
  std::map<std::string, int> per_backend;
  for (int index = 0; index < kClients; ++index) {
    SCOPED_TRACE(index);
    PoolPolicy policy = Policy(3);
    policy.subset.mode = SubsetPolicy::Mode::kDeterministic;
    policy.subset.client_index = index;
    policy.subset.client_count = kClients;
    Harness pool(policy, 10, /*seed=*/100 + index);
    StartHealthy(pool);
    EXPECT_EQ(MemberRanks(pool), Iota(3));
    const int start = index * 10 / kClients;
    std::vector<std::string> expected;
    for (int r = 0; r < 3; ++r) {
      expected.push_back(sorted[static_cast<size_t>((start + r) % 10)]);
    }
    std::vector<std::string> got;
    for (uint64_t id : pool.Ids()) {
      got.push_back(pool.Addr(pool.AddressOf(id)).address.grpc_target);
      ++per_backend[got.back()];
    }
    EXPECT_THAT(got, UnorderedElementsAreArray(expected));
    // Nothing moves later.
    pool.now += seconds(60);
    const Actions later = pool.Timer();
    EXPECT_THAT(later.open, IsEmpty());
    EXPECT_THAT(later.close, IsEmpty());
  }
  EXPECT_EQ(per_backend.size(), 10u);
  for (const auto& [address, n] : per_backend) {
    EXPECT_GE(n, 2) << address;
    EXPECT_LE(n, 3) << address;
  }
}

// Rendezvous: an address removed by DNS changes at most one member: the
// replacement goes to the next address in rank order, and the stale member
// closes once the replacement is healthy; the other members stay.
TEST(PoolDecisionsSubsettingTest, RendezvousRemovingAnAddressMovesOneMember) {
  for (uint64_t seed : {1ull, 2ull, 3ull, 4ull}) {
    for (int victim_rank = 0; victim_rank < 4; ++victim_rank) {
      SCOPED_TRACE("seed " + std::to_string(seed) + " removing rank " +
                   std::to_string(victim_rank));
      PoolPolicy policy = Policy(3);
      policy.subset = RendezvousSeed(seed);
      Harness pool(policy, 10, seed);
      StartHealthy(pool);
      ASSERT_EQ(MemberRanks(pool), Iota(3));
      std::map<uint32_t, std::string> by_rank;
      for (size_t i = 0; i < 10; ++i) {
        by_rank[pool.Addr(i).rank] = pool.Addr(i).address.display;
      }
      const std::vector<uint64_t> before = pool.Ids();
      const std::string removed = by_rank.at(static_cast<uint32_t>(victim_rank));

      const Actions changed = pool.state.SetAddresses(
          AddressesWithout(10, removed), pool.now);
      EXPECT_TRUE(HasEvent(changed, Kind::kAddressesChanged));
      EXPECT_THAT(changed.close, IsEmpty());  // no capacity lost meanwhile
      if (victim_rank >= 3) {
        // Not one of the members' addresses: nothing moves.
        EXPECT_THAT(changed.open, IsEmpty());
        EXPECT_EQ(pool.Ids(), before);
        continue;
      }
      ASSERT_THAT(changed.open, SizeIs(1));
      const uint64_t replacement = changed.open[0].first;
      EXPECT_EQ(pool.Addr(pool.AddressOf(replacement)).address.display,
                by_rank.at(3));
      const Actions healthy = pool.MakeHealthy(replacement);
      ASSERT_THAT(healthy.close, SizeIs(1));
      std::vector<std::string> expected;
      for (uint32_t r = 0; r < 4; ++r) {
        if (static_cast<int>(r) != victim_rank) expected.push_back(by_rank.at(r));
      }
      std::sort(expected.begin(), expected.end());
      EXPECT_EQ(MemberAddresses(pool), expected);
      // Exactly one member changed: the others are the same ids.
      std::vector<uint64_t> kept;
      for (uint64_t id : before) {
        if (pool.Has(id)) kept.push_back(id);
      }
      EXPECT_THAT(kept, SizeIs(2));
      EXPECT_THAT(healthy.close, ElementsAre(::testing::Not(
                                     ::testing::AnyOfArray(kept))));
      // And it stays so.
      pool.now += seconds(60);
      const Actions later = pool.Timer();
      EXPECT_THAT(later.open, IsEmpty());
      EXPECT_THAT(later.close, IsEmpty());
      EXPECT_EQ(MemberRanks(pool), Iota(3));
    }
  }
}

// A member evicted from its address goes to the next free one; when the
// address's backoff runs out, it ranks above the replacement's again, so a
// member moves back (opened first; the replacement retires once it is
// healthy).
TEST(PoolDecisionsSubsettingTest, AFreeBetterRankedAddressAfterBackoffPullsBack) {
  PoolPolicy policy = Policy(3);
  policy.subset = RendezvousSeed(8);
  Harness pool(policy, 6, 8);
  StartHealthy(pool);
  ASSERT_EQ(MemberRanks(pool), Iota(3));
  uint64_t best = 0;
  for (uint64_t id : pool.Ids()) {
    if (RankOf(pool, id) == 0) best = id;
  }
  const size_t best_address = pool.AddressOf(best);
  const Actions evicted = pool.FailUntilUnhealthy(best);
  ASSERT_THAT(evicted.close, ElementsAre(best));
  ASSERT_THAT(evicted.open, SizeIs(1));
  const uint64_t stand_in = evicted.open[0].first;
  EXPECT_EQ(RankOf(pool, stand_in), 3u);  // the best that is not backing off
  pool.MakeHealthy(stand_in);
  EXPECT_EQ(MemberRanks(pool), (std::vector<uint32_t>{1, 2, 3}));

  // Before the backoff runs out nothing moves.
  const SteadyTime retry_at = pool.Addr(best_address).retry_at;
  ASSERT_GT(retry_at, pool.now);
  pool.now = retry_at - milliseconds(1);
  EXPECT_THAT(pool.Timer().open, IsEmpty());
  EXPECT_EQ(pool.state.NextDeadline(), retry_at);

  pool.now = retry_at;
  const Actions back = pool.Timer();
  ASSERT_THAT(back.open, SizeIs(1));
  EXPECT_EQ(back.open[0].second, best_address);
  EXPECT_THAT(back.close, IsEmpty());  // the stand-in serves meanwhile
  EXPECT_TRUE(pool.Member(back.open[0].first).surplus);
  const Actions retired = pool.MakeHealthy(back.open[0].first);
  EXPECT_THAT(retired.close, ElementsAre(stand_in));
  EXPECT_EQ(MemberRanks(pool), Iota(3));
  EXPECT_EQ(pool.state.counters()
                .evictions[static_cast<size_t>(EvictionReason::kRebalanced)],
            1u);
}

// A rendezvous seed of 0 is drawn per channel (A68: a fleet's clients rank
// differently); a seed set in the options makes the ranking repeatable
// whatever the channel's own randomness.
TEST(PoolDecisionsSubsettingTest, RendezvousSeedZeroIsPerChannelAndASetSeedRepeats) {
  std::set<std::vector<std::string>> random_subsets;
  std::set<std::vector<std::string>> fixed_subsets;
  for (uint64_t channel_seed = 1; channel_seed <= 40; ++channel_seed) {
    PoolPolicy random = Policy(3);  // subset.seed 0
    Harness a(random, 10, channel_seed);
    a.Start();
    random_subsets.insert(MemberAddresses(a));
    PoolPolicy fixed = Policy(3);
    fixed.subset = RendezvousSeed(777);
    Harness b(fixed, 10, channel_seed);
    b.Start();
    fixed_subsets.insert(MemberAddresses(b));
  }
  // 120 possible subsets of 3 of 10: 40 random draws give about 34 distinct.
  EXPECT_GT(random_subsets.size(), 20u);
  EXPECT_EQ(fixed_subsets.size(), 1u);
}

// --- Address changes with a dynamic size --------------------------------------

// "while every wanted member is pickable": a replacement for a member whose
// address left DNS is wanted; while it is not pickable yet, the pool must
// not grow (the stale member it replaces is draining, not a wanted member).
TEST(PoolDecisionsSizingTest, DoesNotGrowWhileAReplacementIsNotPickable) {
  Harness pool(Dynamic(3, 6), 8);
  StartHealthy(pool);
  ASSERT_EQ(MemberRanks(pool), Iota(3));
  std::string removed;
  for (uint64_t id : pool.Ids()) {
    if (RankOf(pool, id) == 0) {
      removed = pool.Addr(pool.AddressOf(id)).address.display;
    }
  }
  const Actions changed =
      pool.state.SetAddresses(AddressesWithout(8, removed), pool.now);
  ASSERT_THAT(changed.open, SizeIs(1));
  const uint64_t replacement = changed.open[0].first;
  ASSERT_EQ(pool.TierOf(replacement), Tier::kTrying);
  for (int i = 0; i < 50; ++i) {
    const Actions actions = Sample(pool, 1000);
    std::string resized;
    for (const Event& e : actions.events) {
      if (e.kind == Kind::kPoolResized) resized = e.detail;
    }
    ASSERT_FALSE(HasEvent(actions, Kind::kPoolResized))
        << "grew at sample " << i << " while the replacement #" << replacement
        << " was not pickable: " << resized;
  }
  EXPECT_EQ(pool.state.target_size(), 3);
}

// "up to max_pool_size and the number of current addresses", "at most one
// member per address" (PoolSizingOptions): when addresses leave and the
// target is above the addresses left, no second member is opened on an
// address.
TEST(PoolDecisionsSizingTest, AddressesLeavingOpenNoSecondMemberOnAnAddress) {
  Harness pool(Dynamic(2, 6), 6);
  StartHealthy(pool);
  ASSERT_TRUE(GrowTo(pool, 6));
  ASSERT_THAT(pool.MembersPerAddress(), ElementsAre(1, 1, 1, 1, 1, 1));
  std::vector<Address> four = Addresses(6);
  four.resize(4);
  const Actions changed = pool.state.SetAddresses(four, pool.now);
  std::vector<std::string> opened_on;
  for (const auto& [id, address] : changed.open) {
    opened_on.push_back(pool.Addr(address).address.display);
  }
  EXPECT_THAT(changed.open, IsEmpty())
      << "opened on " << ::testing::PrintToString(opened_on)
      << ", which already have members";
  EXPECT_LE(pool.state.target_size(), 4);
  // The samples settle it at 4 members, one per address, in any case.
  for (int i = 0; i < 20; ++i) SampleAndHeal(pool, 1000);
  EXPECT_EQ(pool.state.target_size(), 4);
  EXPECT_THAT(pool.MembersPerAddress(), ElementsAre(1, 1, 1, 1));
}

// "at most one member per address" (PoolSizingOptions): while an address is
// backing off, growth does not put a second member on an occupied one.
TEST(PoolDecisionsSizingTest, GrowthPutsNoSecondMemberOnAnAddress) {
  PoolPolicy policy = Dynamic(2, 4);
  Harness pool(policy, 4);
  StartHealthy(pool);
  ASSERT_EQ(MemberRanks(pool), Iota(2));
  uint64_t best = 0;
  for (uint64_t id : pool.Ids()) {
    if (RankOf(pool, id) == 0) best = id;
  }
  const size_t backing_off = pool.AddressOf(best);
  const Actions evicted = pool.FailUntilUnhealthy(best);
  ASSERT_THAT(evicted.close, ElementsAre(best));
  HealAll(pool);
  ASSERT_GT(pool.Addr(backing_off).retry_at, pool.now + 2 * kSample);
  // High load while the best address backs off (at least 250 ms).
  for (int i = 0; pool.now + kSample < pool.Addr(backing_off).retry_at; ++i) {
    const Actions actions = SampleAndHeal(pool, 1000);
    for (const auto& [id, address] : actions.open) {
      EXPECT_EQ(pool.Addr(address).members, 1)
          << "sample " << i << ": #" << id << " opened on "
          << pool.Addr(address).address.display << ", which has a member";
    }
  }
  EXPECT_THAT(pool.MembersPerAddress(), Each(::testing::Le(1)));
}

// Shrinking closes a member that is not serving before the worst-ranked one
// (header comment). That must not undo itself: when the closed member was an
// ejected one on a well-ranked address, the pool must not open a new member
// on that same address at once (a new connection to the outlier it ejected)
// and retire a healthy worse-ranked member for it.
TEST(PoolDecisionsSizingTest, ShrinkingAnEjectedMemberDoesNotReopenItsAddress) {
  Harness pool(Dynamic(2, 6), 8);
  StartHealthy(pool);
  ASSERT_TRUE(GrowTo(pool, 4, 7));
  for (int i = 0; i < 30; ++i) SampleAndHeal(pool, 7);
  ASSERT_EQ(pool.state.target_size(), 4);
  ASSERT_EQ(MemberRanks(pool), Iota(4));
  uint64_t outlier = 0;
  for (uint64_t id : pool.Ids()) {
    if (RankOf(pool, id) == 1) outlier = id;
  }
  const std::string outlier_address =
      pool.Addr(pool.AddressOf(outlier)).address.display;
  ASSERT_TRUE(HasEvent(pool.CallFailures(outlier), Kind::kMemberEjected));
  ASSERT_TRUE(pool.Member(outlier).ejected);
  // The load stops before the ejection (30 s) ends.
  std::vector<std::string> opened_on;
  bool shrunk = false;
  for (int i = 0; i < 250; ++i) {  // 25 s
    const Actions actions = SampleAndHeal(pool, 0);
    shrunk |= !actions.close.empty();
    for (const auto& [id, address] : actions.open) {
      opened_on.push_back(pool.Has(id) ? pool.Addr(pool.AddressOf(id)).address.display
                                       : "#" + std::to_string(id));
    }
  }
  ASSERT_TRUE(shrunk);
  EXPECT_FALSE(pool.Has(outlier)) << "the not-serving member goes first";
  EXPECT_THAT(opened_on, IsEmpty())
      << "the ejected member's address was " << outlier_address;
  EXPECT_EQ(pool.state.counters()
                .evictions[static_cast<size_t>(EvictionReason::kRebalanced)],
            0u);
}

// A fixed-size pool never shrinks by load: an address that leaves DNS and
// comes back (its member kept, a replacement opened meanwhile) must not count
// as a shrink (Counters::shrinks, EvictionReason::kShrunk, the metric
// warm_channel_pool_resizes_total{direction="shrink"}).
TEST(PoolDecisionsSizingTest, AFixedPoolCountsNoShrinkWhenAnAddressReturns) {
  PoolPolicy policy = Policy(3);
  policy.subset = RendezvousSeed(9);
  Harness pool(policy, 4, 9);
  StartHealthy(pool);
  std::string removed;
  for (uint64_t id : pool.Ids()) {
    if (RankOf(pool, id) == 0) {
      removed = pool.Addr(pool.AddressOf(id)).address.display;
    }
  }
  const Actions gone =
      pool.state.SetAddresses(AddressesWithout(4, removed), pool.now);
  ASSERT_THAT(gone.open, SizeIs(1));
  Actions back = pool.state.SetAddresses(Addresses(4), pool.now);
  back.Append(HealAll(pool));
  pool.now += seconds(60);
  back.Append(pool.Timer());
  EXPECT_THAT(pool.Ids(), SizeIs(3));
  EXPECT_EQ(pool.state.target_size(), 3);
  EXPECT_EQ(pool.state.counters().evictions[static_cast<size_t>(EvictionReason::kShrunk)], 0u);
  EXPECT_EQ(pool.state.counters()
                .evictions[static_cast<size_t>(EvictionReason::kShrunk)],
            0u);
  for (const Event& e : back.events) {
    EXPECT_THAT(e.detail, Not(HasSubstr("shrank"))) << e.detail;
  }
}

// --- Found by review ---------------------------------------------------------

// A DNS target has no address at Start(): the pool must still start at
// pool_size once the first answer comes, not at min_size.
TEST(PoolDecisionsSizingTest, ADnsTargetStartsAtPoolSize) {
  PoolPolicy policy = Dynamic(2, 6);
  policy.pool_size = 4;
  Harness pool(policy, /*addresses=*/0);
  pool.Start();
  EXPECT_EQ(pool.state.target_size(), 4);
  pool.state.SetAddresses(Addresses(8), pool.now);
  HealAll(pool);
  EXPECT_EQ(pool.state.target_size(), 4);
  EXPECT_THAT(pool.Ids(), SizeIs(4));
}

// A shrink while a member is being recycled (TLS) closes one member, not
// the recycled one and then its replacement, and backs no healthy address
// off.
TEST(PoolDecisionsSizingTest, AShrinkDuringRecyclingClosesOneMember) {
  PoolPolicy policy = Dynamic(2, 6);
  policy.replacement_timeout = seconds(120);
  Harness pool(policy, 8);
  StartHealthy(pool);
  ASSERT_TRUE(GrowTo(pool, 3, 5));
  const Actions recycle = pool.state.Recycle(pool.Ids(), pool.now);
  ASSERT_THAT(recycle.open, SizeIs(1));  // the replacement stays connecting
  const size_t recycled_address = recycle.open[0].second;
  Actions shrink;
  for (int i = 0; i < 1000 && shrink.close.empty(); ++i) {
    shrink = Sample(pool, 0);
  }
  EXPECT_EQ(pool.state.target_size(), 2);
  EXPECT_THAT(shrink.close, SizeIs(1));
  EXPECT_EQ(pool.Addr(recycled_address).failures, 0);
}

// The resize counters count changes of the target, so they balance even
// when a shrink needs no member closed (the member above the target was
// evicted meanwhile).
TEST(PoolDecisionsSizingTest, ResizeCountersCountTargetChanges) {
  PoolPolicy policy = Dynamic(2, 3);
  policy.backoff_initial = seconds(60);
  policy.backoff_jitter = 0;
  Harness pool(policy, 3);
  StartHealthy(pool);
  ASSERT_TRUE(GrowTo(pool, 3, 100));
  uint64_t third = 0;
  for (uint64_t id : pool.Ids()) {
    if (RankOf(pool, id) == 2) third = id;
  }
  pool.FailUntilUnhealthy(third);
  for (int i = 0; i < 1000 && pool.state.target_size() > 2; ++i) {
    Sample(pool, 0);
  }
  EXPECT_EQ(pool.state.target_size(), 2);
  EXPECT_EQ(pool.state.counters().grows, 1u);
  EXPECT_EQ(pool.state.counters().shrinks, 1u);
  EXPECT_EQ(pool.state.counters()
                .evictions[static_cast<size_t>(EvictionReason::kShrunk)],
            0u);
}

// A surplus member whose address left DNS before it became healthy retires
// no serving member (it is drained itself).
TEST(PoolDecisionsSizingTest, AStaleSurplusMemberRetiresNobody) {
  Harness pool(Policy(3), 2);
  StartHealthy(pool);
  const size_t doubled = pool.Addr(0).members == 2 ? 0 : 1;
  const size_t single = 1 - doubled;
  const Actions added = pool.state.SetAddresses(Addresses(3), pool.now);
  ASSERT_THAT(added.open, SizeIs(1));
  const uint64_t surplus = added.open[0].first;
  uint64_t lone = 0;
  for (uint64_t id : pool.Ids()) {
    if (pool.AddressOf(id) == single) lone = id;
  }
  pool.Connectivity(lone, GRPC_CHANNEL_CONNECTING);
  pool.state.SetAddresses(Addresses(2), pool.now);
  ASSERT_TRUE(pool.Addr(pool.AddressOf(surplus)).stale);
  std::vector<uint64_t> serving;
  for (uint64_t id : pool.Ids()) {
    if (pool.AddressOf(id) == doubled && IsHealthy(pool, id)) {
      serving.push_back(id);
    }
  }
  ASSERT_THAT(serving, SizeIs(2));
  const Actions healthy = pool.MakeHealthy(surplus);
  for (uint64_t id : healthy.close) {
    EXPECT_THAT(serving, Not(Contains(id))) << "closed serving member #" << id;
  }
  EXPECT_THAT(healthy.open, IsEmpty());
}

}  // namespace
}  // namespace internal
}  // namespace warm
