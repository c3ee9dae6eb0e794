// Unit tests of MemberChecks (src/health/member_checks.h), the per-member
// health-check state machine, driven directly: fake time (FakeScheduler),
// fake Check calls (FakeHealthChecks) and Watch streams (FakeHealthWatches),
// real grpc::Channels that are never asked to connect. No sockets, no
// sleeps.
//
// The harness hands every Input to Handle() as the pool does (on the
// scheduler, "under its lock") and records the Reports; it also keeps every
// Input, so that a test can hand an old one in again, as a late result of a
// stream, check or timer already replaced would arrive.
//
// What is pinned is HealthCheckOptions' and LivenessOptions' contract
// (include/warm/options.h) at this level: Watch streams and their
// first-message timeout, reopening with backoff, the fall-back to polling,
// polling with and without traffic, probes, and Remove().

#include "src/health/member_checks.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/testing/fake_pool_parts.h"
#include "tests/testing/fake_scheduler.h"

namespace warm {
namespace internal {
namespace {

namespace wt = ::warm::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using Mode = MemberChecks::Mode;
using Input = MemberChecks::Input;

constexpr auto kInterval = seconds(1);
constexpr auto kNoTrafficInterval = seconds(10);
constexpr auto kTimeout = seconds(3);
constexpr auto kProbeTimeout = milliseconds(500);

struct Reported {
  uint64_t id;
  MemberChecks::Report report;
  SteadyTime at;
};

class MemberChecksTest : public ::testing::Test {
 protected:
  static MemberChecks::Options WatchOptions() {
    MemberChecks::Options options;
    options.service = "warm.test.Backend";
    options.watch = true;
    options.interval = kInterval;
    options.no_traffic_interval = kNoTrafficInterval;
    options.timeout = kTimeout;
    options.probe_timeout = kProbeTimeout;
    return options;  // backoff: the defaults (1 s doubling, 30 s, 20 %)
  }
  static MemberChecks::Options PollOptions() {
    MemberChecks::Options options = WatchOptions();
    options.watch = false;
    return options;
  }

  bool in_use_ = true;

  void Make(MemberChecks::Options options, uint64_t seed = 7) {
    checks_.emplace(
        options, *scheduler_, fake_checks_.StartFn(), watches_.StartFn(),
        [this](uint64_t id, Input input) {
          inputs_.emplace_back(id, input);
          Handle(id, std::move(input));
        },
        seed);
  }

  // What the pool does with an Input; true when it gave a report. The pool
  // tells whether the member is in use (healthy and pickable); here it is
  // unless the test says otherwise.
  bool Handle(uint64_t id, Input input) {
    if (!checks_.has_value()) return false;  // destroyed by the test
    std::optional<MemberChecks::Report> report =
        checks_->Handle(id, std::move(input), in_use_);
    if (!report.has_value()) return false;
    reports_.push_back(Reported{id, *std::move(report), scheduler_->Now()});
    return true;
  }

  // Adds member `id` with a channel and load of its own; its channel.
  grpc::Channel& Add(uint64_t id) {
    channels_[id] = grpc::CreateChannel("ipv4:127.0.0.1:1",
                                        grpc::InsecureChannelCredentials());
    loads_[id] = std::make_shared<MemberLoad>();
    checks_->Add(id, channels_[id], loads_[id]);
    scheduler_->RunPending();
    return *channels_[id];
  }
  MemberLoad& Load(uint64_t id) { return *loads_.at(id); }
  grpc::Channel& Ch(uint64_t id) { return *channels_.at(id); }

  // The Inputs of `kind` delivered so far for `id`.
  std::vector<Input> InputsOf(uint64_t id, Input::Kind kind) const {
    std::vector<Input> out;
    for (const auto& [input_id, input] : inputs_) {
      if (input_id == id && input.kind == kind) out.push_back(input);
    }
    return out;
  }

  // The newest stream's open time, and the newest check's timeout.
  SteadyTime LastOpened() const {
    const std::vector<wt::FakeHealthWatches::Stream> streams =
        watches_.streams();
    return streams.empty() ? SteadyTime{} : streams.back().opened_at;
  }
  milliseconds LastCheckTimeout() const {
    const std::vector<wt::FakeHealthChecks::Check> checks =
        fake_checks_.checks();
    return checks.empty() ? milliseconds(0) : checks.back().timeout;
  }

  // Runs the scheduler to its next due function; the time it ran at.
  SteadyTime RunToNext() {
    const std::optional<SteadyTime> next = scheduler_->NextDue();
    EXPECT_TRUE(next.has_value()) << "nothing scheduled";
    if (!next.has_value()) return scheduler_->Now();
    scheduler_->AdvanceTo(*next);
    return *next;
  }

  // Declared first: destroyed last (the fakes post to it).
  std::shared_ptr<wt::FakeScheduler> scheduler_ =
      std::make_shared<wt::FakeScheduler>();
  wt::FakeHealthChecks fake_checks_{scheduler_};
  wt::FakeHealthWatches watches_{scheduler_};
  std::map<uint64_t, std::shared_ptr<grpc::Channel>> channels_;
  std::map<uint64_t, std::shared_ptr<MemberLoad>> loads_;
  std::vector<std::pair<uint64_t, Input>> inputs_;
  std::vector<Reported> reports_;
  std::optional<MemberChecks> checks_;  // destroyed first
};

// --- Watch streams -----------------------------------------------------------

TEST_F(MemberChecksTest, AddOpensOneWatchStreamAndEachMessageIsReported) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  EXPECT_EQ(checks_->ModeOf(1), Mode::kWatch);
  ASSERT_EQ(watches_.Started(channel), 1);
  EXPECT_EQ(watches_.Open(channel), 1);
  EXPECT_EQ(watches_.streams()[0].service, "warm.test.Backend");
  EXPECT_THAT(fake_checks_.checks(), IsEmpty()) << "no Check while watching";
  EXPECT_THAT(reports_, IsEmpty());

  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kServing));
  ASSERT_THAT(reports_, SizeIs(1));
  EXPECT_EQ(reports_[0].id, 1u);
  EXPECT_EQ(reports_[0].report.source, CheckSource::kWatch);
  EXPECT_EQ(reports_[0].report.outcome, CheckOutcome::kServing);
  EXPECT_EQ(reports_[0].report.detail, "SERVING");

  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kNotServing));
  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kServing));
  ASSERT_THAT(reports_, SizeIs(3));
  EXPECT_EQ(reports_[1].report.source, CheckSource::kWatch);
  EXPECT_EQ(reports_[1].report.outcome, CheckOutcome::kNotServing);
  EXPECT_EQ(reports_[2].report.outcome, CheckOutcome::kServing);

  // A quiet stream that has spoken costs nothing: no timer, no new stream,
  // no report, however long.
  EXPECT_EQ(scheduler_->live_timers(), 0u);
  scheduler_->AdvanceBy(std::chrono::hours(2));
  EXPECT_EQ(watches_.Started(channel), 1);
  EXPECT_EQ(watches_.Open(channel), 1);
  EXPECT_THAT(reports_, SizeIs(3));
}

TEST_F(MemberChecksTest, EachMemberHasAStreamOfItsOwn) {
  Make(WatchOptions());
  grpc::Channel& one = Add(1);
  grpc::Channel& two = Add(2);
  EXPECT_EQ(watches_.Started(one), 1);
  EXPECT_EQ(watches_.Started(two), 1);
  ASSERT_TRUE(watches_.Send(two, CheckOutcome::kNotServing));
  ASSERT_THAT(reports_, SizeIs(1));
  EXPECT_EQ(reports_[0].id, 2u);
}

TEST_F(MemberChecksTest, NoFirstMessageWithinTimeoutIsOneFailureAndReopens) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  const SteadyTime opened = scheduler_->Now();

  scheduler_->AdvanceBy(kTimeout - milliseconds(1));
  EXPECT_THAT(reports_, IsEmpty());
  EXPECT_EQ(watches_.Open(channel), 1);

  scheduler_->AdvanceBy(milliseconds(1));
  ASSERT_THAT(reports_, SizeIs(1));
  EXPECT_EQ(reports_[0].report.source, CheckSource::kWatch);
  EXPECT_EQ(reports_[0].report.outcome, CheckOutcome::kFailed);
  EXPECT_THAT(reports_[0].report.detail, HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_EQ(reports_[0].at, opened + kTimeout);
  EXPECT_EQ(watches_.Cancelled(channel), 1) << "the silent stream is cancelled";
  EXPECT_EQ(watches_.Open(channel), 0);
  EXPECT_EQ(checks_->ModeOf(1), Mode::kWatch);

  // Reopened after the backoff: 1 s +-20 %.
  scheduler_->AdvanceBy(milliseconds(799));
  EXPECT_EQ(watches_.Started(channel), 1) << "reopened before the backoff";
  scheduler_->AdvanceBy(milliseconds(402));
  ASSERT_EQ(watches_.Started(channel), 2);
  EXPECT_EQ(watches_.Open(channel), 1);
  const Nanos backoff = LastOpened() - (opened + kTimeout);
  EXPECT_GE(backoff, milliseconds(800));
  EXPECT_LE(backoff, milliseconds(1200));
  // The cancelled stream's end was not a second failure.
  EXPECT_THAT(reports_, SizeIs(1));

  // The new stream has its own first-message deadline.
  const SteadyTime reopened = LastOpened();
  scheduler_->AdvanceTo(reopened + kTimeout - milliseconds(1));
  EXPECT_THAT(reports_, SizeIs(1));
  scheduler_->AdvanceTo(reopened + kTimeout);
  ASSERT_THAT(reports_, SizeIs(2));
  EXPECT_EQ(reports_[1].report.outcome, CheckOutcome::kFailed);
}

TEST_F(MemberChecksTest, AStreamThatEndsIsAFailureAndReopensAfterTheBackoff) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kServing));
  scheduler_->AdvanceBy(seconds(20));
  const SteadyTime ended = scheduler_->Now();
  ASSERT_TRUE(watches_.End(channel, CheckOutcome::kFailed,
                           "UNAVAILABLE: connection lost"));
  ASSERT_THAT(reports_, SizeIs(2));
  EXPECT_EQ(reports_[1].report.source, CheckSource::kWatch);
  EXPECT_EQ(reports_[1].report.outcome, CheckOutcome::kFailed);
  EXPECT_THAT(reports_[1].report.detail,
              HasSubstr("UNAVAILABLE: connection lost"));
  EXPECT_EQ(reports_[1].at, ended);
  EXPECT_EQ(watches_.Open(channel), 0);
  EXPECT_EQ(checks_->ModeOf(1), Mode::kWatch)
      << "a broken stream is no reason to poll";
  EXPECT_THAT(fake_checks_.checks(), IsEmpty());

  RunToNext();
  ASSERT_EQ(watches_.Started(channel), 2);
  const Nanos backoff = LastOpened() - ended;
  EXPECT_GE(backoff, milliseconds(800));
  EXPECT_LE(backoff, milliseconds(1200));
  EXPECT_THAT(reports_, SizeIs(2)) << "reopening reports nothing";

  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kServing));
  ASSERT_THAT(reports_, SizeIs(3));
  EXPECT_EQ(reports_[2].report.outcome, CheckOutcome::kServing);
}

TEST_F(MemberChecksTest,
       BackoffDoublesPerFailureUpToThirtySecondsAndAMessageResetsIt) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  // Base delays of failures 1, 2, ...: 1 s doubling, at most 30 s.
  const std::vector<double> base = {1, 2, 4, 8, 16, 30, 30, 30};
  for (size_t i = 0; i < base.size(); ++i) {
    SCOPED_TRACE(i);
    const SteadyTime ended = scheduler_->Now();
    ASSERT_TRUE(watches_.End(channel, CheckOutcome::kFailed));
    ASSERT_THAT(reports_, SizeIs(i + 1)) << "each failure reported once";
    EXPECT_EQ(reports_.back().report.outcome, CheckOutcome::kFailed);
    RunToNext();
    ASSERT_EQ(watches_.Started(channel), static_cast<int>(i) + 2);
    const double delay =
        std::chrono::duration<double>(LastOpened() - ended).count();
    EXPECT_GE(delay, 0.8 * base[i]);
    EXPECT_LE(delay, 1.2 * base[i]);
  }
  // Any message resets the backoff, NOT_SERVING too: the next end waits
  // ~1 s again.
  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kNotServing));
  const SteadyTime ended = scheduler_->Now();
  ASSERT_TRUE(watches_.End(channel, CheckOutcome::kFailed));
  RunToNext();
  const Nanos delay = LastOpened() - ended;
  EXPECT_GE(delay, milliseconds(800));
  EXPECT_LE(delay, milliseconds(1200));
}

TEST_F(MemberChecksTest, TimeoutsCountTowardsTheBackoffLikeEnds) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  // Silent stream 1 times out, then stream 2 ends: failure 2, ~2 s.
  scheduler_->AdvanceBy(kTimeout);
  ASSERT_THAT(reports_, SizeIs(1));
  RunToNext();
  ASSERT_EQ(watches_.Started(channel), 2);
  const SteadyTime ended = scheduler_->Now();
  ASSERT_TRUE(watches_.End(channel, CheckOutcome::kFailed));
  ASSERT_THAT(reports_, SizeIs(2));
  RunToNext();
  ASSERT_EQ(watches_.Started(channel), 3);
  const Nanos delay = LastOpened() - ended;
  EXPECT_GE(delay, milliseconds(1600));
  EXPECT_LE(delay, milliseconds(2400));
}

TEST_F(MemberChecksTest, BackoffIsJittered) {
  std::set<int64_t> delays;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    checks_.reset();
    Make(WatchOptions(), seed);
    grpc::Channel& channel = Add(seed);
    const SteadyTime ended = scheduler_->Now();
    ASSERT_TRUE(watches_.End(channel, CheckOutcome::kFailed));
    RunToNext();
    ASSERT_EQ(watches_.Started(channel), 2);
    const Nanos delay = LastOpened() - ended;
    EXPECT_GE(delay, milliseconds(800));
    EXPECT_LE(delay, milliseconds(1200));
    delays.insert(std::chrono::duration_cast<milliseconds>(delay).count());
  }
  EXPECT_GT(delays.size(), 10u) << "the same delay for most seeds";
  EXPECT_LT(*delays.begin(), 950);
  EXPECT_GT(*delays.rbegin(), 1050);
}

TEST_F(MemberChecksTest, UnimplementedWatchSwitchesToPollingWithoutAReport) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(watches_.End(channel, CheckOutcome::kUnimplemented));
  EXPECT_THAT(reports_, IsEmpty()) << "UNIMPLEMENTED Watch says nothing yet";
  EXPECT_EQ(checks_->ModeOf(1), Mode::kPoll);
  ASSERT_EQ(fake_checks_.InFlight(channel), 1) << "polled at once";
  EXPECT_EQ(fake_checks_.checks()[0].timeout, kTimeout);
  EXPECT_EQ(fake_checks_.checks()[0].service, "warm.test.Backend");

  // The dead stream's first-message deadline does not fire.
  scheduler_->AdvanceBy(kTimeout * 2);
  EXPECT_THAT(reports_, IsEmpty());
  EXPECT_EQ(fake_checks_.Started(channel), 1) << "one check at a time";

  // The poll's UNIMPLEMENTED is what is reported: no health service.
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kUnimplemented));
  ASSERT_THAT(reports_, SizeIs(1));
  EXPECT_EQ(reports_[0].report.source, CheckSource::kPoll);
  EXPECT_EQ(reports_[0].report.outcome, CheckOutcome::kUnimplemented);

  // Polling for good: no stream ever again.
  Load(1).CallStarted();
  scheduler_->AdvanceBy(kInterval);
  EXPECT_EQ(fake_checks_.Started(channel), 2);
  scheduler_->AdvanceBy(std::chrono::hours(1));
  EXPECT_EQ(watches_.Started(channel), 1);
  EXPECT_EQ(checks_->ModeOf(1), Mode::kPoll);
}

// --- Stale inputs ------------------------------------------------------------

TEST_F(MemberChecksTest, InputsOfAReplacedStreamAreDropped) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kServing));
  ASSERT_TRUE(watches_.End(channel, CheckOutcome::kFailed));
  RunToNext();
  ASSERT_EQ(watches_.Started(channel), 2);
  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kServing));
  ASSERT_THAT(reports_, SizeIs(3));
  const std::vector<Input> messages = InputsOf(1, Input::Kind::kWatchMessage);
  const std::vector<Input> ends = InputsOf(1, Input::Kind::kWatchEnded);
  ASSERT_THAT(messages, SizeIs(2));
  ASSERT_THAT(ends, SizeIs(1));

  // Stream 1's message and end again, late: nothing, and stream 2 stays.
  Input late_message = messages[0];
  late_message.result.outcome = CheckOutcome::kNotServing;
  EXPECT_FALSE(Handle(1, late_message));
  EXPECT_FALSE(Handle(1, ends[0]));
  EXPECT_THAT(reports_, SizeIs(3));
  scheduler_->AdvanceBy(std::chrono::hours(1));
  EXPECT_EQ(watches_.Started(channel), 2);
  EXPECT_EQ(watches_.Open(channel), 1);
  EXPECT_EQ(watches_.Cancelled(channel), 0);
}

TEST_F(MemberChecksTest, ATimedOutStreamsDeadlineDoesNotHitItsSuccessor) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  scheduler_->AdvanceBy(kTimeout);  // stream 1 times out
  RunToNext();                      // stream 2 opens
  ASSERT_EQ(watches_.Started(channel), 2);
  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kServing));
  const std::vector<Input> timers = InputsOf(1, Input::Kind::kTimer);
  ASSERT_THAT(timers, SizeIs(2));  // stream 1's deadline, the backoff
  ASSERT_THAT(reports_, SizeIs(2));

  for (const Input& timer : timers) EXPECT_FALSE(Handle(1, timer));
  EXPECT_THAT(reports_, SizeIs(2));
  EXPECT_EQ(watches_.Cancelled(channel), 1) << "stream 2 was cancelled";
  EXPECT_EQ(watches_.Started(channel), 2) << "a stale backoff reopened";
}

TEST_F(MemberChecksTest, AReplacedPollResultIsDroppedAndArmsNothing) {
  Make(PollOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  ASSERT_THAT(reports_, SizeIs(1));
  const std::vector<Input> done = InputsOf(1, Input::Kind::kPollDone);
  ASSERT_THAT(done, SizeIs(1));

  EXPECT_FALSE(Handle(1, done[0]));
  EXPECT_THAT(reports_, SizeIs(1));
  Load(1).CallStarted();
  scheduler_->AdvanceBy(kInterval);
  EXPECT_EQ(fake_checks_.Started(channel), 2) << "one next check, not two";
  EXPECT_EQ(fake_checks_.InFlight(channel), 1);
}

TEST_F(MemberChecksTest, InputsOfARemovedMemberAreDropped) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kServing));
  checks_->Probe(1);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  ASSERT_THAT(reports_, SizeIs(2));
  const std::vector<Input> messages = InputsOf(1, Input::Kind::kWatchMessage);
  const std::vector<Input> probes = InputsOf(1, Input::Kind::kProbeDone);
  ASSERT_THAT(messages, SizeIs(1));
  ASSERT_THAT(probes, SizeIs(1));

  checks_->Remove(1);
  EXPECT_FALSE(Handle(1, messages[0]));
  EXPECT_FALSE(Handle(1, probes[0]));
  EXPECT_FALSE(Handle(1, Input{Input::Kind::kTimer, 1, {}}));
  EXPECT_FALSE(Handle(99, messages[0])) << "an id never added";
  EXPECT_THAT(reports_, SizeIs(2));
  EXPECT_EQ(checks_->ModeOf(1), Mode::kNone);
}

// The pool never reuses a member id (PoolDecisions counts them up), but
// MemberChecks must not rely on it: were generations counted per entry, the
// cancelled end of the removed incarnation's stream would match the new
// stream's and be taken as its end (the new stream dropped without
// Cancel(), a second one opened, the silent one never reported).
// Generations are unique per MemberChecks.
TEST_F(MemberChecksTest, InputsOfAnEarlierMemberWithTheSameIdAreDropped) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  checks_->Remove(1);  // posts stream 1's cancelled end
  checks_->Add(1, channels_[1], loads_[1]);
  scheduler_->RunPending();  // ... which arrives now
  ASSERT_EQ(watches_.Started(channel), 2);
  EXPECT_EQ(watches_.Open(channel), 1);

  scheduler_->AdvanceBy(kTimeout);
  ASSERT_THAT(reports_, SizeIs(1)) << "stream 2 sent nothing within timeout";
  EXPECT_EQ(reports_[0].report.outcome, CheckOutcome::kFailed);
  EXPECT_EQ(watches_.Open(channel), 0) << "stream 2 left open";
}

// --- Polling -----------------------------------------------------------------

TEST_F(MemberChecksTest,
       PollingChecksAnIntervalAfterTheLastEndedWhileCallsCome) {
  Make(PollOptions());
  grpc::Channel& channel = Add(1);
  EXPECT_EQ(checks_->ModeOf(1), Mode::kPoll);
  EXPECT_EQ(watches_.Started(channel), 0);
  ASSERT_EQ(fake_checks_.InFlight(channel), 1) << "the first check at once";
  EXPECT_EQ(LastCheckTimeout(), kTimeout);

  // One at a time: a slow check holds the next.
  scheduler_->AdvanceBy(seconds(2));
  EXPECT_EQ(fake_checks_.Started(channel), 1);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kNotServing));
  ASSERT_THAT(reports_, SizeIs(1));
  EXPECT_EQ(reports_[0].report.source, CheckSource::kPoll);
  EXPECT_EQ(reports_[0].report.outcome, CheckOutcome::kNotServing);

  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    Load(1).CallStarted();
    Load(1).CallFinished(0);
    scheduler_->AdvanceBy(kInterval - milliseconds(1));
    EXPECT_EQ(fake_checks_.Started(channel), i + 1);
    scheduler_->AdvanceBy(milliseconds(1));
    ASSERT_EQ(fake_checks_.Started(channel), i + 2);
    // The next one counts from this one's end, not its start.
    scheduler_->AdvanceBy(milliseconds(300));
    ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  }
  EXPECT_THAT(reports_, SizeIs(4));
}

TEST_F(MemberChecksTest, PollingWithoutCallsWaitsTheNoTrafficInterval) {
  Make(PollOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    const SteadyTime ended = scheduler_->Now();
    scheduler_->AdvanceTo(ended + kNoTrafficInterval - milliseconds(1));
    EXPECT_EQ(fake_checks_.Started(channel), round + 1) << "checked while idle";
    EXPECT_EQ(scheduler_->live_timers(), 1u) << "still waking to notice calls";
    scheduler_->AdvanceTo(ended + kNoTrafficInterval);
    ASSERT_EQ(fake_checks_.Started(channel), round + 2);
    ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  }
}

TEST_F(MemberChecksTest, PollingChecksWithinAnIntervalOnceCallsResume) {
  Make(PollOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  const SteadyTime ended = scheduler_->Now();
  scheduler_->AdvanceBy(milliseconds(3500));
  EXPECT_EQ(fake_checks_.Started(channel), 1);

  Load(1).CallStarted();  // and finishes: started moved
  Load(1).CallFinished(0);
  scheduler_->AdvanceBy(kInterval);
  ASSERT_EQ(fake_checks_.Started(channel), 2) << "no check within an interval";
  EXPECT_LT(scheduler_->Now() - ended, kNoTrafficInterval);
}

TEST_F(MemberChecksTest, PollingCountsACallInFlightAsTraffic) {
  Make(PollOptions());
  grpc::Channel& channel = Add(1);
  // A call started before the check ended, and is still in flight.
  Load(1).CallStarted();
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  scheduler_->AdvanceBy(kInterval);
  ASSERT_EQ(fake_checks_.Started(channel), 2) << "a call in flight is traffic";
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));

  // It finished; nothing new since: idle again.
  Load(1).CallFinished(0);
  scheduler_->AdvanceBy(kInterval * 3);
  EXPECT_EQ(fake_checks_.Started(channel), 2);
}

// --- Probes ------------------------------------------------------------------

TEST_F(MemberChecksTest, ProbeStartsOneCheckWithTheProbeTimeoutAtATime) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kServing));
  checks_->Probe(1);
  ASSERT_EQ(fake_checks_.InFlight(channel), 1);
  EXPECT_EQ(fake_checks_.checks()[0].timeout, kProbeTimeout);
  EXPECT_EQ(fake_checks_.checks()[0].service, "warm.test.Backend");
  checks_->Probe(1);
  EXPECT_EQ(fake_checks_.Started(channel), 1) << "a probe is in flight";
  EXPECT_EQ(watches_.Open(channel), 1) << "probes leave the stream alone";

  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kFailed));
  ASSERT_THAT(reports_, SizeIs(2));
  EXPECT_EQ(reports_[1].report.source, CheckSource::kProbe);
  EXPECT_EQ(reports_[1].report.outcome, CheckOutcome::kFailed);

  // Done: the next Probe() starts another, and nothing starts one by itself.
  scheduler_->AdvanceBy(seconds(30));
  EXPECT_EQ(fake_checks_.Started(channel), 1);
  checks_->Probe(1);
  ASSERT_EQ(fake_checks_.Started(channel), 2);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  ASSERT_THAT(reports_, SizeIs(3));
  EXPECT_EQ(reports_[2].report.source, CheckSource::kProbe);
  EXPECT_EQ(reports_[2].report.outcome, CheckOutcome::kServing);
  checks_->Probe(99);  // unknown: nothing
  EXPECT_EQ(fake_checks_.checks().size(), 2u);
}

// A probe that fails fast (a proxy refusing, say) must not loop: after an
// unanswered probe the next waits probe_timeout, doubling per such probe.
TEST_F(MemberChecksTest, ProbesAfterUnansweredOnesAreSpacedOut) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(watches_.Send(channel, CheckOutcome::kServing));
  checks_->Probe(1);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kFailed));
  checks_->Probe(1);
  EXPECT_EQ(fake_checks_.Started(channel), 1) << "not at once";
  checks_->Probe(1);  // asking again changes nothing
  scheduler_->AdvanceBy(kProbeTimeout - milliseconds(1));
  EXPECT_EQ(fake_checks_.Started(channel), 1);
  scheduler_->AdvanceBy(milliseconds(1));
  ASSERT_EQ(fake_checks_.Started(channel), 2);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kFailed));
  checks_->Probe(1);
  scheduler_->AdvanceBy(2 * kProbeTimeout - milliseconds(1));
  EXPECT_EQ(fake_checks_.Started(channel), 2) << "the wait doubles";
  scheduler_->AdvanceBy(milliseconds(1));
  ASSERT_EQ(fake_checks_.Started(channel), 3);
  // An answer resets it: the next probe may start at once.
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  checks_->Probe(1);
  EXPECT_EQ(fake_checks_.Started(channel), 4);
  // Removing the member cancels a delayed probe.
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kFailed));
  checks_->Probe(1);
  checks_->Remove(1);
  scheduler_->AdvanceBy(seconds(60));
  EXPECT_EQ(fake_checks_.Started(channel), 4);
}

TEST_F(MemberChecksTest, PollingAMemberNotInUseIgnoresTheNoTrafficInterval) {
  MemberChecks::Options options = PollOptions();
  options.no_traffic_interval = seconds(60);
  Make(options);
  in_use_ = false;
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kNotServing));
  // Out of the picker, it gets no calls by construction; each timer is
  // handled as the pool would, telling that the member is not in use.
  for (int i = 0; i < 5; ++i) {
    scheduler_->AdvanceBy(options.interval);
    ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kNotServing));
  }
  EXPECT_EQ(fake_checks_.Started(channel), 6);
}

TEST_F(MemberChecksTest, ProbesRunBesideAPolledCheck) {
  Make(PollOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_EQ(fake_checks_.InFlight(channel), 1);
  checks_->Probe(1);
  ASSERT_EQ(fake_checks_.InFlight(channel), 2);
  EXPECT_EQ(fake_checks_.checks()[1].timeout, kProbeTimeout);
  // FakeHealthChecks completes the oldest first: the poll, then the probe.
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kNotServing));
  ASSERT_THAT(reports_, SizeIs(2));
  EXPECT_EQ(reports_[0].report.source, CheckSource::kPoll);
  EXPECT_EQ(reports_[1].report.source, CheckSource::kProbe);
  EXPECT_EQ(reports_[1].report.outcome, CheckOutcome::kNotServing);
}

TEST_F(MemberChecksTest, ProbesWorkWithHealthCheckingOff) {
  MemberChecks::Options options = WatchOptions();
  options.enabled = false;
  Make(options);
  grpc::Channel& channel = Add(1);
  EXPECT_EQ(checks_->ModeOf(1), Mode::kNone);
  EXPECT_EQ(watches_.Started(channel), 0);
  EXPECT_EQ(fake_checks_.Started(channel), 0);

  checks_->Probe(1);
  ASSERT_EQ(fake_checks_.InFlight(channel), 1);
  EXPECT_EQ(LastCheckTimeout(), kProbeTimeout);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  ASSERT_THAT(reports_, SizeIs(1));
  EXPECT_EQ(reports_[0].report.source, CheckSource::kProbe);
  EXPECT_EQ(reports_[0].report.outcome, CheckOutcome::kServing);

  scheduler_->AdvanceBy(std::chrono::hours(1));
  EXPECT_EQ(fake_checks_.Started(channel), 1);
  EXPECT_EQ(watches_.Started(channel), 0);
  EXPECT_EQ(scheduler_->live_timers(), 0u);
}

// --- Remove ------------------------------------------------------------------

TEST_F(MemberChecksTest, RemoveCancelsTheStreamTheProbeAndTheDeadline) {
  Make(WatchOptions());
  grpc::Channel& channel = Add(1);
  checks_->Probe(1);
  ASSERT_EQ(scheduler_->live_timers(), 1u);  // the first-message deadline
  checks_->Remove(1);
  EXPECT_EQ(watches_.Cancelled(channel), 1);
  EXPECT_EQ(fake_checks_.Cancelled(channel), 1);
  EXPECT_EQ(scheduler_->live_timers(), 0u);
  EXPECT_EQ(checks_->ModeOf(1), Mode::kNone);
  scheduler_->AdvanceBy(std::chrono::hours(1));
  EXPECT_THAT(reports_, IsEmpty()) << "cancellations are not failures";
  EXPECT_EQ(watches_.Started(channel), 1);
  EXPECT_EQ(fake_checks_.Started(channel), 1);
}

TEST_F(MemberChecksTest, RemoveCancelsACheckInFlightAndABackoff) {
  Make(PollOptions());
  grpc::Channel& polled = Add(1);
  checks_->Probe(1);
  ASSERT_EQ(fake_checks_.InFlight(polled), 2);
  checks_->Remove(1);
  EXPECT_EQ(fake_checks_.InFlight(polled), 0);
  EXPECT_EQ(fake_checks_.Cancelled(polled), 2) << "the poll and the probe";
  scheduler_->RunPending();
  EXPECT_THAT(reports_, IsEmpty());

  Make(WatchOptions());  // a stream in backoff
  grpc::Channel& watched = Add(2);
  ASSERT_TRUE(watches_.End(watched, CheckOutcome::kFailed));
  ASSERT_THAT(reports_, SizeIs(1));
  ASSERT_EQ(scheduler_->live_timers(), 1u);
  checks_->Remove(2);
  EXPECT_EQ(scheduler_->live_timers(), 0u) << "the backoff timer";
  scheduler_->AdvanceBy(std::chrono::hours(1));
  EXPECT_EQ(watches_.Started(watched), 1) << "reopened after Remove()";
  EXPECT_THAT(reports_, SizeIs(1));
}

TEST_F(MemberChecksTest, RemoveWhileAPollWaitsCancelsItsTimer) {
  Make(PollOptions());
  grpc::Channel& channel = Add(1);
  ASSERT_TRUE(fake_checks_.Complete(channel, CheckOutcome::kServing));
  ASSERT_EQ(scheduler_->live_timers(), 1u);
  Load(1).CallStarted();
  checks_->Remove(1);
  EXPECT_EQ(scheduler_->live_timers(), 0u);
  scheduler_->AdvanceBy(kNoTrafficInterval * 2);
  EXPECT_EQ(fake_checks_.Started(channel), 1);
}

TEST_F(MemberChecksTest, ClearAndDestructionCancelEverything) {
  Make(PollOptions());
  grpc::Channel& one = Add(1);
  grpc::Channel& two = Add(2);
  checks_->Probe(2);
  checks_->Clear();
  EXPECT_EQ(fake_checks_.InFlight(), 0);
  EXPECT_EQ(fake_checks_.Cancelled(), 3);
  EXPECT_EQ(checks_->ModeOf(1), Mode::kNone);

  Make(WatchOptions());
  Add(3);
  checks_.reset();
  EXPECT_EQ(watches_.Open(), 0);
  EXPECT_EQ(watches_.Cancelled(), 1);
  EXPECT_EQ(scheduler_->live_timers(), 0u);
  scheduler_->AdvanceBy(std::chrono::hours(1));
  EXPECT_THAT(reports_, IsEmpty());
  EXPECT_EQ(fake_checks_.Started(one) + fake_checks_.Started(two), 3);
}

}  // namespace
}  // namespace internal
}  // namespace warm
