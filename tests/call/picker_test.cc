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
  snapshot.peak_ewma = true;
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
  snapshot.peak_ewma = false;
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

}  // namespace
}  // namespace internal
}  // namespace warm
