// Unit tests of RankAddresses() (src/pool/subsetting.h): ranks are
// permutations; deterministic subsetting spreads a fleet's connections over
// the backends within 1 for any numbers of clients, addresses and subset
// sizes; ranks depend on the set of addresses, not the order they are given
// in; rendezvous hashing (gRFC A68) is repeatable per seed, differs between
// seeds, loses at most one subset member when an address goes, and picks
// first choices about uniformly. Pure functions, no time, no sockets.

#include "src/pool/subsetting.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace warm {
namespace internal {
namespace {

using Mode = SubsetPolicy::Mode;

// "ipv4:10.<i/250>.<i%250>.7:<port>": distinct, and sorting them as strings
// is not their numeric order (so the tests do not pass by accident of the
// input order being sorted).
std::vector<std::string> Keys(int n, int port = 443) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) {
    keys.push_back("ipv4:10." + std::to_string(i / 250) + "." +
                   std::to_string(i % 250) + ".7:" + std::to_string(port));
  }
  return keys;
}

SubsetPolicy Rendezvous(uint64_t seed) {
  SubsetPolicy policy;
  policy.mode = Mode::kRendezvous;
  policy.seed = seed;
  return policy;
}

SubsetPolicy Deterministic(int index, int count) {
  SubsetPolicy policy;
  policy.mode = Mode::kDeterministic;
  policy.client_index = index;
  policy.client_count = count;
  return policy;
}

SubsetPolicy RandomOffset(uint64_t seed) {
  SubsetPolicy policy;
  policy.mode = Mode::kRandomOffset;
  policy.seed = seed;
  return policy;
}

// The keys, most preferred first.
std::vector<std::string> Ordered(const SubsetPolicy& policy,
                                 const std::vector<std::string>& keys) {
  const std::vector<uint32_t> rank = RankAddresses(policy, keys);
  EXPECT_EQ(rank.size(), keys.size());
  std::vector<std::string> ordered(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (rank[i] < ordered.size()) ordered[rank[i]] = keys[i];
  }
  return ordered;
}

// The first k of Ordered().
std::set<std::string> TopK(const SubsetPolicy& policy,
                           const std::vector<std::string>& keys, int k) {
  const std::vector<std::string> ordered = Ordered(policy, keys);
  return std::set<std::string>(ordered.begin(), ordered.begin() + k);
}

// Whether `rank` holds every one of 0..rank.size()-1 once.
bool IsPermutation(const std::vector<uint32_t>& rank) {
  std::vector<uint32_t> sorted = rank;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] != i) return false;
  }
  return true;
}

TEST(SubsettingTest, RanksArePermutationsInEveryMode) {
  for (int n : {0, 1, 2, 3, 7, 10, 64, 301}) {
    SCOPED_TRACE(n);
    const std::vector<std::string> keys = Keys(n);
    for (uint64_t seed : {1ull, 2ull, 12345ull, ~0ull}) {
      EXPECT_TRUE(IsPermutation(RankAddresses(Rendezvous(seed), keys)));
      EXPECT_TRUE(IsPermutation(RankAddresses(RandomOffset(seed), keys)));
      EXPECT_EQ(RankAddresses(Rendezvous(seed), keys).size(), keys.size());
    }
    for (int count : {1, 2, 3, 7, 30, 1000}) {
      for (int index : {0, count / 2, count - 1}) {
        const std::vector<uint32_t> rank =
            RankAddresses(Deterministic(index, count), keys);
        EXPECT_EQ(rank.size(), keys.size());
        EXPECT_TRUE(IsPermutation(rank)) << index << " of " << count;
      }
    }
  }
}

// Client i of N: the sorted keys as a ring, from floor(i x M / N).
TEST(SubsettingTest, DeterministicIsTheSortedRingFromEvenlySpacedStarts) {
  const std::vector<std::string> keys = Keys(13);
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  ASSERT_NE(sorted, keys);  // the input is not already sorted
  const int m = static_cast<int>(keys.size());
  for (int count : {1, 5, 13, 30}) {
    for (int index = 0; index < count; ++index) {
      SCOPED_TRACE(std::to_string(index) + " of " + std::to_string(count));
      const int start = index * m / count;
      const std::vector<std::string> ordered =
          Ordered(Deterministic(index, count), keys);
      for (int r = 0; r < m; ++r) {
        EXPECT_EQ(ordered[static_cast<size_t>(r)],
                  sorted[static_cast<size_t>((start + r) % m)])
            << "rank " << r;
      }
    }
  }
}

// The property deterministic subsetting is for: over a fleet of N clients
// with indices 0..N-1, each connecting to its first k ranks of M addresses,
// connections per backend differ by at most 1 -- also when M is not a
// multiple of k and N is not a multiple of M.
TEST(SubsettingTest, DeterministicSpreadsAFleetWithinOnePerBackend) {
  int combos = 0;
  std::mt19937 shuffle(7);
  for (int m = 1; m <= 23; ++m) {
    const std::vector<std::string> keys = Keys(m);
    for (int n = 1; n <= 41; ++n) {
      for (int k = 1; k <= m; ++k) {
        std::map<std::string, int> per_backend;
        for (const std::string& key : keys) per_backend[key] = 0;
        for (int i = 0; i < n; ++i) {
          // Each client may get the addresses in another order.
          std::vector<std::string> given = keys;
          std::shuffle(given.begin(), given.end(), shuffle);
          for (const std::string& key : TopK(Deterministic(i, n), given, k)) {
            ++per_backend[key];
          }
        }
        int low = n * k, high = 0, total = 0;
        for (const auto& [key, connections] : per_backend) {
          low = std::min(low, connections);
          high = std::max(high, connections);
          total += connections;
        }
        ASSERT_EQ(per_backend.size(), keys.size());
        ASSERT_EQ(total, n * k);
        ASSERT_LE(high - low, 1) << "N " << n << " clients, M " << m
                                 << " addresses, k " << k << ": " << low
                                 << ".." << high << " per backend";
        ++combos;
      }
    }
  }
  EXPECT_GT(combos, 5000);
}

TEST(SubsettingTest, RanksDependOnTheSetOfAddressesNotTheirOrder) {
  std::mt19937 shuffle(11);
  const std::vector<std::string> keys = Keys(40);
  std::vector<SubsetPolicy> policies;
  for (uint64_t seed : {1ull, 99ull, 0xdeadbeefull}) {
    policies.push_back(Rendezvous(seed));
  }
  for (int index : {0, 3, 6}) policies.push_back(Deterministic(index, 7));
  for (size_t p = 0; p < policies.size(); ++p) {
    SCOPED_TRACE(p);
    const std::vector<std::string> reference = Ordered(policies[p], keys);
    for (int round = 0; round < 20; ++round) {
      std::vector<std::string> given = keys;
      std::shuffle(given.begin(), given.end(), shuffle);
      EXPECT_EQ(Ordered(policies[p], given), reference) << "round " << round;
    }
  }
}

TEST(SubsettingTest, RandomOffsetRotatesTheGivenOrder) {
  const std::vector<std::string> keys = Keys(9);
  for (uint64_t seed : {0ull, 4ull, 9ull, 22ull}) {
    const std::vector<uint32_t> rank = RankAddresses(RandomOffset(seed), keys);
    for (size_t r = 0; r < keys.size(); ++r) {
      EXPECT_EQ(rank[(seed + r) % keys.size()], r) << seed;
    }
  }
}

TEST(SubsettingTest, RendezvousSameSeedSameOrder) {
  const std::vector<std::string> keys = Keys(50);
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    EXPECT_EQ(RankAddresses(Rendezvous(seed), keys),
              RankAddresses(Rendezvous(seed), keys));
    // A68's order: by score, highest first.
    const std::vector<std::string> ordered = Ordered(Rendezvous(seed), keys);
    for (size_t r = 1; r < ordered.size(); ++r) {
      EXPECT_GT(RendezvousScore(seed, ordered[r - 1]),
                RendezvousScore(seed, ordered[r]));
    }
  }
}

TEST(SubsettingTest, RendezvousDifferentSeedsDifferentOrders) {
  const std::vector<std::string> keys = Keys(20);
  std::set<std::vector<std::string>> orders;
  std::set<std::set<std::string>> subsets;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    orders.insert(Ordered(Rendezvous(seed), keys));
    subsets.insert(TopK(Rendezvous(seed), keys, 3));
  }
  // 20! orders: any repeat among 200 seeds would be a broken hash.
  EXPECT_EQ(orders.size(), 200u);
  // C(20,3) = 1140 subsets: 200 draws give well over 150 distinct ones
  // (about 183 expected).
  EXPECT_GT(subsets.size(), 150u);
  EXPECT_NE(Ordered(Rendezvous(1), keys), Ordered(Rendezvous(2), keys));
}

// A68's stability: an address removed changes each client's top k by at most
// one address (none when the removed one was not in it), and the one that
// comes in is the next in that client's order.
TEST(SubsettingTest, RendezvousRemovingAnAddressChangesTopKByAtMostOne) {
  const std::vector<std::string> keys = Keys(15);
  int changed = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    for (int k : {1, 3, 5}) {
      const std::vector<std::string> before = Ordered(Rendezvous(seed), keys);
      const std::set<std::string> top(before.begin(), before.begin() + k);
      for (size_t removed = 0; removed < keys.size(); removed += 4) {
        std::vector<std::string> fewer = keys;
        fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(removed));
        const std::set<std::string> after = TopK(Rendezvous(seed), fewer, k);
        std::set<std::string> expected = top;
        if (expected.erase(keys[removed]) > 0) {
          expected.insert(before[static_cast<size_t>(k)]);
          ++changed;
        }
        ASSERT_EQ(after, expected) << "seed " << seed << " k " << k
                                   << " removed " << keys[removed];
        // And the order of the rest is unchanged.
        std::vector<std::string> rest = before;
        rest.erase(std::find(rest.begin(), rest.end(), keys[removed]));
        ASSERT_EQ(Ordered(Rendezvous(seed), fewer), rest);
      }
    }
  }
  EXPECT_GT(changed, 100);  // the interesting case was exercised
}

// Over many seeds each address is first about equally often: 20000 seeds,
// 10 addresses, 2000 expected each (sd ~42); the bounds are > 7 sd wide and
// the seeds fixed, so this cannot flake, but a biased hash fails it.
TEST(SubsettingTest, RendezvousFirstChoiceIsRoughlyUniform) {
  const std::vector<std::string> keys = Keys(10);
  std::map<std::string, int> first;
  const int seeds = 20000;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    ++first[Ordered(Rendezvous(seed * 0x9e3779b97f4a7c15ull), keys)[0]];
  }
  ASSERT_EQ(first.size(), keys.size());
  double chi2 = 0;
  for (const auto& [key, n] : first) {
    EXPECT_GT(n, 1700) << key;
    EXPECT_LT(n, 2300) << key;
    chi2 += (n - 2000.0) * (n - 2000.0) / 2000.0;
  }
  // 9 degrees of freedom: P(chi2 > 33.7) < 1e-4.
  EXPECT_LT(chi2, 33.7);
  // Consecutive small seeds too (a channel's seed may be any number).
  std::map<std::string, int> small;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    ++small[Ordered(Rendezvous(seed), keys)[0]];
  }
  for (const auto& [key, n] : small) {
    EXPECT_GT(n, 1700) << key;
    EXPECT_LT(n, 2300) << key;
  }
}

// Across a fleet of rendezvous clients, the first choices spread: with 1000
// clients over 10 addresses no address gets more than twice its share.
TEST(SubsettingTest, RendezvousFleetSpreadsTopKRoughlyEvenly) {
  const std::vector<std::string> keys = Keys(10);
  std::map<std::string, int> per_backend;
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    for (const std::string& key : TopK(Rendezvous(seed), keys, 3)) {
      ++per_backend[key];
    }
  }
  ASSERT_EQ(per_backend.size(), keys.size());
  for (const auto& [key, n] : per_backend) {
    EXPECT_GT(n, 150) << key;  // 300 expected
    EXPECT_LT(n, 450) << key;
  }
}

}  // namespace
}  // namespace internal
}  // namespace warm
