// Subsetting: the order in which one channel prefers a target's addresses.
//
// A pool puts a new member on the least-used address, and among those on the
// best-ranked one, so the first k ranks are the channel's subset of k
// addresses, and a pool that grows takes the next ranks (PoolDecisions).
// RankAddresses() is pure: the same policy and addresses give the same ranks
// in every process, which is what deterministic subsetting needs and what
// bench/fleet_sim.cc relies on. See SubsettingOptions (warm/options.h) for
// the user's view and why the deterministic mode is a ring.

#ifndef WARM_SRC_POOL_SUBSETTING_H_
#define WARM_SRC_POOL_SUBSETTING_H_

#include <cstdint>
#include <string>
#include <vector>

namespace warm {
namespace internal {

struct SubsetPolicy {
  enum class Mode {
    // gRFC A68: rank by a hash of (seed, address), highest first.
    kRendezvous,
    // The sorted addresses as a ring; client `index` of `count` starts at
    // floor(index x addresses / count).
    kDeterministic,
    // The addresses in the resolver's order, from offset seed % addresses:
    // what warm did before subsetting (kept for the fleet simulator's
    // comparison, not offered as an option).
    kRandomOffset,
  };
  Mode mode = Mode::kRendezvous;
  int client_index = 0;
  int client_count = 0;
  uint64_t seed = 0;
};

// The rank of each of `keys` (address strings, all distinct), in the same
// order: a permutation of 0..keys.size()-1, 0 the most preferred.
std::vector<uint32_t> RankAddresses(const SubsetPolicy& policy,
                                    const std::vector<std::string>& keys);

// A68's per-address score (exposed for tests): a 64-bit hash of `key` mixed
// with `seed`; higher ranks first.
uint64_t RendezvousScore(uint64_t seed, const std::string& key);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_POOL_SUBSETTING_H_
