#include "src/call/picker.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <random>

namespace warm {
namespace internal {

Member* PickAt(const PickerSnapshot& snapshot, uint64_t random,
               int64_t now_us) {
  const std::vector<std::shared_ptr<Member>>& candidates =
      !snapshot.ready.empty()    ? snapshot.ready
      : !snapshot.trying.empty() ? snapshot.trying
                                 : snapshot.all;
  switch (snapshot.pick) {
    case PickPolicy::kLatency: {
      if (candidates.size() == 1) return candidates[0].get();
      const auto [first, second] = TwoOf(candidates.size(), random);
      const MemberLoad& a = candidates[first]->load();
      const MemberLoad& b = candidates[second]->load();
      // The coarse clock may be a tick behind a stamp the other candidate's
      // calls just wrote. Those stamps are real times too, so the latest of
      // them is as safe a "now" and sharper: a member hung since before the
      // other's latest answer shows its unanswered call's age at once,
      // where the coarse clock alone could hide it for up to ~4 ms and
      // keep sending it calls meanwhile. No extra cache line: the stamps
      // sit on the line the cost reads anyway.
      const int64_t now =
          std::max({now_us, a.LatestStampUs(), b.LatestStampUs()});
      return b.LatencyCostAt(now) < a.LatencyCostAt(now)
                 ? candidates[second].get()
                 : candidates[first].get();
    }
    case PickPolicy::kPeakEwma:
      return candidates[PickOfTwo(candidates.size(), random,
                                  [&](size_t i) {
                                    const MemberLoad& load =
                                        candidates[i]->load();
                                    // A member without calls yet costs 1 us
                                    // per call in flight: tried soon, not
                                    // flooded.
                                    return std::max(1.0,
                                                    load.PeakEwmaAt(now_us)) *
                                           static_cast<double>(
                                               load.in_flight.load(
                                                   std::memory_order_relaxed) +
                                               1);
                                  })]
          .get();
    case PickPolicy::kInFlight:
      break;
  }
  return candidates[PickOfTwo(candidates.size(), random,
                              [&](size_t i) {
                                return candidates[i]->load().in_flight.load(
                                    std::memory_order_relaxed);
                              })]
      .get();
}

Member* Pick(const PickerSnapshot& snapshot, uint64_t random) {
  switch (snapshot.pick) {
    case PickPolicy::kLatency:
      return PickAt(snapshot, random, CoarseSteadyMicros());
    case PickPolicy::kPeakEwma:
      return PickAt(snapshot, random,
                    SteadyMicros(std::chrono::steady_clock::now()));
    case PickPolicy::kInFlight:
      break;
  }
  return PickAt(snapshot, random, 0);  // no clock read
}

int64_t CoarseSteadyMicros() {
  // The coarse clock is the kernel's last tick, read from the vDSO without
  // reading the clock source: in pick_bench it made a kLatency pick about
  // half as costly as steady_clock::now() did (~20 vs ~40 ns at 64 members,
  // README). Being behind by up to a tick only makes LatencyCostAt see
  // unanswered calls up to ~4 ms younger and estimates that much less
  // decayed: never a member hung when it is not, and a hung one still loses
  // within a few milliseconds.
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return int64_t{now.tv_sec} * 1000000 + now.tv_nsec / 1000;
}

uint64_t ThreadRandom() {
  thread_local uint64_t state = [] {
    std::random_device device;
    uint64_t seed = (static_cast<uint64_t>(device()) << 32) ^ device();
    return seed == 0 ? 0x9E3779B97F4A7C15ull : seed;
  }();
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

}  // namespace internal
}  // namespace warm
