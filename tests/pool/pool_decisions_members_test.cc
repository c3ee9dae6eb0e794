// Unit tests of PoolDecisions (see pool_decisions_test.cc): outlier
// ejection, rebalancing, the event log, address changes from DNS answers and
// recycling for TLS rotation.

#include "tests/pool/pool_decisions_harness.h"

namespace warm {
namespace internal {
namespace {

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
