#include "src/picker.h"

#include <random>

namespace warm {
namespace internal {

Member* Pick(const PickerSnapshot& snapshot, uint64_t random) {
  const std::vector<std::shared_ptr<Member>>& candidates =
      !snapshot.ready.empty()    ? snapshot.ready
      : !snapshot.trying.empty() ? snapshot.trying
                                 : snapshot.all;
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
