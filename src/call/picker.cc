#include "src/call/picker.h"

#include <algorithm>
#include <chrono>
#include <random>

namespace warm {
namespace internal {

Member* Pick(const PickerSnapshot& snapshot, uint64_t random) {
  const std::vector<std::shared_ptr<Member>>& candidates =
      !snapshot.ready.empty()    ? snapshot.ready
      : !snapshot.trying.empty() ? snapshot.trying
                                 : snapshot.all;
  if (snapshot.peak_ewma) {
    const int64_t now_us = SteadyMicros(std::chrono::steady_clock::now());
    return candidates[PickOfTwo(candidates.size(), random,
                                [&](size_t i) {
                                  const MemberLoad& load =
                                      candidates[i]->load();
                                  // A member without calls yet costs 1 us per
                                  // call in flight: tried soon, not flooded.
                                  return std::max(1.0,
                                                  load.PeakEwmaAt(now_us)) *
                                         static_cast<double>(
                                             load.in_flight.load(
                                                 std::memory_order_relaxed) +
                                             1);
                                })]
        .get();
  }
  return candidates[PickOfTwo(candidates.size(), random,
                              [&](size_t i) {
                                return candidates[i]->load().in_flight.load(
                                    std::memory_order_relaxed);
                              })]
      .get();
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
