// What the PoolDecisions unit tests share: addresses, policies, event
// matchers and a Harness that feeds a PoolDecisions inputs on a fake clock.
// Included by pool_decisions_test.cc and pool_decisions_members_test.cc.

#ifndef WARM_TESTS_POOL_POOL_DECISIONS_HARNESS_H_
#define WARM_TESTS_POOL_POOL_DECISIONS_HARNESS_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "src/pool/pool_decisions.h"

namespace warm {
namespace internal {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

using std::chrono::milliseconds;
using std::chrono::seconds;
using Actions = PoolDecisions::Actions;
using Event = PoolDecisions::Event;
using Kind = PoolEvent::Kind;
using Tier = PoolDecisions::Tier;

// "10.0.0.1:1" ... "10.0.0.N:1".
std::vector<Address> Addresses(int n) {
  std::vector<Address> addresses;
  for (int i = 1; i <= n; ++i) {
    const std::string display = "10.0.0." + std::to_string(i) + ":1";
    addresses.push_back(Address{"ipv4:" + display, display});
  }
  return addresses;
}

PoolPolicy Policy(int pool_size) {
  PoolPolicy policy;
  policy.pool_size = pool_size;
  return policy;
}

std::vector<Kind> Kinds(const std::vector<Event>& events) {
  std::vector<Kind> kinds;
  for (const Event& event : events) kinds.push_back(event.kind);
  return kinds;
}

// Whether `events` holds an event of `kind` about `member` (0: any member).
template <typename Events>
bool HasEvent(const Events& events, Kind kind, uint64_t member = 0) {
  return std::any_of(events.begin(), events.end(), [&](const Event& event) {
    return event.kind == kind && (member == 0 || event.member_id == member);
  });
}

bool HasEvent(const Actions& actions, Kind kind, uint64_t member = 0) {
  return HasEvent(actions.events, kind, member);
}

std::vector<uint64_t> OpenedIds(const Actions& actions) {
  std::vector<uint64_t> ids;
  for (const auto& [id, address] : actions.open) ids.push_back(id);
  return ids;
}

std::vector<size_t> OpenedAddresses(const Actions& actions) {
  std::vector<size_t> addresses;
  for (const auto& [id, address] : actions.open) addresses.push_back(address);
  return addresses;
}

// A PoolDecisions with a fake clock and short-hands for its inputs.
struct Harness {
  Harness(PoolPolicy policy, int addresses, uint64_t seed = 1)
      : state(policy, Addresses(addresses), seed) {}

  Actions Start() { return state.Start(now); }
  Actions Connectivity(uint64_t id, grpc_connectivity_state connectivity) {
    return state.OnConnectivity(id, connectivity, now);
  }
  Actions Ready(uint64_t id) { return Connectivity(id, GRPC_CHANNEL_READY); }
  Actions Disconnect(uint64_t id) {
    return Connectivity(id, GRPC_CHANNEL_TRANSIENT_FAILURE);
  }
  Actions Serve(uint64_t id) {
    return state.OnCheck(id, CheckOutcome::kServing, "SERVING", now);
  }
  Actions Fail(uint64_t id) {
    return state.OnCheck(id, CheckOutcome::kNotServing, "NOT_SERVING", now);
  }
  // unhealthy_threshold failed checks; the actions of the last one.
  Actions FailUntilUnhealthy(uint64_t id) {
    Actions last;
    for (int i = 0; i < state.policy().unhealthy_threshold; ++i) {
      last = Fail(id);
    }
    return last;
  }
  // READY, then one SERVING check; the actions of the check.
  Actions MakeHealthy(uint64_t id) {
    Ready(id);
    return Serve(id);
  }
  Actions CallFailures(uint64_t id) { return state.OnCallFailures(id, now); }
  Actions Timer() { return state.OnTimer(now); }

  bool Has(uint64_t id) const { return state.members().count(id) > 0; }
  const PoolDecisions::MemberRecord& Member(uint64_t id) const {
    return state.members().at(id);
  }
  Tier TierOf(uint64_t id) const { return state.TierOf(Member(id)); }
  size_t AddressOf(uint64_t id) const { return Member(id).address; }
  const PoolDecisions::AddressRecord& Addr(size_t index) const {
    return state.addresses().at(index);
  }
  std::vector<uint64_t> Ids() const {
    std::vector<uint64_t> ids;
    for (const auto& [id, member] : state.members()) ids.push_back(id);
    return ids;
  }
  std::vector<int> MembersPerAddress() const {
    std::vector<int> counts;
    for (const auto& address : state.addresses()) {
      counts.push_back(address.members);
    }
    return counts;
  }

  PoolDecisions state;
  // Far from the clock's epoch: SteadyTime{} means "unset" in the records.
  SteadyTime now = SteadyTime{} + std::chrono::hours(1);
};

// --- 1. Start ---------------------------------------------------------------


}  // namespace
}  // namespace internal
}  // namespace warm

#endif  // WARM_TESTS_POOL_POOL_DECISIONS_HARNESS_H_
