// Pool: the members of one warm channel, their states, and the picker.
//
// Control plane: decisions (which members to open, which are pickable, which
// to evict, eject or retire, degraded mode) are made by PoolState
// (src/pool/pool_state.h), which knows nothing of gRPC. The pool feeds it what
// happens -- member connectivity changes (gRPC watches), health check results
// (src/health/health_check.h), outlier reports from the call path, timers -- and
// carries out its Actions: it opens and closes member channels, starts and
// schedules health checks, publishes a new picker snapshot, aggregates the
// channel's state, logs events and calls the user's health callback. All of
// it runs on the worker thread (src/common/worker.h), serialized by `mu_`, except
// Start() and Shutdown(), which run on the caller's thread.
//
// Data plane: CreateCall() reads the current snapshot without a lock, picks a
// member (src/call/picker.h) and creates the call on that member's channel, whose
// own behaviour then applies: with no member READY it fails fast with
// UNAVAILABLE, or waits when the call set wait_for_ready.
//
// Watching the aggregate state. NotifyOnStateChange() must behave as gRPC's:
// the watch holds an operation open on the caller's completion queue until it
// completes (so CompletionQueue::Shutdown() waits for it), ok == true when the
// state changed, ok == false at the deadline. Only a real gRPC watch does all
// that, so the pool keeps a "signal" channel per aggregate state: a
// grpc::Channel that never connects and so stays IDLE. Watches of the current
// state are registered on it with gRPC's own NotifyOnStateChange(IDLE, ...);
// when the aggregate state changes the signal channel is destroyed, which
// moves it to SHUTDOWN and completes every watch on it with ok == true.
//
// Callback calls. The warm channel's CallbackCQ() is a marker: CreateCall()
// replaces it with the picked member's own CallbackCQ(), so each callback
// call runs on the queue plain gRPC would use, which lives as long as the
// member's grpc::Channel, which the call's ClientContext keeps alive.
//
// Lifetime: owned by warm::Channel, which calls Shutdown() when destroyed.
// Worker callbacks hold only weak references; Shutdown() cancels the pool's
// health checks and timers so that nothing of it lingers on the worker.

#ifndef WARM_SRC_POOL_POOL_H_
#define WARM_SRC_POOL_POOL_H_

#include <grpcpp/alarm.h>
#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/impl/call.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "src/dns/refresh.h"
#include "src/dns/resolver.h"
#include "src/health/health_check.h"
#include "src/call/load_interceptor.h"
#include "src/call/member.h"
#include "src/call/picker.h"
#include "src/pool/pool_state.h"
#include "src/common/snapshot_cell.h"
#include "src/common/target.h"
#include "src/tls/tls.h"
#include "warm/channel.h"

namespace warm {
namespace diagnostics {
namespace v1 {
class Channel;
}  // namespace v1
}  // namespace diagnostics

namespace internal {

// A steady-clock time of the pool as a wall-clock time (epoch stays epoch).
std::chrono::system_clock::time_point ToSystem(SteadyTime t);

// Why calls cannot be sent anywhere yet (DNS targets before their first good
// answer); read by the interceptor of the pool's unresolved channel.
struct UnresolvedReason {
  std::mutex mu;
  std::string text;  // guarded by mu
};

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  // Everything a pool is made from; validated by CreateChannel().
  struct Config {
    std::string name;
    std::string target;
    std::vector<Address> addresses;
    int pool_size = 3;
    bool peak_ewma = false;  // PickPolicy::kPeakEwma
    grpc::ChannelArguments channel_args;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    std::shared_ptr<const SharedInterceptorFactory::Factories> interceptors;
    PoolPolicy policy;
    // Health checks (when policy.health_checks).
    std::string health_service;
    std::chrono::milliseconds check_interval{5000};
    std::chrono::milliseconds check_timeout{3000};
    // Outlier reports: status codes that count (bit per code) and how many
    // in a row (0 = off).
    uint32_t failure_codes = 0;
    int consecutive_failures = 0;
    std::function<void(const ChannelHealth&)> on_health_change;
    // DNS targets: the resolver and what to resolve (addresses is empty).
    std::shared_ptr<DnsResolver> resolver;
    std::string dns_server;  // as given in the target ("" = the system's)
    std::string dns_host;
    int dns_port = 0;
    DnsRefreshPolicy dns_policy;
    // TLS from files (credentials is null then): the options and the
    // material read and checked at creation.
    std::optional<TlsOptions> tls;
    std::optional<TlsMaterial> tls_material;
  };

  // Creates the pool and opens its members. Fails with InvalidArgument when
  // gRPC rejects a member's address (it would make a channel that can never
  // connect).
  static absl::StatusOr<std::shared_ptr<Pool>> Start(Config config);
  ~Pool();

  const std::string& name() const { return config_.name; }
  const std::string& target() const { return config_.target; }

  // --- data plane: any thread, no lock -------------------------------------
  grpc::internal::Call CreateCall(const grpc::internal::RpcMethod& method,
                                  grpc::ClientContext* context,
                                  grpc::CompletionQueue* cq);
  grpc::CompletionQueue* callback_cq_marker() { return &callback_cq_marker_; }

  // --- any thread -----------------------------------------------------------
  void* RegisterMethod(const char* method);
  grpc_connectivity_state GetState(bool try_to_connect);
  void NotifyOnStateChange(grpc_connectivity_state last_observed,
                           gpr_timespec deadline, grpc::CompletionQueue* cq,
                           void* tag);
  bool WaitForStateChange(grpc_connectivity_state last_observed,
                          gpr_timespec deadline);
  std::vector<MemberInfo> Members() const;
  ChannelHealth Health() const;
  std::vector<PoolEvent> Events() const;
  ResolutionInfo Resolution() const;
  // Everything diagnostics show of this pool (src/diagnostics/diagnostics.h), except
  // the registry's id and label; false once shut down. Advances the
  // members' recent-latency windows, so it is not const.
  bool FillSnapshot(diagnostics::v1::Channel& out);

  // Closes every member (calls in flight finish on their member connections)
  // and completes pending state watches. Called once, by ~Channel.
  void Shutdown();

 private:
  // A member's latency histogram at one time: "recent" percentiles are of
  // the calls since the oldest sample kept (see FillSnapshot()).
  struct LatencySample {
    SteadyTime at;
    std::array<uint64_t, MemberLoad::kLatencyBuckets> buckets{};
  };
  // A member and what the pool runs for it.
  struct Slot {
    std::shared_ptr<Member> member;
    std::shared_ptr<HealthCheck> check;         // in flight, or null
    std::unique_ptr<grpc::Alarm> next_check;    // armed, or null
    std::deque<LatencySample> latency_samples;  // oldest first, never empty
    uint64_t tls_generation = 0;  // the TLS material it was opened with
  };
  // What to do once mu_ is released: log lines, the health callback.
  // Every ApplyLocked() is followed by RunDeferred() once mu_ is released.
  struct Deferred {
    std::vector<std::pair<LogSeverity, std::string>> log;
    bool health_changed = false;
    ChannelHealth health;
    bool counted = false;  // in deferred_running_
  };

  explicit Pool(Config config);

  // Carries out what PoolState decided, then republishes the picker and
  // re-arms the pool's timer.
  void ApplyLocked(PoolState::Actions actions, Deferred& deferred);
  // Runs `decide()` under mu_ unless the pool is shut down; it returns the
  // Actions to apply (std::optional, nullopt for none). Then runs the
  // deferred work without the lock. For the worker's handlers.
  template <typename Decide>
  void Handle(Decide decide);
  // `fn(pool, args...)` as a callback that holds the pool weakly: it does
  // nothing once the pool is gone.
  template <typename Fn>
  auto Weakly(Fn fn);
  void RunDeferred(const Deferred& deferred);
  void OpenMemberLocked(uint64_t id, const Address& address);
  void CloseMemberLocked(uint64_t id);
  void Watch(const Member& member, grpc_connectivity_state last_observed);
  void OnMemberStateChange(uint64_t member_id);
  void StartCheckLocked(Slot& slot);
  void OnCheckDone(uint64_t member_id, HealthCheck::Result result);
  void OnNextCheck(uint64_t member_id);
  void OnOutlier(uint64_t member_id);
  void ArmTimerLocked();
  void OnTimer(uint64_t generation);
  // DNS targets: starts a resolution; its answer arrives in OnDnsAnswer().
  void ResolveLocked();
  void OnDnsAnswer(DnsAnswer answer);
  // TLS from files: checks them every reload_interval and, when they
  // changed and are good, uses them for new members and recycles the rest.
  void ArmTlsTimerLocked();
  void OnTlsTimer();
  // Where calls go while no member exists (no DNS answer yet): a channel
  // that never connects, whose calls fail with UNAVAILABLE and say why.
  grpc::Channel& UnresolvedChannel();
  // Recomputes the aggregate state, publishes the picker and completes the
  // state watches that the change satisfies.
  void RefreshLocked();
  void ReclaimLater();
  PoolEvent ToPublic(const PoolState::Event& event) const;
  ResolutionInfo ResolutionLocked() const;

  const Config config_;
  const std::chrono::system_clock::time_point created_at_;
  // Every member's call counters, including closed members' (metrics).
  const std::shared_ptr<CallStats> call_stats_;
  // The diagnostics registry's id for this pool (0: not registered).
  uint64_t registry_id_ = 0;
  std::atomic<size_t> registered_methods_{0};
  std::atomic<grpc_connectivity_state> state_{GRPC_CHANNEL_IDLE};
  // Never used as a queue: see "Callback calls" above.
  grpc::CompletionQueue callback_cq_marker_;

  // Readers take no lock; Publish/Reclaim happen under mu_.
  SnapshotCell<PickerSnapshot> picker_;

  // std::mutex, not absl::Mutex: Debian's abseil is not built with
  // ThreadSanitizer, which then cannot see absl::Mutex; pthread mutexes it
  // always sees. Methods named ...Locked() require mu_.
  mutable std::mutex mu_;
  std::condition_variable state_changed_;  // signalled when state_ changes
  // Guarded by mu_:
  PoolState decisions_;
  std::map<uint64_t, Slot> slots_;  // same keys as decisions_.members()
  // The published picker, as (member id, tier) pairs.
  std::vector<std::pair<uint64_t, PoolState::Tier>> published_;
  // Watches of the current aggregate state wait on this; see above.
  std::shared_ptr<grpc::Channel> state_signal_;
  // The pool's one timer (PoolState::NextDeadline()).
  std::unique_ptr<grpc::Alarm> timer_;
  SteadyTime timer_deadline_ = SteadyTime::max();
  uint64_t timer_generation_ = 0;
  std::string rejected_address_;  // a member gRPC made lame (see Start)
  // Arguments of every member connection (config_.channel_args and warm's).
  grpc::ChannelArguments member_args_;
  // What new members connect with: config_.credentials, or built from the
  // current TLS material (generation counts reloads).
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  uint64_t tls_generation_ = 0;
  // TLS from files (config_.tls): the material in use (its facts, no key is
  // shown), the files as last seen, and how reloads went.
  std::optional<TlsMaterial> tls_material_;
  std::vector<FileStamp> tls_seen_;     // no need to read these again
  std::vector<FileStamp> tls_failing_;  // bad when last read
  bool tls_failure_reported_ = false;   // ... and reported
  std::unique_ptr<grpc::Alarm> tls_timer_;
  uint64_t tls_reloads_ok_ = 0;
  uint64_t tls_reloads_failed_ = 0;
  std::string tls_last_error_;  // since the last good reload
  std::chrono::system_clock::time_point tls_last_error_at_;
  std::chrono::system_clock::time_point tls_last_reload_at_;
  DnsRefresh dns_;
  std::unique_ptr<grpc::Alarm> dns_timer_;
  // Why there is no member yet, for calls that fail meanwhile.
  std::shared_ptr<UnresolvedReason> unresolved_reason_;
  std::once_flag unresolved_once_;
  std::shared_ptr<grpc::Channel> unresolved_channel_;
  bool shutdown_ = false;
  bool reclaim_pending_ = false;
  // Deferred work not yet done (Shutdown() waits for it).
  int deferred_running_ = 0;
  std::condition_variable deferred_done_;
  // shutdown_, readable without mu_ (RunDeferred).
  std::atomic<bool> shutting_down_{false};

  std::mutex methods_mu_;
  std::unordered_map<std::string, size_t>
      method_ids_;  // guarded by methods_mu_
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_POOL_POOL_H_
