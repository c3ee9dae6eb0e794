// DnsRefresh: when a DNS target is resolved next, and what is kept meanwhile.
//
// Pure logic, like PoolDecisions: answers and times are passed in, randomness
// comes from a seeded generator, so unit tests drive it with a fake clock.
//
// Rules:
//   - After a good answer, the next refresh is at
//     clamp(smallest TTL, min_refresh, max_refresh), made up to 10 % earlier
//     (so that many clients of one name do not refresh in step, and none
//     refreshes after its records expired).
//   - After an error (timeout, SERVFAIL, server down, NXDOMAIN, no records),
//     the last good answer is kept and the next try comes after an
//     exponential backoff: 1 s x 2^(failures-1), at most max_refresh (and at
//     most 60 s), +-20 % jitter.
//   - Before any good answer the channel has no addresses; errors say why.
//
// Thread safety: none; the pool calls it under its mutex.

#ifndef WARM_SRC_DNS_REFRESH_H_
#define WARM_SRC_DNS_REFRESH_H_

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "src/common/random.h"
#include "src/common/time.h"
#include "src/dns/resolver.h"

namespace warm {
namespace internal {

struct DnsRefreshPolicy {
  Nanos min_refresh = std::chrono::seconds(5);
  Nanos max_refresh = std::chrono::seconds(300);
  Nanos backoff_initial = std::chrono::seconds(1);
  Nanos backoff_max = std::chrono::seconds(60);
};

class DnsRefresh {
 public:
  struct Known {
    ResolvedAddress resolved;
    SteadyTime expires_at;  // answer time + TTL
  };

  DnsRefresh(DnsRefreshPolicy policy, uint64_t seed)
      : policy_(policy), random_(seed) {}

  // Takes an answer received at `now`. Returns true when the answer is good
  // (the pool should use addresses()); on an error the last good set stays.
  bool OnAnswer(const DnsAnswer& answer, SteadyTime now);

  // When to resolve next (valid after the first OnAnswer()).
  SteadyTime next_refresh() const { return next_refresh_; }
  // The last good answer's addresses, with their expiry.
  const std::vector<Known>& known() const { return known_; }
  std::vector<Address> addresses() const;
  bool has_answer() const { return has_answer_; }
  // The last error (OK after a good answer) and errors in a row.
  const absl::Status& last_error() const { return last_error_; }
  SteadyTime last_error_at() const { return last_error_at_; }
  int failures() const { return failures_; }
  SteadyTime last_answer_at() const { return last_answer_at_; }
  uint64_t resolutions_ok() const { return ok_; }
  uint64_t resolutions_failed() const { return failed_; }

 private:
  const DnsRefreshPolicy policy_;
  SmallRandom random_;  // src/common/random.h: 8 bytes, not 2.5 KiB
  std::vector<Known> known_;
  bool has_answer_ = false;
  absl::Status last_error_;
  SteadyTime last_error_at_{};
  SteadyTime last_answer_at_{};
  SteadyTime next_refresh_{};
  int failures_ = 0;
  uint64_t ok_ = 0;
  uint64_t failed_ = 0;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_DNS_REFRESH_H_
