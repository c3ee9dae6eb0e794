// Unit tests of the liveness counters in src/call/member_load.h: StallTrigger
// (call ends start the pool's stall scan, at most once per period) and
// MemberLoad's unary bookkeeping (UnaryStarted / UnaryFinished /
// UnaryTimedOut, which reports a call that timed out on a member quiet for
// longer than stall_timeout). Times are given in, as the load interceptor
// gives them: no clock, no sleeps.

#include "src/call/member_load.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace warm {
namespace internal {
namespace {

constexpr int64_t kPeriodUs = 125000;  // stall_timeout 500 ms / 4

TEST(StallTriggerTest, ScansAtTheFirstCallEndAndThenOncePerPeriod) {
  std::vector<int64_t> scans;
  int64_t now_us = 1000000;
  StallTrigger trigger(kPeriodUs, [&] { scans.push_back(now_us); });
  const int64_t start = now_us;
  // A call ends every millisecond for ten periods.
  for (; now_us <= start + 10 * kPeriodUs; now_us += 1000) {
    trigger.OnCallEnd(now_us);
  }
  ASSERT_EQ(scans.size(), 11u);
  for (size_t i = 0; i < scans.size(); ++i) {
    EXPECT_EQ(scans[i], start + static_cast<int64_t>(i) * kPeriodUs) << i;
  }
}

TEST(StallTriggerTest, NoCallEndsNoScans) {
  int scans = 0;
  StallTrigger trigger(kPeriodUs, [&] { ++scans; });
  trigger.OnCallEnd(5000000);
  // Nothing for a long while, then one call: one scan, at once.
  trigger.OnCallEnd(5000000 + 100 * kPeriodUs);
  EXPECT_EQ(scans, 2);
  trigger.OnCallEnd(5000000 + 100 * kPeriodUs + kPeriodUs - 1);
  EXPECT_EQ(scans, 2);
}

TEST(StallTriggerTest, OfCallsEndingAtOnceOnManyThreadsOneScans) {
  // The race is narrow (a load and a compare-exchange): many rounds.
  int extra_scans = 0;
  for (int round = 0; round < 2000; ++round) {
    std::atomic<int> scans{0};
    StallTrigger trigger(kPeriodUs, [&] { scans.fetch_add(1); });
    constexpr int kThreads = 4;
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();
        // Every thread's calls end within one period.
        for (int64_t i = 0; i < 1000; ++i) trigger.OnCallEnd(7000000 + i * 100);
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_GE(scans.load(), 1);
    extra_scans += scans.load() - 1;
  }
  EXPECT_EQ(extra_scans, 0) << "calls ending at once started several scans";
}

// The time of the call end being handled on this thread: the scan runs on
// the thread whose call end won it, inside OnCallEnd().
thread_local int64_t t_call_end_us = 0;

TEST(StallTriggerTest, ConcurrentCallEndsScanAtMostOncePerPeriod) {
  std::mutex mu;
  std::vector<int64_t> scans;
  StallTrigger trigger(kPeriodUs, [&] {
    std::lock_guard<std::mutex> lock(mu);
    scans.push_back(t_call_end_us);
  });
  // A shared fake clock: each call end moves it on by 100 us.
  constexpr int64_t kStep = 100;
  constexpr int64_t kStart = 1000000;
  constexpr int64_t kEnd = kStart + 20 * kPeriodUs;
  std::atomic<int64_t> clock_us{kStart};
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        t_call_end_us = clock_us.fetch_add(kStep);
        if (t_call_end_us > kEnd) return;
        trigger.OnCallEnd(t_call_end_us);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::sort(scans.begin(), scans.end());
  ASSERT_FALSE(scans.empty());
  // The first scan is by one of the first call ends (a thread preempted
  // between taking its stamp and its CAS may lose to a later one).
  EXPECT_LT(scans[0], kStart + kPeriodUs) << "the first call ends scan";
  for (size_t i = 1; i < scans.size(); ++i) {
    EXPECT_GE(scans[i] - scans[i - 1], kPeriodUs) << "two scans in a period";
  }
  // Every time stamp was handed to some call end: after each scan, one of
  // the first call ends due again wins (at most one step per other thread
  // late), so there is about one scan per period.
  EXPECT_GE(scans.size(), 20u) << "scans starved";
  EXPECT_LE(scans.size(), 21u);
  for (size_t i = 1; i < scans.size(); ++i) {
    EXPECT_LE(scans[i] - scans[i - 1], kPeriodUs + kThreads * kStep) << i;
  }
}

// --- MemberLoad: unary calls and timeouts --------------------------------

struct StallProbe {
  MemberLoad load;
  int reports = 0;
  explicit StallProbe(int64_t stall_timeout_us) {
    load.stall_timeout_us = stall_timeout_us;
    load.report_stall = [this] { ++reports; };
  }
};

TEST(MemberLoadTest, BusyIsStampedByTheFirstCallInFlightProgressByAnswers) {
  MemberLoad load;
  load.UnaryStarted(1000);
  EXPECT_EQ(load.busy_us.load(), 1000);
  EXPECT_EQ(load.progress_us.load(), 0) << "a start is no answer";
  EXPECT_EQ(load.QuietFor(1500), 500);
  EXPECT_EQ(load.unary_in_flight.load(), 1);
  load.UnaryStarted(2000);  // another in flight: not a new busy period
  EXPECT_EQ(load.busy_us.load(), 1000);
  load.UnaryFinished(3000, /*answered=*/false);  // destroyed unanswered
  EXPECT_EQ(load.progress_us.load(), 0);
  EXPECT_EQ(load.QuietFor(3000), 2000);
  load.UnaryFinished(4000, /*answered=*/true);
  EXPECT_EQ(load.progress_us.load(), 4000);
  EXPECT_EQ(load.QuietFor(4500), 500);
  EXPECT_EQ(load.unary_in_flight.load(), 0);
}

TEST(MemberLoadTest,
     ATimeoutReportsOnlyWhenTheMemberWasQuietLongerThanStallTimeout) {
  constexpr int64_t kStallUs = 500000;
  StallProbe probe(kStallUs);
  MemberLoad& load = probe.load;
  load.UnaryStarted(1000000);
  load.UnaryStarted(1100000);
  load.UnaryStarted(1200000);

  // Quiet for exactly stall_timeout: not yet.
  load.UnaryTimedOut(1000000 + kStallUs);
  EXPECT_EQ(probe.reports, 0);
  EXPECT_EQ(load.unary_in_flight.load(), 2);
  EXPECT_EQ(load.progress_us.load(), 0) << "a timeout is no progress";

  load.UnaryTimedOut(1000000 + kStallUs + 1);
  EXPECT_EQ(probe.reports, 1);
  EXPECT_EQ(load.progress_us.load(), 0) << "a timeout is no progress";
  EXPECT_EQ(load.unary_in_flight.load(), 1);

  // An answer in between: the member is not quiet.
  load.UnaryStarted(1600000);
  load.UnaryFinished(1700000, /*answered=*/true);
  load.UnaryTimedOut(1700000 + kStallUs / 2);
  EXPECT_EQ(probe.reports, 1);
  EXPECT_EQ(load.unary_in_flight.load(), 0);
}

TEST(MemberLoadTest, ATimeoutOnAQuickMemberReportsNothing) {
  StallProbe probe(500000);
  // A call with a short deadline times out on a member that answers.
  probe.load.UnaryStarted(1000000);
  probe.load.UnaryTimedOut(1000000 + 100000);
  EXPECT_EQ(probe.reports, 0);
  EXPECT_EQ(probe.load.unary_in_flight.load(), 0);
}

TEST(MemberLoadTest, WithoutStallDetectionATimeoutOnlyCountsTheCallOut) {
  MemberLoad load;  // no report_stall
  load.UnaryStarted(1000);
  load.UnaryTimedOut(1000 + 3600000000LL);
  EXPECT_EQ(load.unary_in_flight.load(), 0);
  EXPECT_EQ(load.progress_us.load(), 0);
}

TEST(MemberLoadTest, StallReportsAreAtMostOnePerStallTimeout) {
  constexpr int64_t kStallUs = 500000;
  StallProbe probe(kStallUs);
  MemberLoad& load = probe.load;
  for (int i = 0; i < 10; ++i) load.UnaryStarted(1000000);
  // A burst of timeouts on the quiet member: one report.
  for (int i = 0; i < 5; ++i) load.UnaryTimedOut(2000000 + i);
  EXPECT_EQ(probe.reports, 1);
  // Still quiet a stall_timeout later: one more.
  load.UnaryTimedOut(2000000 + kStallUs + 1);
  EXPECT_EQ(probe.reports, 2);
  EXPECT_EQ(load.unary_in_flight.load(), 4);
}

// --- MemberLoad: the estimates the pick reads ------------------------------

TEST(MemberLoadTest, WhatAPickReadsIsOnOneCacheLine) {
  MemberLoad load;
  const auto at = [](const auto& field) {
    return reinterpret_cast<uintptr_t>(&field);
  };
  const uintptr_t line = at(load.in_flight);
  EXPECT_EQ(line % 64, 0u);
  for (uintptr_t field :
       {at(load.unary_in_flight), at(load.progress_us), at(load.busy_us),
        at(load.latency_peak_us), at(load.latency_stamp_us),
        at(load.peak_ewma_us), at(load.peak_stamp_us)}) {
    EXPECT_GE(field, line);
    EXPECT_LT(field, line + 64);
  }
  // The per-call counters a pick does not read are elsewhere.
  EXPECT_GE(at(load.started), line + 64);
}

constexpr int64_t kT = 1'000'000'000;  // an arbitrary steady-clock time
constexpr int64_t kHalfLife = int64_t{1} << MemberLoad::kLatencyHalfLifeShift;

TEST(MemberLoadTest, LatencyPeakRisesAtOnceAndFallsByAnEighth) {
  MemberLoad load;
  EXPECT_EQ(load.latency_stamp_us.load(), 0) << "no answer yet";
  load.RecordLatencyPeak(1000, kT);
  EXPECT_EQ(load.LatencyPeakAt(kT), 1000);
  EXPECT_EQ(load.latency_stamp_us.load(), kT);
  load.RecordLatencyPeak(50000, kT + 1);  // slower: at once
  EXPECT_EQ(load.LatencyPeakAt(kT + 1), 50000);
  load.RecordLatencyPeak(1000, kT + 2);  // faster: 1/8 of the way down
  EXPECT_EQ(load.LatencyPeakAt(kT + 2), 50000 - 49000 / 8);
}

TEST(MemberLoadTest, LatencyPeakHalvesPerHalfLife) {
  MemberLoad load;
  load.RecordLatencyPeak(64000, kT);
  EXPECT_EQ(load.LatencyPeakAt(kT + kHalfLife - 1), 64000);
  EXPECT_EQ(load.LatencyPeakAt(kT + kHalfLife), 32000);
  EXPECT_EQ(load.LatencyPeakAt(kT + 3 * kHalfLife), 8000);
  EXPECT_EQ(load.LatencyPeakAt(kT + 100 * kHalfLife), 0);
  EXPECT_EQ(load.LatencyPeakAt(INT64_MAX), 0) << "the shift is bounded";
  // A clock behind the stamp (the pick's coarse one) sees no decay.
  EXPECT_EQ(load.LatencyPeakAt(kT - 5000), 64000);
  // A call ending after two half-lives starts from the decayed value.
  load.RecordLatencyPeak(0, kT + 2 * kHalfLife);
  EXPECT_EQ(load.LatencyPeakAt(kT + 2 * kHalfLife), 16000 - 16000 / 8);
}

// A stream open for an hour ends: it says nothing about how fast the member
// is.
void EndAnHourLongStream(MemberLoad& load) {
  load.RecordForPick(/*unary=*/false, grpc::StatusCode::OK, 3'600'000'000,
                     kT);
}

TEST(MemberLoadTest, OnlyUnaryCallsNotCancelledFeedTheLatencyEstimate) {
  MemberLoad load;
  load.pick = PickPolicy::kLatency;
  EndAnHourLongStream(load);
  EXPECT_EQ(load.latency_stamp_us.load(), 0);
  // Nor does a call its caller cancelled.
  load.RecordForPick(/*unary=*/true, grpc::StatusCode::CANCELLED, 900000, kT);
  EXPECT_EQ(load.latency_stamp_us.load(), 0);
  load.RecordForPick(/*unary=*/true, grpc::StatusCode::OK, 300, kT);
  EXPECT_EQ(load.LatencyPeakAt(kT), 300);
  // Any answer counts, failures too.
  load.RecordForPick(/*unary=*/true, grpc::StatusCode::UNAVAILABLE, 400, kT);
  EXPECT_EQ(load.LatencyPeakAt(kT), 400);
  // A timed-out call counts against its member as its deadline.
  load.RecordForPick(/*unary=*/true, grpc::StatusCode::DEADLINE_EXCEEDED,
                     1'000'000, kT + 1'000'000);
  EXPECT_EQ(load.LatencyPeakAt(kT + 1'000'000), 1'000'000);
  EXPECT_EQ(load.peak_stamp_us.load(), 0) << "kPeakEwma's is not kept";
}

TEST(MemberLoadTest, EachPolicyKeepsOnlyItsOwnEstimate) {
  MemberLoad in_flight;  // kInFlight: nothing to keep
  in_flight.RecordForPick(/*unary=*/true, grpc::StatusCode::OK, 300, kT);
  EXPECT_EQ(in_flight.latency_stamp_us.load(), 0);
  EXPECT_EQ(in_flight.peak_stamp_us.load(), 0);

  MemberLoad ewma;
  ewma.pick = PickPolicy::kPeakEwma;
  // Streams no longer feed peak-EWMA either.
  EndAnHourLongStream(ewma);
  EXPECT_EQ(ewma.peak_stamp_us.load(), 0);
  ewma.RecordForPick(/*unary=*/true, grpc::StatusCode::OK, 300, kT);
  EXPECT_EQ(ewma.PeakEwmaAt(kT), 300);
  EXPECT_EQ(ewma.latency_stamp_us.load(), 0);
}

TEST(MemberLoadTest, LatencyCostWeighsCallsInFlightByLatencyOrQuiet) {
  MemberLoad load;
  EXPECT_EQ(load.LatencyCostAt(kT), 1u) << "new and idle: the cheapest";
  load.CallStarted();  // a stream: counted in flight, not as unanswered
  EXPECT_EQ(load.LatencyCostAt(kT), 2u);
  load.RecordLatencyPeak(300, kT);
  EXPECT_EQ(load.LatencyCostAt(kT), 600u);
  // A unary call in flight for 5 ms unanswered outweighs 300 us.
  load.CallStarted();
  load.UnaryStarted(kT);
  EXPECT_EQ(load.LatencyCostAt(kT + 100), 900u);
  EXPECT_EQ(load.LatencyCostAt(kT + 5000), 3u * 5000);
  // An answer resets the age: the member is busy, not hung.
  load.progress_us = kT + 4000;
  EXPECT_EQ(load.LatencyCostAt(kT + 5000), 3u * 1000);
}

}  // namespace
}  // namespace internal
}  // namespace warm
