#include "src/call/picker.h"

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <vector>

namespace warm {
namespace internal {
namespace {

uint64_t Random(uint32_t first, uint32_t second) {
  return (static_cast<uint64_t>(second) << 32) | first;
}

TEST(PickOfTwoTest, SingleEntry) {
  EXPECT_EQ(PickOfTwo(1, 12345, [](size_t) { return 0; }), 0u);
}

TEST(PickOfTwoTest, PicksTheLessLoadedOfTheTwo) {
  std::vector<int> load = {5, 1, 9};
  // first = 0 (random half 0), second = 0 -> shifted past first -> 1.
  EXPECT_EQ(PickOfTwo(3, Random(0, 0), [&](size_t i) { return load[i]; }), 1u);
  // first = 2 (top of range), second = 0: entries 2 (9) and 0 (5) -> 0.
  EXPECT_EQ(
      PickOfTwo(3, Random(0xFFFFFFFF, 0), [&](size_t i) { return load[i]; }),
      0u);
}

TEST(PickOfTwoTest, TieGoesToTheFirstChoice) {
  EXPECT_EQ(PickOfTwo(4, Random(0, 0), [](size_t) { return 7; }), 0u);
}

TEST(PickOfTwoTest, TheTwoChoicesAreAlwaysDistinctAndUniform) {
  // Record which pair each random value compares by giving every entry a
  // distinct load and watching which entries can win.
  const size_t n = 5;
  std::map<std::pair<size_t, size_t>, int> pairs;
  for (int k = 0; k < 20000; ++k) {
    const uint64_t r = ThreadRandom();
    std::set<size_t> seen;
    PickOfTwo(n, r, [&](size_t i) {
      seen.insert(i);
      return 0;
    });
    ASSERT_EQ(seen.size(), 2u) << "the two choices must differ";
    pairs[{*seen.begin(), *seen.rbegin()}]++;
  }
  // All 10 unordered pairs occur, each near 2000 times.
  ASSERT_EQ(pairs.size(), 10u);
  for (const auto& [pair, count] : pairs) {
    EXPECT_GT(count, 1500) << pair.first << "," << pair.second;
    EXPECT_LT(count, 2500) << pair.first << "," << pair.second;
  }
}

TEST(PickOfTwoTest, NeverPicksTheMostLoadedOfThree) {
  std::vector<int> load = {0, 0, 100};
  for (int k = 0; k < 1000; ++k) {
    EXPECT_NE(PickOfTwo(3, ThreadRandom(), [&](size_t i) { return load[i]; }),
              2u);
  }
}

// A member whose channel never connects (nothing is asked to): Pick() only
// reads its load and the list it is in. `state` says which list a test puts
// it in (the pool's decisions hold members' states, not Member).
std::shared_ptr<Member> FakeMember(uint64_t id,
                                   [[maybe_unused]] grpc_connectivity_state state,
                                   int64_t in_flight = 0) {
  Address address{"unix:/nonexistent/warm-picker-test", "test"};
  auto load = std::make_shared<MemberLoad>();
  load->in_flight = in_flight;
  auto member = std::make_shared<Member>(
      id, address,
      grpc::CreateChannel(address.grpc_target,
                          grpc::InsecureChannelCredentials()),
      load, std::make_shared<MethodCache>());
  return member;
}

TEST(PickTest, ReadyMembersFirst) {
  PickerSnapshot snapshot;
  auto ready = FakeMember(1, GRPC_CHANNEL_READY, /*in_flight=*/100);
  auto connecting = FakeMember(2, GRPC_CHANNEL_CONNECTING);
  snapshot.ready = {ready};
  snapshot.trying = {connecting};
  snapshot.all = {ready, connecting};
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(Pick(snapshot, ThreadRandom()), ready.get());
  }
}

TEST(PickTest, WithNothingReadyMembersStillTryingComeBeforeFailedOnes) {
  PickerSnapshot snapshot;
  auto connecting = FakeMember(1, GRPC_CHANNEL_CONNECTING, /*in_flight=*/50);
  auto failed_a = FakeMember(2, GRPC_CHANNEL_TRANSIENT_FAILURE);
  auto failed_b = FakeMember(3, GRPC_CHANNEL_TRANSIENT_FAILURE);
  snapshot.trying = {connecting};
  snapshot.all = {connecting, failed_a, failed_b};
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(Pick(snapshot, ThreadRandom()), connecting.get());
  }
}

TEST(PickTest, AllFailedStillPicksTheLeastLoaded) {
  PickerSnapshot snapshot;
  auto busy = FakeMember(1, GRPC_CHANNEL_TRANSIENT_FAILURE, 10);
  auto idle = FakeMember(2, GRPC_CHANNEL_TRANSIENT_FAILURE, 0);
  snapshot.all = {busy, idle};
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(Pick(snapshot, ThreadRandom()), idle.get());
  }
}

// Peak-EWMA: a member answering slowly is avoided although it holds fewer
// calls in flight.
TEST(PickTest, PeakEwmaAvoidsASlowMemberWithFewerCallsInFlight) {
  PickerSnapshot snapshot;
  snapshot.pick = PickPolicy::kPeakEwma;
  auto fast = FakeMember(1, GRPC_CHANNEL_READY, /*in_flight=*/5);
  auto slow = FakeMember(2, GRPC_CHANNEL_READY, /*in_flight=*/0);
  snapshot.ready = {fast, slow};
  snapshot.all = snapshot.ready;
  const int64_t now = SteadyMicros(std::chrono::steady_clock::now());
  auto& fast_load = const_cast<MemberLoad&>(fast->load());
  auto& slow_load = const_cast<MemberLoad&>(slow->load());
  fast_load.RecordPeakEwma(300, now);    // 0.3 ms x 6 = 1.8 ms
  slow_load.RecordPeakEwma(50000, now);  // 50 ms x 1
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(Pick(snapshot, ThreadRandom()), fast.get());
  }
  // By calls in flight alone, the slow member would win.
  snapshot.pick = PickPolicy::kInFlight;
  EXPECT_EQ(Pick(snapshot, ThreadRandom()), slow.get());
}

TEST(PickTest, PeakEwmaRisesAtOnceAndDecaysWithTime) {
  MemberLoad load;
  load.RecordPeakEwma(1000, 0);
  load.RecordPeakEwma(50000, 1);  // a slower call: the peak at once
  EXPECT_EQ(load.PeakEwmaAt(1), 50000);
  // Faster calls pull it down by 1 - e^(-dt/10 s).
  load.RecordPeakEwma(1000, 1 + 10'000'000);
  EXPECT_NEAR(load.PeakEwmaAt(1 + 10'000'000),
              50000 * std::exp(-1.0) + 1000 * (1 - std::exp(-1.0)), 1);
  // Without calls it decays towards 0 (the member is tried again): by
  // e^-5 after 50 s more.
  EXPECT_LT(load.PeakEwmaAt(1 + 60'000'000), 200);
}

// --- PickPolicy::kLatency: (calls in flight + 1) x max(latency, age of the
// oldest unanswered unary call, 1). Times are given (PickAt), not read.

constexpr int64_t kNow = 1'000'000'000;  // an arbitrary steady-clock time
constexpr int64_t kHalfLifeUs = int64_t{1} << MemberLoad::kLatencyHalfLifeShift;

MemberLoad& LoadOf(const std::shared_ptr<Member>& member) {
  return const_cast<MemberLoad&>(member->load());
}

// `in_flight` unary calls started at `started_us`, the last answered at
// `answered_us`, and a latency estimate of `latency_us` stamped then.
void SetUnary(MemberLoad& load, int64_t in_flight, int64_t started_us,
              int64_t latency_us, int64_t answered_us) {
  for (int64_t i = 0; i < in_flight; ++i) {
    load.CallStarted();
    load.UnaryStarted(started_us);
  }
  load.RecordLatencyPeak(latency_us, answered_us);
  load.progress_us = answered_us;
}

// Two members: PickOfTwo always compares both, so every pick says which
// one costs less.
struct TwoMembers {
  std::shared_ptr<Member> a = FakeMember(1, GRPC_CHANNEL_READY);
  std::shared_ptr<Member> b = FakeMember(2, GRPC_CHANNEL_READY);
  PickerSnapshot snapshot;
  TwoMembers() {
    snapshot.pick = PickPolicy::kLatency;
    snapshot.ready = {a, b};
    snapshot.all = snapshot.ready;
  }
  // The member picked whichever of the two is drawn first.
  Member* PickAt(int64_t now_us) {
    Member* first = internal::PickAt(snapshot, Random(0, 0), now_us);
    Member* second =
        internal::PickAt(snapshot, Random(0xFFFFFFFF, 0), now_us);
    EXPECT_EQ(first, second) << "the pick depends on the order drawn";
    return first;
  }
};

TEST(LatencyPickTest, ASlowMemberLosesToAFastOneUntilItsQueueOutweighsIt) {
  TwoMembers members;
  // a: 300 us per call; b: 50 ms, idle. b costs 50000, a 300 x (k + 1):
  // a wins while k + 1 < 166.7.
  SetUnary(LoadOf(members.a), 0, kNow, 300, kNow);
  SetUnary(LoadOf(members.b), 0, kNow, 50000, kNow);
  for (int k = 0; k <= 165; ++k) {
    LoadOf(members.a).in_flight = k;
    ASSERT_EQ(members.PickAt(kNow), members.a.get()) << k << " in flight";
  }
  LoadOf(members.a).in_flight = 166;
  EXPECT_EQ(members.PickAt(kNow), members.b.get());
  // By calls in flight alone, b would always have won.
  members.snapshot.pick = PickPolicy::kInFlight;
  LoadOf(members.a).in_flight = 1;
  EXPECT_EQ(members.PickAt(kNow), members.b.get());
}

TEST(LatencyPickTest, ASlowEstimateHalvesPerHalfLifeUntilTheMemberIsTried) {
  TwoMembers members;
  SetUnary(LoadOf(members.a), 0, kNow, 300, kNow);
  LoadOf(members.a).in_flight = 3;  // costs 1200
  SetUnary(LoadOf(members.b), 0, kNow, 50000, kNow);
  // a keeps answering in 300 us; b gets no calls. 50000 >> 5 = 1562 still
  // loses; >> 6 = 781 wins.
  const int64_t before = kNow + 6 * kHalfLifeUs - 1;
  LoadOf(members.a).RecordLatencyPeak(300, before);
  EXPECT_EQ(members.PickAt(before), members.a.get());
  LoadOf(members.a).RecordLatencyPeak(300, before + 1);
  EXPECT_EQ(members.PickAt(before + 1), members.b.get());
}

TEST(LatencyPickTest, ANewMemberIsTriedAtOnceThenGetsOneCallAtATime) {
  TwoMembers members;
  SetUnary(LoadOf(members.a), 10, kNow, 1000, kNow);
  // b never answered a unary call and has none in flight: free.
  EXPECT_EQ(members.PickAt(kNow), members.b.get());
  // With one in flight, the penalty until it answers.
  LoadOf(members.b).CallStarted();
  LoadOf(members.b).UnaryStarted(kNow);
  EXPECT_EQ(LoadOf(members.b).LatencyCostAt(kNow),
            2 * static_cast<uint64_t>(MemberLoad::kUnansweredPenaltyUs));
  EXPECT_EQ(members.PickAt(kNow), members.a.get());
  // Its first answer replaces the penalty by its latency.
  LoadOf(members.b).RecordLatencyPeak(200, kNow + 200);
  LoadOf(members.b).UnaryFinished(kNow + 200, /*answered=*/true);
  LoadOf(members.b).CallFinished(0);
  EXPECT_EQ(members.PickAt(kNow + 200), members.b.get());
}

TEST(LatencyPickTest, AMemberWithAnOldUnansweredCallLosesAtOnce) {
  TwoMembers members;
  // a: one call in flight since kNow, nothing answered since; b: three in
  // flight, answering as they come (progress now).
  SetUnary(LoadOf(members.a), 1, kNow, 300, kNow);
  SetUnary(LoadOf(members.b), 3, kNow, 300, kNow);
  EXPECT_EQ(members.PickAt(kNow), members.a.get());  // 600 vs 1200
  // 1 ms later a's oldest call is 1 ms old: 2 x 1000 > 4 x 300, long before
  // its deadline or any stall timeout.
  LoadOf(members.b).progress_us = kNow + 1000;
  EXPECT_EQ(members.PickAt(kNow + 1000), members.b.get());
}

TEST(LatencyPickTest, TheOtherMembersAnswersShowAnUnansweredCallsAge) {
  TwoMembers members;
  // a: one call in flight since kNow; b: three, answering, the latest 2 ms
  // after a's call started. A coarse clock still at kNow would make a look
  // idle (600 vs 1200); b's stamp says a's call is 2 ms old: 4000.
  SetUnary(LoadOf(members.a), 1, kNow, 300, kNow);
  SetUnary(LoadOf(members.b), 3, kNow, 300, kNow + 2000);
  EXPECT_EQ(members.PickAt(kNow), members.b.get());
}

TEST(LatencyPickTest, HugeCountsAndAgesDoNotOverflow) {
  TwoMembers members;
  SetUnary(LoadOf(members.a), 1, 1, 1, 1);
  LoadOf(members.a).in_flight = INT64_MAX;
  LoadOf(members.a).latency_peak_us = INT64_MAX;
  const uint64_t most =
      static_cast<uint64_t>(MemberLoad::kMaxCountedInFlight + 1) *
      static_cast<uint64_t>(MemberLoad::kMaxWeightUs);
  EXPECT_EQ(LoadOf(members.a).LatencyCostAt(INT64_MAX / 2), most);
  EXPECT_EQ(LoadOf(members.a).LatencyCostAt(1), most);
  // b is merely very busy and very old: still cheaper.
  SetUnary(LoadOf(members.b), 1, 1, 1, 1);
  LoadOf(members.b).in_flight = int64_t{1} << 19;
  EXPECT_LT(LoadOf(members.b).LatencyCostAt(INT64_MAX / 2), most);
  EXPECT_EQ(members.PickAt(INT64_MAX / 2), members.b.get());
  // A count gone negative (it never should) counts as none.
  LoadOf(members.b).in_flight = -5;
  EXPECT_EQ(LoadOf(members.b).LatencyCostAt(1), 1u);
}

TEST(LatencyPickTest, PickReadsTheClockAndPicksTheCheaper) {
  TwoMembers members;
  const int64_t now = CoarseSteadyMicros();
  // The coarse clock runs on the steady clock's base, a tick behind at most.
  EXPECT_LE(now, SteadyMicros(std::chrono::steady_clock::now()));
  EXPECT_GT(now + 100'000, SteadyMicros(std::chrono::steady_clock::now()));
  SetUnary(LoadOf(members.a), 0, now, 300, now);
  SetUnary(LoadOf(members.b), 0, now, 50000, now);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(Pick(members.snapshot, ThreadRandom()), members.a.get());
  }
}

}  // namespace
}  // namespace internal
}  // namespace warm
