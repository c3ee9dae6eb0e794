#include "src/health/member_checks.h"

#include <utility>

namespace warm {
namespace internal {

MemberChecks::MemberChecks(Options options, Scheduler& scheduler,
                           StartHealthCheckFn start, OnResult on_result,
                           OnDue on_due)
    : options_(std::move(options)),
      scheduler_(scheduler),
      start_(std::move(start)),
      on_result_(std::move(on_result)),
      on_due_(std::move(on_due)) {}

void MemberChecks::Add(uint64_t id, std::shared_ptr<grpc::Channel> channel) {
  Entry& entry = entries_[id];
  entry.channel = std::move(channel);
  Start(id, entry);
}

void MemberChecks::Remove(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  // Destroying the timer cancels it; a cancelled check reports `cancelled`,
  // which the pool ignores.
  if (it->second.check != nullptr) it->second.check->Cancel();
  entries_.erase(it);
}

void MemberChecks::Clear() {
  while (!entries_.empty()) Remove(entries_.begin()->first);
}

bool MemberChecks::CheckDone(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  it->second.check.reset();
  it->second.next =
      scheduler_.RunAt(scheduler_.Now() + options_.interval,
                       [on_due = on_due_, id] { on_due(id); });
  return true;
}

void MemberChecks::StartDue(uint64_t id) {
  auto it = entries_.find(id);
  if (it != entries_.end()) Start(id, it->second);
}

void MemberChecks::Start(uint64_t id, Entry& entry) {
  entry.next.reset();
  entry.check = start_(*entry.channel, options_.service, options_.timeout,
                       [on_result = on_result_, id](HealthCheck::Result r) {
                         on_result(id, std::move(r));
                       });
}

}  // namespace internal
}  // namespace warm
