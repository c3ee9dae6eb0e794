// The data plane's choice: power of two choices over a snapshot.
//
// Pick() is what every call runs. PickOfTwo() picks two *distinct* entries
// uniformly at random and returns the one with the smaller load (the first on a
// tie). It reads only what it is given, so the pool's tests drive it with fake
// loads and fixed random values.
//
// ThreadRandom() is the randomness used on the call path: a per-thread
// generator, so concurrent callers share no state.

#ifndef WARM_SRC_CALL_PICKER_H_
#define WARM_SRC_CALL_PICKER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "src/call/member.h"

namespace warm {
namespace internal {

// Two distinct entries of [0, n), uniformly, chosen by the two 32-bit halves
// of `random`. Requires n >= 2.
inline std::pair<size_t, size_t> TwoOf(size_t n, uint64_t random) {
  // Multiply-shift maps a 32-bit value to [0, n) without a division.
  const size_t first = static_cast<size_t>(
      (static_cast<uint64_t>(static_cast<uint32_t>(random)) * n) >> 32);
  size_t second = static_cast<size_t>(((random >> 32) * (n - 1)) >> 32);
  if (second >= first) ++second;  // distinct from `first`, still uniform
  return {first, second};
}

// Index of the less loaded of two distinct entries in [0, n), chosen by the
// two 32-bit halves of `random`. `load_of(i)` returns entry i's load.
// Requires n >= 1; with n == 1 returns 0.
template <typename LoadOf>
size_t PickOfTwo(size_t n, uint64_t random, const LoadOf& load_of) {
  if (n <= 1) return 0;
  const auto [first, second] = TwoOf(n, random);
  return load_of(second) < load_of(first) ? second : first;
}

// The picker snapshot a pool publishes: immutable once published.
// The pool decides who is in which list (PoolDecisions::TierOf).
struct PickerSnapshot {
  // Pickable: READY, healthy (or degraded), not ejected.
  std::vector<std::shared_ptr<Member>> ready;
  // May become pickable: IDLE, CONNECTING, or READY but not checked yet.
  std::vector<std::shared_ptr<Member>> trying;
  std::vector<std::shared_ptr<Member>> all;  // every member
  // What a member's load is (ChannelOptions::pick; the pool sets it).
  PickPolicy pick = PickPolicy::kInFlight;
};

// The member a new call goes to: P2C by snapshot.pick's load (calls in
// flight; peak-EWMA latency x (calls in flight + 1), which costs a clock
// read and two exp() per pick; or MemberLoad::LatencyCostAt) over the
// pickable members; when none is, over the members that may become
// pickable; when none is, over all of them. Requires `snapshot.all` to be
// non-empty (the pool handles an empty one before picking).
Member* Pick(const PickerSnapshot& snapshot, uint64_t random);

// Pick() at `now_us` (steady clock, microseconds; read only by the
// latency policies), for tests that set the time. kLatency takes the latest
// of `now_us` and the two candidates' own stamps (MemberLoad::LatestStampUs)
// as the time.
Member* PickAt(const PickerSnapshot& snapshot, uint64_t random,
               int64_t now_us);

// The clock kLatency picks by: CLOCK_MONOTONIC_COARSE in microseconds, the
// base of SteadyMicros, but up to a tick (~4 ms) behind it.
int64_t CoarseSteadyMicros();

// A fast per-thread pseudo-random 64-bit value (xorshift64*, seeded per
// thread from std::random_device). Not for cryptography.
uint64_t ThreadRandom();

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALL_PICKER_H_
