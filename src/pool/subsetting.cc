#include "src/pool/subsetting.h"

#include <algorithm>
#include <cstddef>
#include <numeric>

namespace warm {
namespace internal {
namespace {

// SplitMix64's finaliser: a bijection on 64 bits with full avalanche.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

// FNV-1a, 64 bits: the key's bytes to one word (Mix spreads it).
uint64_t Fnv1a(const std::string& key) {
  uint64_t h = 0xcbf29ce484222325u;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3u;
  }
  return h;
}

}  // namespace

uint64_t RendezvousScore(uint64_t seed, const std::string& key) {
  return Mix(Fnv1a(key) ^ Mix(seed + 0x9e3779b97f4a7c15u));
}

std::vector<uint32_t> RankAddresses(const SubsetPolicy& policy,
                                    const std::vector<std::string>& keys) {
  const size_t n = keys.size();
  std::vector<uint32_t> rank(n);
  if (n == 0) return rank;
  // `order`: indices into keys, most preferred first.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  switch (policy.mode) {
    case SubsetPolicy::Mode::kRendezvous: {
      std::vector<uint64_t> score(n);
      for (size_t i = 0; i < n; ++i) score[i] = RendezvousScore(policy.seed, keys[i]);
      // Ties (astronomically rare) fall back to the key, so every process
      // agrees.
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return score[a] != score[b] ? score[a] > score[b] : keys[a] < keys[b];
      });
      break;
    }
    case SubsetPolicy::Mode::kDeterministic: {
      std::sort(order.begin(), order.end(),
                [&](size_t a, size_t b) { return keys[a] < keys[b]; });
      const uint64_t count =
          static_cast<uint64_t>(std::max(policy.client_count, 1));
      const uint64_t index = static_cast<uint64_t>(
          std::clamp(policy.client_index, 0, static_cast<int>(count) - 1));
      const size_t start = static_cast<size_t>(index * n / count);
      std::rotate(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(start),
                  order.end());
      break;
    }
    case SubsetPolicy::Mode::kRandomOffset: {
      const size_t start = static_cast<size_t>(policy.seed % n);
      std::rotate(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(start),
                  order.end());
      break;
    }
  }
  for (size_t r = 0; r < n; ++r) rank[order[r]] = static_cast<uint32_t>(r);
  return rank;
}

}  // namespace internal
}  // namespace warm
