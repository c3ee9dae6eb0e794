// Unit tests of PoolDecisions' health by source and liveness: Watch messages
// count at once, polled checks by the thresholds (OnCheck with CheckSource);
// a stalled member is suspected and probed (OnStall), and its suspicion ends
// when a probe is answered, its connection leaves READY or no other member
// is pickable. Fake clock, seeded randomness, no sleeps; the contract is
// HealthCheckOptions' and LivenessOptions' in include/warm/options.h.

#include "tests/pool/pool_decisions_harness.h"

namespace warm {
namespace internal {
namespace {

// Short-hands for the inputs of this file.
Actions Watch(Harness& pool, uint64_t id, CheckOutcome outcome,
              std::string detail = "") {
  if (detail.empty()) {
    detail = outcome == CheckOutcome::kServing      ? "SERVING"
             : outcome == CheckOutcome::kNotServing ? "NOT_SERVING"
                                                    : "Watch stream ended";
  }
  return pool.state.OnCheck(id, CheckSource::kWatch, outcome, detail, pool.now);
}
Actions Probe(Harness& pool, uint64_t id, CheckOutcome outcome) {
  const char* detail = outcome == CheckOutcome::kServing      ? "SERVING"
                       : outcome == CheckOutcome::kNotServing ? "NOT_SERVING"
                       : outcome == CheckOutcome::kUnimplemented
                           ? "UNIMPLEMENTED"
                           : "DEADLINE_EXCEEDED: probe";
  return pool.state.OnCheck(id, CheckSource::kProbe, outcome, detail, pool.now);
}
Actions Stall(Harness& pool, uint64_t id) {
  return pool.state.OnStall(id, "3 unary calls in flight, none completed",
                            pool.now);
}

// Three members on three addresses, all READY and healthy by polled checks.
struct Healthy3 {
  Healthy3() : pool(Policy(3), 3) {
    pool.Start();
    ids = pool.Ids();
    for (uint64_t id : ids) pool.MakeHealthy(id);
  }
  Harness pool;
  std::vector<uint64_t> ids;
};

// --- Health by source --------------------------------------------------------

TEST(PoolDecisionsWatchTest, ServingMessageMakesANewMemberHealthyAtOnce) {
  Harness pool(Policy(3), 3);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  pool.Ready(id);
  const Actions actions = Watch(pool, id, CheckOutcome::kServing);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kHealthy);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberHealthy, id));
  EXPECT_EQ(pool.state.health().healthy_members, 1);
  EXPECT_EQ(pool.Member(id).last_check, "SERVING");
}

TEST(PoolDecisionsWatchTest,
     NotServingMessageMakesAHealthyMemberUnhealthyAtOnce) {
  Healthy3 h;
  Harness& pool = h.pool;
  ASSERT_EQ(pool.state.policy().unhealthy_threshold, 2);
  const uint64_t victim = h.ids[0];
  const Actions actions = Watch(pool, victim, CheckOutcome::kNotServing);
  EXPECT_FALSE(pool.Has(victim)) << "evicted after one NOT_SERVING message";
  EXPECT_THAT(actions.close, ElementsAre(victim));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberUnhealthy, victim));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberEvicted, victim));
  for (const Event& event : actions.events) {
    if (event.kind == Kind::kMemberUnhealthy) {
      EXPECT_THAT(event.detail, HasSubstr("NOT_SERVING"));
    }
  }
  EXPECT_THAT(actions.open, SizeIs(1)) << "replaced";
}

TEST(PoolDecisionsWatchTest, NotServingMessageOnANewMemberMakesItUnhealthy) {
  Harness pool(Policy(3), 4);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  pool.Ready(id);
  const Actions actions = Watch(pool, id, CheckOutcome::kNotServing);
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberUnhealthy, id));
  EXPECT_FALSE(pool.Has(id));
}

TEST(PoolDecisionsWatchTest, PolledNotServingStillNeedsTheThreshold) {
  Healthy3 h;
  Harness& pool = h.pool;
  const uint64_t id = h.ids[0];
  Actions actions = pool.Fail(id);  // polled
  EXPECT_TRUE(pool.Has(id));
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kHealthy);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  EXPECT_FALSE(HasEvent(actions, Kind::kMemberUnhealthy));
  actions = pool.Fail(id);
  EXPECT_FALSE(pool.Has(id));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberUnhealthy, id));
}

TEST(PoolDecisionsWatchTest, ABrokenStreamCountsAsOneFailedCheck) {
  Healthy3 h;
  Harness& pool = h.pool;
  const uint64_t id = h.ids[0];
  Watch(pool, id, CheckOutcome::kFailed, "Watch stream ended: UNAVAILABLE");
  EXPECT_TRUE(pool.Has(id));
  EXPECT_EQ(pool.Member(id).failures, 1);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  const Actions actions =
      Watch(pool, id, CheckOutcome::kFailed, "DEADLINE_EXCEEDED: no message");
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberUnhealthy, id));
  EXPECT_FALSE(pool.Has(id));
}

TEST(PoolDecisionsWatchTest, ServingMessageIsEnoughForAnUnhealthyMember) {
  // One address, one member: the unhealthy last member stays (nothing can
  // replace it while its address backs off).
  Harness pool(Policy(1), 1);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  pool.MakeHealthy(id);
  pool.FailUntilUnhealthy(id);
  ASSERT_TRUE(pool.Has(id));
  ASSERT_EQ(pool.Member(id).health, MemberHealth::kUnhealthy);
  ASSERT_EQ(pool.state.policy().healthy_threshold, 2);

  const Actions actions = Watch(pool, id, CheckOutcome::kServing);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kHealthy)
      << "healthy_threshold 2, but a SERVING message counts as enough";
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberHealthy, id));
}

TEST(PoolDecisionsWatchTest,
     PolledServingNeedsTheThresholdForAnUnhealthyMember) {
  Harness pool(Policy(1), 1);
  pool.Start();
  const uint64_t id = pool.Ids()[0];
  pool.MakeHealthy(id);
  pool.FailUntilUnhealthy(id);
  ASSERT_EQ(pool.Member(id).health, MemberHealth::kUnhealthy);
  pool.Serve(id);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kUnhealthy);
  pool.Serve(id);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kHealthy);
}

// --- Stalls: suspicion -------------------------------------------------------

TEST(PoolDecisionsStallTest, StalledPickableMemberIsSuspectedAndProbed) {
  Healthy3 h;
  Harness& pool = h.pool;
  const uint64_t id = h.ids[1];
  const Actions actions = Stall(pool, id);
  EXPECT_TRUE(pool.Member(id).suspected);
  EXPECT_EQ(pool.Member(id).suspected_at, pool.now);
  EXPECT_EQ(pool.TierOf(id), Tier::kOther) << "out of the picker at once";
  EXPECT_THAT(actions.probe, ElementsAre(id));
  ASSERT_TRUE(HasEvent(actions, Kind::kMemberSuspected, id));
  for (const Event& event : actions.events) {
    if (event.kind == Kind::kMemberSuspected) {
      EXPECT_EQ(event.severity, LogSeverity::kWarning);
      EXPECT_THAT(event.detail, HasSubstr("none completed"));
    }
  }
  EXPECT_THAT(actions.close, IsEmpty()) << "suspected, not evicted";
  EXPECT_TRUE(pool.Has(id));
  EXPECT_TRUE(HasEvent(pool.state.events(), Kind::kMemberSuspected, id));
}

TEST(PoolDecisionsStallTest, TheOnlyPickableMemberIsNotSuspected) {
  Harness pool(Policy(3), 3);
  pool.Start();
  const std::vector<uint64_t> ids = pool.Ids();
  pool.MakeHealthy(ids[0]);
  pool.Ready(ids[1]);  // READY, not checked yet: trying, not pickable
  ASSERT_EQ(pool.TierOf(ids[1]), Tier::kTrying);
  const Actions actions = Stall(pool, ids[0]);
  EXPECT_FALSE(pool.Member(ids[0]).suspected);
  EXPECT_EQ(pool.TierOf(ids[0]), Tier::kPickable);
  EXPECT_THAT(actions.probe, IsEmpty());
  EXPECT_FALSE(HasEvent(actions, Kind::kMemberSuspected));
}

TEST(PoolDecisionsStallTest, AMemberNotPickableIsNotSuspected) {
  Healthy3 h;
  Harness& pool = h.pool;
  pool.Disconnect(h.ids[0]);
  Actions actions = Stall(pool, h.ids[0]);
  EXPECT_FALSE(pool.Member(h.ids[0]).suspected);
  EXPECT_THAT(actions.probe, IsEmpty());
  actions = pool.state.OnStall(999, "unknown", pool.now);
  EXPECT_THAT(actions.probe, IsEmpty());
  EXPECT_THAT(actions.events, IsEmpty());
}

TEST(PoolDecisionsStallTest, ASecondStallWhileSuspectedDoesNothing) {
  Healthy3 h;
  Harness& pool = h.pool;
  const uint64_t id = h.ids[0];
  Stall(pool, id);
  const SteadyTime suspected_at = pool.now;
  pool.now += milliseconds(200);
  const Actions actions = Stall(pool, id);
  EXPECT_THAT(actions.probe, IsEmpty()) << "a probe is already running";
  EXPECT_THAT(actions.events, IsEmpty());
  EXPECT_TRUE(pool.Member(id).suspected);
  EXPECT_EQ(pool.Member(id).suspected_at, suspected_at);
}

// --- Probes ------------------------------------------------------------------

TEST(PoolDecisionsProbeTest, AFailedProbeProbesAgainAndCountsAsAFailedCheck) {
  Healthy3 h;
  Harness& pool = h.pool;
  const uint64_t id = h.ids[0];
  Stall(pool, id);
  Actions actions = Probe(pool, id, CheckOutcome::kFailed);
  EXPECT_THAT(actions.probe, ElementsAre(id));
  EXPECT_TRUE(pool.Member(id).suspected);
  EXPECT_EQ(pool.TierOf(id), Tier::kOther);
  EXPECT_EQ(pool.Member(id).failures, 1);
  EXPECT_EQ(pool.Member(id).health, MemberHealth::kHealthy) << "threshold 2";
  EXPECT_FALSE(HasEvent(actions, Kind::kMemberReturned));

  // unhealthy_threshold failed probes: unhealthy, evicted, replaced.
  actions = Probe(pool, id, CheckOutcome::kFailed);
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberUnhealthy, id));
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberEvicted, id));
  EXPECT_FALSE(pool.Has(id));
  EXPECT_THAT(actions.close, ElementsAre(id));
  EXPECT_THAT(actions.open, SizeIs(1));
  EXPECT_EQ(
      pool.state.counters().checks[static_cast<size_t>(CheckOutcome::kFailed)],
      2u);
}

TEST(PoolDecisionsProbeTest, AnAnsweredProbeEndsTheSuspicion) {
  for (CheckOutcome outcome :
       {CheckOutcome::kServing, CheckOutcome::kNotServing,
        CheckOutcome::kUnimplemented}) {
    SCOPED_TRACE(static_cast<int>(outcome));
    Healthy3 h;
    Harness& pool = h.pool;
    const uint64_t id = h.ids[0];
    Stall(pool, id);
    pool.now += milliseconds(300);
    const Actions actions = Probe(pool, id, outcome);
    EXPECT_FALSE(pool.Member(id).suspected);
    EXPECT_THAT(actions.probe, IsEmpty());
    ASSERT_TRUE(HasEvent(actions, Kind::kMemberReturned, id));
    for (const Event& event : actions.events) {
      if (event.kind == Kind::kMemberReturned) {
        EXPECT_THAT(event.detail, HasSubstr("no longer suspected"));
      }
    }
    // Back in the picker: a NOT_SERVING probe is one polled failure of two.
    EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
  }
}

TEST(PoolDecisionsProbeTest, AnswersAfterTheSuspicionEndedCountOnlyAsChecks) {
  Healthy3 h;
  Harness& pool = h.pool;
  const uint64_t id = h.ids[0];
  Stall(pool, id);
  Probe(pool, id, CheckOutcome::kServing);
  ASSERT_FALSE(pool.Member(id).suspected);
  const Actions actions = Probe(pool, id, CheckOutcome::kFailed);
  EXPECT_THAT(actions.probe, IsEmpty()) << "not suspected: no more probes";
  EXPECT_FALSE(HasEvent(actions, Kind::kMemberReturned));
  EXPECT_EQ(pool.Member(id).failures, 1);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
}

TEST(PoolDecisionsProbeTest, WithChecksOffFailedProbesRepeatAndNeverEvict) {
  PoolPolicy policy = Policy(3);
  policy.health_checks = false;
  Harness pool(policy, 3);
  pool.Start();
  const std::vector<uint64_t> ids = pool.Ids();
  for (uint64_t id : ids) pool.Ready(id);
  ASSERT_EQ(pool.TierOf(ids[0]), Tier::kPickable);
  Stall(pool, ids[0]);
  ASSERT_TRUE(pool.Member(ids[0]).suspected);
  for (int i = 0; i < 5; ++i) {
    const Actions actions = Probe(pool, ids[0], CheckOutcome::kFailed);
    EXPECT_THAT(actions.probe, ElementsAre(ids[0]));
    EXPECT_TRUE(pool.Has(ids[0])) << "never evicted for health";
    EXPECT_EQ(pool.Member(ids[0]).health, MemberHealth::kNotChecked);
  }
  const Actions actions = Probe(pool, ids[0], CheckOutcome::kServing);
  EXPECT_FALSE(pool.Member(ids[0]).suspected);
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberReturned, ids[0]));
  EXPECT_EQ(pool.TierOf(ids[0]), Tier::kPickable);
}

// --- The end of suspicion otherwise ------------------------------------------

TEST(PoolDecisionsSuspicionTest, LeavingReadyEndsTheSuspicion) {
  Healthy3 h;
  Harness& pool = h.pool;
  const uint64_t id = h.ids[0];
  Stall(pool, id);
  Actions actions = pool.Connectivity(id, GRPC_CHANNEL_IDLE);
  EXPECT_FALSE(pool.Member(id).suspected);
  ASSERT_TRUE(HasEvent(actions, Kind::kMemberReturned, id));
  for (const Event& event : actions.events) {
    if (event.kind == Kind::kMemberReturned) {
      EXPECT_THAT(event.detail, HasSubstr("IDLE"));
    }
  }
  // Its next connection starts afresh: pickable once READY (still healthy).
  actions = pool.Ready(id);
  EXPECT_EQ(pool.TierOf(id), Tier::kPickable);
}

TEST(PoolDecisionsSuspicionTest,
     WhenNoOtherMemberIsPickableTheOldestSuspicionEnds) {
  Healthy3 h;
  Harness& pool = h.pool;
  const std::vector<uint64_t>& ids = h.ids;
  Stall(pool, ids[0]);
  pool.now += milliseconds(100);
  Stall(pool, ids[1]);
  ASSERT_TRUE(pool.Member(ids[0]).suspected);
  ASSERT_TRUE(pool.Member(ids[1]).suspected);

  // The last pickable member's connection fails.
  const Actions actions = pool.Disconnect(ids[2]);
  EXPECT_FALSE(pool.Member(ids[0]).suspected) << "the oldest ends";
  EXPECT_TRUE(pool.Member(ids[1]).suspected) << "one pickable is enough";
  EXPECT_EQ(pool.TierOf(ids[0]), Tier::kPickable);
  ASSERT_TRUE(HasEvent(actions, Kind::kMemberReturned, ids[0]));
  EXPECT_FALSE(HasEvent(actions, Kind::kMemberReturned, ids[1]));
  for (const Event& event : actions.events) {
    if (event.kind == Kind::kMemberReturned) {
      EXPECT_THAT(event.detail, HasSubstr("no other member is pickable"));
    }
  }
}

TEST(PoolDecisionsSuspicionTest, EvictionOfTheOthersEndsTheSuspicion) {
  Healthy3 h;
  Harness& pool = h.pool;
  const std::vector<uint64_t>& ids = h.ids;
  Stall(pool, ids[0]);
  Watch(pool, ids[1], CheckOutcome::kNotServing);
  EXPECT_TRUE(pool.Member(ids[0]).suspected) << "member 3 is still pickable";
  const Actions actions = Watch(pool, ids[2], CheckOutcome::kNotServing);
  EXPECT_FALSE(pool.Has(ids[2]));
  EXPECT_FALSE(pool.Member(ids[0]).suspected)
      << "replacements are not pickable yet";
  EXPECT_TRUE(HasEvent(actions, Kind::kMemberReturned, ids[0]));
  EXPECT_EQ(pool.TierOf(ids[0]), Tier::kPickable);
}

// --- Channel health ----------------------------------------------------------

// What is: a suspected member still counts as healthy in ChannelHealth
// (it is READY and passed its checks; only its tier is kOther), unlike an
// ejected one. So the channel's status and healthy_members do not move while
// members are suspected, although they take no calls.
TEST(PoolDecisionsSuspicionTest, SuspectedMembersStillCountAsHealthy) {
  Healthy3 h;
  Harness& pool = h.pool;
  ASSERT_EQ(pool.state.health().status, ChannelStatus::kHealthy);
  const Actions actions = Stall(pool, h.ids[0]);
  Stall(pool, h.ids[1]);
  EXPECT_EQ(pool.TierOf(h.ids[0]), Tier::kOther);
  EXPECT_EQ(pool.TierOf(h.ids[1]), Tier::kOther);
  EXPECT_TRUE(pool.state.Healthy(pool.Member(h.ids[0])));
  EXPECT_EQ(pool.state.health().healthy_members, 3);
  EXPECT_EQ(pool.state.health().status, ChannelStatus::kHealthy);
  EXPECT_FALSE(actions.health_changed);
  EXPECT_FALSE(pool.state.degraded());

  // Ejection, for comparison: an ejected member, also out of the picker,
  // does not count.
  Probe(pool, h.ids[0], CheckOutcome::kServing);
  Probe(pool, h.ids[1], CheckOutcome::kServing);
  pool.CallFailures(h.ids[2]);
  ASSERT_TRUE(pool.Member(h.ids[2]).ejected);
  EXPECT_EQ(pool.state.health().healthy_members, 2);
}

// A suspicion lasts a probe's round trip: it must not end another member's
// outlier ejection by leaving too few members pickable for a moment.
TEST(PoolDecisionsLivenessTest, ASuspicionDoesNotEndAnEjection) {
  PoolPolicy policy = Policy(3);
  policy.critical_min = 2;
  Harness pool(policy, 3);
  pool.Start();
  std::vector<uint64_t> ids = pool.Ids();
  for (uint64_t id : ids) pool.MakeHealthy(id);
  pool.CallFailures(ids[0]);
  ASSERT_TRUE(pool.Member(ids[0]).ejected);
  pool.state.OnStall(ids[1], "stalled", pool.now);
  ASSERT_TRUE(pool.Member(ids[1]).suspected);
  EXPECT_TRUE(pool.Member(ids[0]).ejected) << "still ejected while suspected";
  Probe(pool, ids[1], CheckOutcome::kServing);
  EXPECT_FALSE(pool.Member(ids[1]).suspected);
  EXPECT_TRUE(pool.Member(ids[0]).ejected);
}

// A probe the server answered with an error status of its own (NOT_FOUND,
// UNAUTHENTICATED, ...) proves it alive: the suspicion ends, and the
// outcome still counts as a failed check.
TEST(PoolDecisionsLivenessTest, AProbeAnsweredWithAnErrorEndsTheSuspicion) {
  Harness pool(Policy(3), 3);
  pool.Start();
  std::vector<uint64_t> ids = pool.Ids();
  for (uint64_t id : ids) pool.MakeHealthy(id);
  pool.state.OnStall(ids[0], "stalled", pool.now);
  ASSERT_TRUE(pool.Member(ids[0]).suspected);
  Actions actions = pool.state.OnCheck(
      ids[0], CheckSource::kProbe, CheckOutcome::kFailed, "NOT_FOUND: x",
      pool.now, /*answered_error=*/true);
  EXPECT_FALSE(pool.Member(ids[0]).suspected);
  EXPECT_THAT(actions.probe, IsEmpty()) << "no further probe";
  EXPECT_EQ(pool.Member(ids[0]).failures, 1);
}

}  // namespace
}  // namespace internal
}  // namespace warm
