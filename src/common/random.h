// SmallRandom: a seeded 64-bit random engine with 8 bytes of state.
//
// Every warm channel keeps engines of its own for jitter (DNS refresh times,
// backoff, check intervals) and its first address. std::mt19937_64 keeps
// 2.5 KiB of state, a noticeable part of an idle channel's memory, and these
// uses need neither its period nor its equidistribution. This is SplitMix64
// (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
// OOPSLA 2014): a counter advanced by the golden-ratio increment, then mixed;
// every seed, 0 included, gives a full-period sequence.
//
// It meets the UniformRandomBitGenerator requirements, so the <random>
// distributions take it.
//
// Thread safety: none (as the standard engines).

#ifndef WARM_SRC_COMMON_RANDOM_H_
#define WARM_SRC_COMMON_RANDOM_H_

#include <cstdint>

namespace warm {
namespace internal {

class SmallRandom {
 public:
  using result_type = uint64_t;

  explicit SmallRandom(uint64_t seed) : state_(seed) {}

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }

  result_type operator()() {
    state_ += 0x9e3779b97f4a7c15u;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_RANDOM_H_
