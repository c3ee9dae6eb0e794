#include "src/dns/refresh.h"

#include <algorithm>

namespace warm {
namespace internal {

bool DnsRefresh::OnAnswer(const DnsAnswer& answer, SteadyTime now) {
  if (answer.status.ok() && !answer.addresses.empty()) {
    ++ok_;
    has_answer_ = true;
    failures_ = 0;
    last_error_ = absl::OkStatus();
    last_answer_at_ = now;
    known_.clear();
    Nanos smallest = policy_.max_refresh;
    for (const ResolvedAddress& resolved : answer.addresses) {
      const Nanos ttl = std::chrono::duration_cast<Nanos>(resolved.ttl);
      known_.push_back(Known{resolved, now + ttl});
      smallest = std::min(smallest, ttl);
    }
    const Nanos base =
        std::clamp(smallest, policy_.min_refresh, policy_.max_refresh);
    // Early by up to 10 %, never later than the TTL.
    std::uniform_real_distribution<double> early(0.0, 0.1);
    next_refresh_ =
        now + std::chrono::duration_cast<Nanos>(base * (1.0 - early(random_)));
    return true;
  }
  ++failed_;
  ++failures_;
  last_error_ = answer.status.ok()
                    ? absl::NotFoundError("the answer has no addresses")
                    : answer.status;
  last_error_at_ = now;
  const Nanos cap = std::min(policy_.backoff_max, policy_.max_refresh);
  double backoff = static_cast<double>(policy_.backoff_initial.count());
  for (int i = 1; i < failures_ && backoff < cap.count(); ++i) backoff *= 2;
  backoff = std::min(backoff, static_cast<double>(cap.count()));
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  next_refresh_ = now + Nanos(static_cast<int64_t>(backoff * jitter(random_)));
  return false;
}

std::vector<Address> DnsRefresh::addresses() const {
  std::vector<Address> out;
  for (const Known& known : known_) out.push_back(known.resolved.address);
  return out;
}

}  // namespace internal
}  // namespace warm
