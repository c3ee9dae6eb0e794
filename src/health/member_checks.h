// MemberChecks: the health checks of one pool's members, one at a time per
// member, the next starting `interval` after the last ended.
//
// The pool adds a member when it opens and removes it when it closes. A
// check's result goes to `on_result`; the pool then calls CheckDone() (which
// arms the next check) and feeds the outcome to its decisions. When the next
// check is due, `on_due` runs and the pool calls StartDue(). `on_due` runs on
// the scheduler's control thread, `on_result` where the StartHealthCheckFn
// runs `done` (the Worker's thread for the real check: the pool pairs it with
// the Worker), both outside any lock; every method here is called under the
// pool's lock.
//
// Thread safety: none; the pool calls it under its mutex.

#ifndef WARM_SRC_HEALTH_MEMBER_CHECKS_H_
#define WARM_SRC_HEALTH_MEMBER_CHECKS_H_

#include <grpcpp/channel.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "src/common/scheduler.h"
#include "src/health/health_check.h"

namespace warm {
namespace internal {

class MemberChecks {
 public:
  struct Options {
    std::string service;
    std::chrono::milliseconds interval{5000};
    std::chrono::milliseconds timeout{3000};
  };
  using OnResult = std::function<void(uint64_t id, HealthCheck::Result)>;
  using OnDue = std::function<void(uint64_t id)>;

  MemberChecks(Options options, Scheduler& scheduler, StartHealthCheckFn start,
               OnResult on_result, OnDue on_due);
  ~MemberChecks() { Clear(); }
  MemberChecks(const MemberChecks&) = delete;
  MemberChecks& operator=(const MemberChecks&) = delete;

  // Starts checking member `id` on `channel` (which outlives its entry here).
  void Add(uint64_t id, std::shared_ptr<grpc::Channel> channel);
  // Cancels the member's check or its timer.
  void Remove(uint64_t id);
  void Clear();

  // The check of `id` has ended: arm the next one. False when `id` is not
  // here (closed meanwhile).
  bool CheckDone(uint64_t id);
  // The next check of `id` is due: start it.
  void StartDue(uint64_t id);

 private:
  struct Entry {
    std::shared_ptr<grpc::Channel> channel;
    std::shared_ptr<HealthCheck> check;        // in flight, or null
    std::unique_ptr<Scheduler::Timer> next;  // armed, or null
  };
  void Start(uint64_t id, Entry& entry);

  const Options options_;
  Scheduler& scheduler_;
  const StartHealthCheckFn start_;
  const OnResult on_result_;
  const OnDue on_due_;
  std::map<uint64_t, Entry> entries_;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_HEALTH_MEMBER_CHECKS_H_
