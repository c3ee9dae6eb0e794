// Pool: the control plane of one warm channel, and the door to its data plane.
//
// The pool is a thin executor. What to do is decided by pure pieces that know
// nothing of gRPC and take the time as an argument:
//   - PoolDecisions (src/pool/pool_decisions.h): which members to open, which
//     are pickable, which to evict, eject or retire; degraded mode;
//   - DnsRefresh (src/dns/refresh.h): when to resolve again, what to keep;
//   - TlsRotation (src/tls/rotation.h): when new TLS files are taken up.
// The pool feeds them what happens -- member connectivity changes, health
// check results (MemberChecks, src/health/member_checks.h), outlier reports
// from the call path, DNS answers, timers -- and carries out their Actions:
// it opens and closes member channels, publishes a new picker snapshot,
// moves the aggregate state (StateWatchers, src/pool/state_watchers.h), logs
// events and calls the user's health callback.
//
// Where it runs: every input arrives on the Scheduler's control thread (the
// process-wide Worker, src/common/worker.h; a FakeScheduler in unit tests)
// and is handled under `mu_`, except Start() and Shutdown(), which run on the
// caller's thread. The pool reads the steady clock and arms timers only
// through its Scheduler (the wall clock it reads is for TLS certificates'
// validity and for showing times), and makes member channels and health checks through functions
// in its Config, so tests/pool/pool_test.cc runs a real Pool on fake time
// with no sockets.
//
// Data plane: CreateCall() reads the current picker snapshot without a lock,
// picks a member (src/call/picker.h) and creates the call on that member's
// channel. When no member is pickable, a wait_for_ready call goes to the
// CallHolder (src/pool/call_holder.h), where it waits, up to its deadline,
// for the first pickable member, as on a plain gRPC channel; a fail-fast
// call goes to a member that may become pickable (whose channel fails it at
// once with UNAVAILABLE when not connected) or, with no member at all (no
// DNS answer yet), to the UnresolvedChannel, which fails it saying why.
//
// Callback calls. The warm channel's CallbackCQ() is a marker: CreateCall()
// replaces it with the picked member's own CallbackCQ(), so each callback
// call runs on the queue plain gRPC would use, which lives as long as the
// member's grpc::Channel, which the call's ClientContext keeps alive. The
// marker is one queue for the whole process, never used as a queue, rather
// than a real completion queue per channel.
//
// Lifetime: owned by warm::Channel, which calls Shutdown() and then
// Release(). Scheduler callbacks hold the pool only weakly, and only while
// they run; Release() waits (on one condition, signalled when the pool is
// destroyed) until they are done.

#ifndef WARM_SRC_POOL_POOL_H_
#define WARM_SRC_POOL_POOL_H_

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/impl/call.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "src/call/method_registry.h"
#include "src/call/member.h"
#include "src/call/picker.h"
#include "src/call/user_interceptors.h"
#include "src/common/mutex.h"
#include "src/common/scheduler.h"
#include "src/common/snapshot_cell.h"
#include "src/common/target.h"
#include "src/dns/refresh.h"
#include "src/dns/resolver.h"
#include "src/health/member_checks.h"
#include "src/pool/call_holder.h"
#include "src/pool/pool_decisions.h"
#include "src/pool/pool_view.h"
#include "src/pool/state_watchers.h"
#include "src/pool/unresolved_channel.h"
#include "src/tls/rotation.h"
#include "src/tls/tls.h"
#include "warm/introspection.h"
#include "warm/options.h"

namespace warm {
namespace internal {

// Makes one member's grpc::Channel to `target`, a literal address, with the
// given interceptor factories (warm's load counting first).
using CreateMemberChannelFn = std::function<std::shared_ptr<grpc::Channel>(
    const std::string& target,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const grpc::ChannelArguments& args,
    std::vector<std::unique_ptr<
        grpc::experimental::ClientInterceptorFactoryInterface>>
        interceptors)>;

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  // Everything a pool is made from; validated by CreateChannel().
  struct Config {
    std::string target;
    Target parsed;           // addresses, or the DNS name to resolve
    ChannelOptions options;  // validated
    // The user's credentials; null with options.tls, whose files were read
    // and checked into `tls_material` at creation (Start() moves it into the
    // pool's TlsRotation: no copy of the key stays behind).
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    std::optional<TlsMaterial> tls_material;
    // DNS targets: the resolver (null for static targets).
    std::shared_ptr<DnsResolver> resolver;
    // Where the pool runs and how it reaches backends; null: the Worker,
    // gRPC channels, real health checks and Watch streams. Tests put fakes
    // here. The real checks complete on the Worker's thread, so a scheduler
    // other than the Worker needs start functions of its own.
    std::shared_ptr<Scheduler> scheduler;
    CreateMemberChannelFn create_channel;
    StartHealthCheckFn start_health_check;
    StartHealthWatchFn start_health_watch;
    // Seeds the decisions' randomness (backoff jitter, first address); 0:
    // random.
    uint64_t seed = 0;
  };

  // Creates the pool and opens its members. Fails with InvalidArgument when
  // gRPC rejects a member's address (it would make a channel that can never
  // connect).
  static absl::StatusOr<std::shared_ptr<Pool>> Start(Config config);
  ~Pool();

  const std::string& name() const { return config_.options.name; }
  const std::string& target() const { return config_.target; }

  // --- data plane: any thread, no lock -------------------------------------
  grpc::internal::Call CreateCall(const grpc::internal::RpcMethod& method,
                                  grpc::ClientContext* context,
                                  grpc::CompletionQueue* cq);
  static grpc::CompletionQueue* callback_cq_marker();
  void* RegisterMethod(const char* method) {
    return methods_.Register(method);
  }

  // --- any thread -----------------------------------------------------------
  grpc_connectivity_state GetState(bool try_to_connect);
  void NotifyOnStateChange(grpc_connectivity_state last_observed,
                           gpr_timespec deadline, grpc::CompletionQueue* cq,
                           void* tag) {
    watchers_.NotifyOnStateChange(last_observed, deadline, cq, tag);
  }
  bool WaitForStateChange(grpc_connectivity_state last_observed,
                          gpr_timespec deadline) {
    return watchers_.WaitForStateChange(last_observed, deadline);
  }
  ChannelHealth Health() const;
  // Everything the pool shows, read under its lock with one reading of the
  // clocks (src/pool/pool_view.h); nullopt once shut down. With
  // `sample_latency` (diagnostics) it also advances the members'
  // recent-latency windows (see pool_view.cc), so that they reach back to
  // the previous diagnostics read.
  std::optional<PoolView> View(bool sample_latency = false);
  // Renderings of View() for warm::Channel.
  std::vector<MemberInfo> Members();
  std::vector<PoolEvent> Events();
  ResolutionInfo Resolution();
  // The diagnostics registry's id for this pool (0: not registered).
  uint64_t registry_id() const { return registry_id_; }

  // Closes every member (calls in flight finish on their member connections)
  // and completes pending state watches. Called once, by ~Channel.
  void Shutdown();
  // Drops `pool` and, unless on the control thread (where a handler may be
  // what holds it), waits up to 5 s for the pool to be destroyed: until then
  // a scheduler callback or a diagnostics snapshot is using it. So the user's
  // callbacks and interceptors in its options are gone when this returns.
  static void Release(std::shared_ptr<Pool> pool);

 private:
  // A member's latency histogram at one time: "recent" percentiles are of
  // the calls since the oldest sample kept (see View()).
  struct LatencySample {
    SteadyTime at;
    std::array<uint64_t, MemberLoad::kLatencyBuckets> buckets{};
  };
  // A member and what the pool keeps for it beside its decisions' record.
  struct Slot {
    std::shared_ptr<Member> member;
    // Oldest first, never empty; a few (see pool_view.cc), so a vector: a
    // deque's first block alone is 512 bytes per member.
    std::vector<LatencySample> latency_samples;
    uint64_t tls_generation = 0;  // the TLS material it was opened with
  };
  // Signalled when the pool is destroyed (see Release()).
  struct Gone {
    Mutex mu;
    CondVar done;
    bool gone ABSL_GUARDED_BY(mu) = false;
  };
  class Section;

  Pool(Config config, std::optional<TlsMaterial> tls_material);

  // Carries out what the decisions decided, then republishes the picker and
  // re-arms the pool's timer. Log lines and the health report wait in
  // pending_ for the Section to end.
  void ApplyLocked(PoolDecisions::Actions actions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `fn(pool, args...)` as a callback that holds the pool weakly: it does
  // nothing once the pool is gone.
  template <typename Fn>
  auto Weakly(Fn fn);
  void OpenMemberLocked(uint64_t id, const Address& address)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseMemberLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchLocked(uint64_t id, grpc::Channel& channel,
                   grpc_connectivity_state last_observed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnMemberStateChange(uint64_t id);
  // A health check's, Watch stream's or probe's news, or a check timer.
  void OnHealthInput(uint64_t id, MemberChecks::Input input);
  // Liveness: suspects members whose unary calls stalled (StallTrigger),
  // or one whose call timed out after it answered nothing for a while.
  void ScanForStalls();
  void OnCallTimedOut(uint64_t id);
  // Whether a member other than `id` is not stalled: no unary calls in
  // flight, or one answered within stall_timeout.
  bool OthersUnstalledLocked(uint64_t id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnOutlier(uint64_t id);
  // CreateCall() on a channel that is not a member's (the holder's, the
  // unresolved one): unregistered method, the channel's own callback queue.
  static grpc::internal::Call CreateCallOff(
      grpc::Channel& channel, const grpc::internal::RpcMethod& method,
      grpc::ClientContext* context, grpc::CompletionQueue* cq);
  // The CallHolder's Forward: creates a held call's leg on a pickable
  // member. Any thread; takes no lock of the pool's.
  bool StartForwarded(const std::string& method, grpc::ClientContext* context,
                      CallHolder::Reactor* reactor);
  void ArmTimerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnTimer();
  // Dynamic pool size: samples the pickable members' calls in flight every
  // PoolDecisions::kLoadSampleInterval (only channels whose size can change).
  void ArmLoadTimerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnLoadTimer();
  // DNS targets: starts a resolution; its answer arrives in OnDnsAnswer().
  void ResolveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnDnsAnswer(DnsAnswer answer);
  void OnDnsTimer();
  // TLS from files: reads them every reload_interval; TlsRotation decides.
  void ArmTlsTimerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnTlsTimer();
  // Recomputes the aggregate state, publishes the picker and completes the
  // state watches that the change satisfies.
  void RefreshLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReclaimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Set before anything else runs; then read-only.
  const std::shared_ptr<const SharedInterceptorFactory::Factories>
      interceptors_;  // ChannelOptions::interceptors, shared by the members
  const Config config_;  // with defaults filled in (name, scheduler, ...)
  Scheduler& scheduler_;  // *config_.scheduler
  const SteadyTime created_at_;
  // Every member's call counters, including closed members' (metrics).
  const std::shared_ptr<CallStats> call_stats_;
  // Per-method call counters (ChannelOptions::metrics_max_methods).
  const std::shared_ptr<MethodStats> method_stats_;
  // Arguments of every member connection (the user's and warm's).
  const grpc::ChannelArguments member_args_;
  const std::shared_ptr<Gone> gone_;
  // Null without LivenessOptions::stall_detection; set by Start().
  std::shared_ptr<StallTrigger> stall_trigger_;
  uint64_t registry_id_ = 0;  // set by Start()

  // Thread-safe on their own.
  MethodRegistry methods_;
  StateWatchers watchers_;
  UnresolvedChannel unresolved_;
  CallHolder holder_;  // wait_for_ready calls while nothing is pickable
  // Readers take no lock; Publish/Reclaim happen under mu_.
  SnapshotCell<PickerSnapshot> picker_;
  // Shutdown() began: readable without mu_ (a Section's end).
  std::atomic<bool> shutting_down_{false};

  mutable Mutex mu_;
  PoolDecisions decisions_ ABSL_GUARDED_BY(mu_);
  DnsRefresh dns_ ABSL_GUARDED_BY(mu_);
  std::optional<TlsRotation> tls_ ABSL_GUARDED_BY(mu_);
  std::optional<MemberChecks> checks_ ABSL_GUARDED_BY(mu_);  // from Start()
  std::map<uint64_t, Slot> slots_ ABSL_GUARDED_BY(mu_);  // decisions' ids
  // The published picker, as (member id, tier) pairs.
  std::vector<std::pair<uint64_t, PoolDecisions::Tier>> published_
      ABSL_GUARDED_BY(mu_);
  // The pool's one timer (PoolDecisions::NextDeadline()) and when it fires.
  std::unique_ptr<Scheduler::Timer> timer_ ABSL_GUARDED_BY(mu_);
  SteadyTime timer_deadline_ ABSL_GUARDED_BY(mu_) = SteadyTime::max();
  std::unique_ptr<Scheduler::Timer> dns_timer_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Scheduler::Timer> tls_timer_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Scheduler::Timer> load_timer_ ABSL_GUARDED_BY(mu_);
  // Retired picker snapshots a reader still held are freed a little later.
  std::unique_ptr<Scheduler::Timer> reclaim_timer_ ABSL_GUARDED_BY(mu_);
  std::string rejected_address_ ABSL_GUARDED_BY(mu_);  // see Start()
  // What new members connect with: the user's credentials, or built from
  // the TLS material in use.
  std::shared_ptr<grpc::ChannelCredentials> credentials_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  // What a Section does once it has released mu_: log lines, the health
  // report (see on_health_change).
  std::vector<std::pair<LogSeverity, std::string>> pending_log_
      ABSL_GUARDED_BY(mu_);
  std::optional<ChannelHealth> pending_health_ ABSL_GUARDED_BY(mu_);
  // Sections running their pending work (Shutdown() waits for them).
  int sections_running_ ABSL_GUARDED_BY(mu_) = 0;
  CondVar sections_done_;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_POOL_POOL_H_
