#include "src/pool/pool.h"

#include <grpc/support/time.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/time.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "src/common/events.h"
#include "src/call/picker.h"
#include "src/call/private_access.h"
#include "src/diagnostics/registry.h"
#include "src/common/worker.h"

namespace warm {
namespace internal {
namespace {

// How soon to retry freeing retired picker snapshots that a reader still held.
constexpr int kReclaimRetryMs = 20;

// Member state watches are renewed this often even when nothing changes, so
// that a watch never pins a channel gRPC could not shut down for long.
constexpr int kMemberWatchRenewMs = 5 * 60 * 1000;

// The signal channel's target: a valid address nothing ever connects to (the
// channel is never asked to connect, so it stays IDLE).
constexpr char kSignalTarget[] = "unix:/nonexistent/warm-state-signal";

// Where calls go while a DNS target has no address yet: nothing listens
// there, so fail-fast calls fail with UNAVAILABLE (rewritten to say why).
constexpr char kUnresolvedTarget[] = "unix:/nonexistent/warm-unresolved";

bool HasArg(const grpc::ChannelArguments& args, const char* key) {
  const grpc_channel_args c_args = args.c_channel_args();
  for (size_t i = 0; i < c_args.num_args; ++i) {
    if (std::strcmp(c_args.args[i].key, key) == 0) return true;
  }
  return false;
}

gpr_timespec FromNowMs(int64_t ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_millis(ms, GPR_TIMESPAN));
}

}  // namespace

template <typename Fn>
auto Pool::Weakly(Fn fn) {
  return [weak = weak_from_this(), fn = std::move(fn)](auto&&... args) {
    if (std::shared_ptr<Pool> pool = weak.lock()) {
      fn(*pool, std::forward<decltype(args)>(args)...);
    }
  };
}

template <typename Decide>
void Pool::Handle(Decide decide) {
  Deferred deferred;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    std::optional<PoolState::Actions> actions = decide();
    if (!actions.has_value()) return;
    ApplyLocked(*std::move(actions), deferred);
  }
  RunDeferred(deferred);
}

Pool::Pool(Config config)
    : config_(std::move(config)),
      created_at_(std::chrono::system_clock::now()),
      call_stats_(std::make_shared<CallStats>()),
      picker_(std::make_unique<PickerSnapshot>()),
      decisions_(config_.policy, config_.addresses, ThreadRandom()),
      dns_(config_.dns_policy, ThreadRandom()),
      unresolved_reason_(std::make_shared<UnresolvedReason>()) {
  unresolved_reason_->text = "resolving " + config_.dns_host;
  member_args_ = config_.channel_args;
  member_args_.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Members connect to addresses, but a DNS target's calls carry its name
  // as :authority, as a plain gRPC channel's do, and TLS checks the servers'
  // certificates against it (unless the user set an authority).
  if (config_.resolver != nullptr &&
      !HasArg(member_args_, GRPC_ARG_DEFAULT_AUTHORITY)) {
    member_args_.SetString(
        GRPC_ARG_DEFAULT_AUTHORITY,
        absl::StrCat(config_.dns_host, ":", config_.dns_port));
  }
  credentials_ = config_.credentials;
  if (config_.tls_material.has_value()) {
    if (!config_.tls->server_name_override.empty()) {
      member_args_.SetSslTargetNameOverride(config_.tls->server_name_override);
    }
    tls_material_ = config_.tls_material;
    tls_seen_ = tls_material_->stamps;
    tls_last_reload_at_ = created_at_;
    credentials_ = MakeTlsCredentials(*tls_material_);
  }
}

absl::StatusOr<std::shared_ptr<Pool>> Pool::Start(Config config) {
  std::shared_ptr<Pool> pool(new Pool(std::move(config)));
  Deferred deferred;
  std::string rejected;
  {
    std::lock_guard<std::mutex> lock(pool->mu_);
    pool->ApplyLocked(pool->decisions_.Start(std::chrono::steady_clock::now()),
                      deferred);
    rejected = pool->rejected_address_;
    if (pool->config_.resolver != nullptr) pool->ResolveLocked();
    if (pool->config_.tls.has_value()) pool->ArmTlsTimerLocked();
  }
  // Health reports are of changes after creation (see on_health_change).
  deferred.health_changed = false;
  pool->RunDeferred(deferred);
  if (!rejected.empty()) {
    pool->Shutdown();
    return absl::InvalidArgumentError(
        absl::StrCat("invalid target \"", pool->target(),
                     "\": gRPC rejected address \"", rejected, "\""));
  }
  pool->registry_id_ = ChannelRegistry::Get().Add(pool);
  return pool;
}

Pool::~Pool() {
  callback_cq_marker_.Shutdown();
  void* tag;
  bool ok;
  while (callback_cq_marker_.Next(&tag, &ok)) {
  }
}

void Pool::ApplyLocked(PoolState::Actions actions, Deferred& deferred) {
  if (!deferred.counted) {
    deferred.counted = true;
    ++deferred_running_;  // until RunDeferred() is done with it
  }
  for (uint64_t id : actions.close) CloseMemberLocked(id);
  for (const auto& [id, address] : actions.open) {
    OpenMemberLocked(id, decisions_.addresses()[address].address);
  }
  for (uint64_t id : actions.reset_failures) {
    auto it = slots_.find(id);
    if (it != slots_.end()) it->second.member->ResetFailures();
  }
  for (const PoolState::Event& event : actions.events) {
    std::string line = absl::StrCat("warm channel ", config_.name, ": ",
                                    PoolEventKindName(event.kind));
    if (event.member_id != 0) absl::StrAppend(&line, " #", event.member_id);
    if (!event.address.empty()) absl::StrAppend(&line, " ", event.address);
    if (!event.detail.empty()) absl::StrAppend(&line, ": ", event.detail);
    deferred.log.emplace_back(event.severity, std::move(line));
  }
  if (actions.health_changed) {
    deferred.health_changed = true;
    deferred.health = decisions_.health();
  }
  RefreshLocked();
  ArmTimerLocked();
}

void Pool::RunDeferred(const Deferred& deferred) {
  for (const auto& [severity, line] : deferred.log) Log(severity, line);
  // No health report once Shutdown() began: the user may be destroying what
  // the callback uses. Shutdown() waits for a report already running.
  if (deferred.health_changed && config_.on_health_change &&
      !shutting_down_.load(std::memory_order_acquire)) {
    config_.on_health_change(deferred.health);
  }
  if (!deferred.counted) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (--deferred_running_ == 0) deferred_done_.notify_all();
}

void Pool::OpenMemberLocked(uint64_t id, const Address& address) {
  auto load = std::make_shared<MemberLoad>(call_stats_);
  load->peak_ewma = config_.peak_ewma;
  if (config_.consecutive_failures > 0) {
    load->failure_codes = config_.failure_codes;
    load->failures_to_report = config_.consecutive_failures;
    // Runs on the thread that saw the call's status: hand over to the worker.
    load->report_outlier =
        [on_worker = Weakly([id](Pool& pool) { pool.OnOutlier(id); })] {
          Worker::Get().RunAt(gpr_now(GPR_CLOCK_MONOTONIC), on_worker);
        };
  }
  auto methods = std::make_shared<MethodCache>();
  SharedInterceptorFactory::Factories factories;
  factories.push_back(std::make_unique<LoadInterceptorFactory>(load, methods));
  for (size_t i = 0; i < config_.interceptors->size(); ++i) {
    factories.push_back(
        std::make_unique<SharedInterceptorFactory>(config_.interceptors, i));
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::experimental::CreateCustomChannelWithInterceptors(
          address.grpc_target, credentials_, member_args_,
          std::move(factories));
  auto member = std::make_shared<Member>(id, address, std::move(channel),
                                         std::move(load), std::move(methods));
  // Connect now: the pool is warm before the first call.
  const grpc_connectivity_state state = member->channel().GetState(true);
  if (state == GRPC_CHANNEL_SHUTDOWN) {
    // gRPC turns a target it cannot parse into a "lame" channel, whose state
    // reads SHUTDOWN from the start and which can never connect. ParseTarget()
    // rejects what is known to cause that (e.g. over-long Unix paths); this
    // catches whatever else gRPC may refuse.
    rejected_address_ = address.grpc_target;
  }
  // Watching from IDLE reports the state at once if it already moved on.
  Watch(*member, GRPC_CHANNEL_IDLE);
  Slot& slot = slots_[id];
  slot.member = std::move(member);
  slot.latency_samples.push_back({std::chrono::steady_clock::now(), {}});
  slot.tls_generation = tls_generation_;
  if (config_.policy.health_checks) StartCheckLocked(slot);
}

void Pool::CloseMemberLocked(uint64_t id) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return;
  // A member's grpc::Channel lives on in the ClientContexts of its calls in
  // flight and closes when the last one is destroyed. Destroying the alarm
  // cancels it.
  if (it->second.check != nullptr) it->second.check->Cancel();
  slots_.erase(it);
}

void Pool::Watch(const Member& member, grpc_connectivity_state last_observed) {
  const uint64_t id = member.id();
  Worker::Get().WatchState(
      member.channel(), last_observed, FromNowMs(kMemberWatchRenewMs),
      Weakly([id](Pool& pool) { pool.OnMemberStateChange(id); }));
}

void Pool::OnMemberStateChange(uint64_t member_id) {
  Handle([&]() -> std::optional<PoolState::Actions> {
    auto it = slots_.find(member_id);
    if (it == slots_.end()) return std::nullopt;
    Member& member = *it->second.member;
    // try_to_connect: an IDLE member (idle timeout, GOAWAY) reconnects now.
    const grpc_connectivity_state state = member.channel().GetState(true);
    member.set_state(state);
    if (state != GRPC_CHANNEL_SHUTDOWN) Watch(member, state);
    return decisions_.OnConnectivity(member_id, state,
                                     std::chrono::steady_clock::now());
  });
}

void Pool::StartCheckLocked(Slot& slot) {
  const uint64_t id = slot.member->id();
  slot.next_check.reset();
  slot.check = HealthCheck::Start(
      slot.member->channel(), config_.health_service, config_.check_timeout,
      Weakly([id](Pool& pool, HealthCheck::Result result) {
        pool.OnCheckDone(id, std::move(result));
      }));
}

void Pool::OnCheckDone(uint64_t member_id, HealthCheck::Result result) {
  if (result.cancelled) return;  // the member was closed
  Handle([&]() -> std::optional<PoolState::Actions> {
    auto it = slots_.find(member_id);
    if (it == slots_.end()) return std::nullopt;
    Slot& slot = it->second;
    slot.check.reset();
    // The next check starts `interval` after this one ended. Should the
    // result close the member, the alarm goes with its slot (cancelled).
    slot.next_check = std::make_unique<grpc::Alarm>();
    slot.next_check->Set(
        Worker::Get().cq(), FromNowMs(config_.check_interval.count()),
        Worker::Get().Completion(Weakly([member_id](Pool& pool, bool ok) {
          if (ok) pool.OnNextCheck(member_id);  // !ok: cancelled
        })));
    return decisions_.OnCheck(member_id, result.outcome,
                              std::move(result.detail),
                              std::chrono::steady_clock::now());
  });
}

void Pool::OnNextCheck(uint64_t member_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return;
  auto it = slots_.find(member_id);
  if (it != slots_.end()) StartCheckLocked(it->second);
}

void Pool::OnOutlier(uint64_t member_id) {
  Handle([&] {
    return std::make_optional(
        decisions_.OnCallFailures(member_id, std::chrono::steady_clock::now()));
  });
}

void Pool::ArmTimerLocked() {
  if (shutdown_) return;
  const SteadyTime next = decisions_.NextDeadline();
  if (next >= timer_deadline_) return;  // an earlier or equal one is armed
  // Replacing the alarm cancels the later one (its handler sees ok == false).
  timer_deadline_ = next;
  const uint64_t generation = ++timer_generation_;
  const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(
      next - std::chrono::steady_clock::now());
  timer_ = std::make_unique<grpc::Alarm>();
  timer_->Set(
      Worker::Get().cq(), FromNowMs(std::max<int64_t>(0, delay.count() + 1)),
      Worker::Get().Completion(Weakly([generation](Pool& pool, bool ok) {
        if (ok) pool.OnTimer(generation);
      })));
}

void Pool::OnTimer(uint64_t generation) {
  Handle([&] {
    if (generation == timer_generation_) timer_deadline_ = SteadyTime::max();
    return std::make_optional(
        decisions_.OnTimer(std::chrono::steady_clock::now()));
  });
}

void Pool::ArmTlsTimerLocked() {
  if (shutdown_) return;
  tls_timer_ = std::make_unique<grpc::Alarm>();
  tls_timer_->Set(Worker::Get().cq(),
                  FromNowMs(config_.tls->reload_interval.count()),
                  Worker::Get().Completion(Weakly([](Pool& pool, bool ok) {
                    if (ok) pool.OnTlsTimer();
                  })));
}

void Pool::OnTlsTimer() {
  // The files are read without the pool's lock (they are small and local).
  const std::vector<FileStamp> stamps = StampTlsFiles(*config_.tls);
  bool must_chain_to_ca = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    if (stamps == tls_seen_) {
      ArmTlsTimerLocked();
      return;
    }
    must_chain_to_ca = tls_material_->chains_to_ca;
  }
  const auto now = std::chrono::system_clock::now();
  absl::StatusOr<TlsMaterial> loaded =
      LoadTlsMaterial(*config_.tls, now, must_chain_to_ca);
  Handle([&]() -> std::optional<PoolState::Actions> {
    ArmTlsTimerLocked();
    const SteadyTime steady_now = std::chrono::steady_clock::now();
    if (!loaded.ok()) {
      // Files caught mid-rotation (a certificate renamed in before its key,
      // a chain written block by block) look bad for a moment: only files
      // that stayed as they are for a whole interval and are still bad are
      // reported, once. The old material stays in use meanwhile.
      if (stamps != tls_failing_) {
        tls_failing_ = stamps;
        tls_failure_reported_ = false;
        return std::nullopt;  // look again next interval
      }
      // Malformed files wait for a change; files unusable for now (a
      // certificate not valid yet) are tried again every interval.
      if (loaded.status().code() == absl::StatusCode::kInvalidArgument) {
        tls_seen_ = stamps;
      }
      if (tls_failure_reported_) return std::nullopt;
      tls_failure_reported_ = true;
      ++tls_reloads_failed_;
      tls_last_error_ = std::string(loaded.status().message());
      tls_last_error_at_ = now;
      return decisions_.Note(
          PoolEvent::Kind::kTlsReloadFailed, LogSeverity::kWarning,
          absl::StrCat(tls_last_error_, "; still using the files read ",
                       FormatDuration(now - tls_last_reload_at_), " ago"),
          steady_now);
    }
    tls_seen_ = loaded->stamps;
    tls_failing_.clear();
    tls_failure_reported_ = false;
    tls_last_error_.clear();
    tls_material_ = *std::move(loaded);
    credentials_ = MakeTlsCredentials(*tls_material_);
    ++tls_generation_;
    ++tls_reloads_ok_;
    tls_last_reload_at_ = now;
    std::vector<uint64_t> old;
    for (const auto& [id, slot] : slots_) {
      if (slot.tls_generation < tls_generation_) old.push_back(id);
    }
    PoolState::Actions actions = decisions_.Note(
        PoolEvent::Kind::kTlsReloaded, LogSeverity::kInfo,
        absl::StrCat("new TLS files in use",
                     tls_material_->subject.empty()
                         ? std::string()
                         : absl::StrCat(" (certificate ",
                                        tls_material_->subject, ")"),
                     "; recycling ", old.size(), " members one at a time"),
        steady_now);
    actions.Append(decisions_.Recycle(old, steady_now));
    return actions;
  });
}

void Pool::ResolveLocked() {
  dns_timer_.reset();
  // The answer arrives on the DNS thread; the pool handles it on the worker.
  auto on_worker = Weakly([](Pool& pool, DnsAnswer answer) {
    pool.OnDnsAnswer(std::move(answer));
  });
  config_.resolver->Resolve(
      config_.dns_host, config_.dns_port,
      [on_worker = std::move(on_worker)](DnsAnswer answer) mutable {
        Worker::Get().RunAt(gpr_now(GPR_CLOCK_MONOTONIC),
                            [on_worker, answer = std::move(answer)]() mutable {
                              on_worker(std::move(answer));
                            });
      });
}

void Pool::OnDnsAnswer(DnsAnswer answer) {
  Handle([&]() -> std::optional<PoolState::Actions> {
    const SteadyTime now = std::chrono::steady_clock::now();
    const bool good = dns_.OnAnswer(answer, now);
    // Resolve again at the refresh time.
    dns_timer_ = std::make_unique<grpc::Alarm>();
    dns_timer_->Set(
        Worker::Get().cq(),
        FromNowMs(std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(
                   dns_.next_refresh() - now)
                   .count())),
        Worker::Get().Completion(Weakly([](Pool& pool, bool ok) {
          if (!ok) return;  // cancelled: shutdown
          std::lock_guard<std::mutex> lock(pool.mu_);
          if (!pool.shutdown_) pool.ResolveLocked();
        })));
    if (good) return decisions_.SetAddresses(dns_.addresses(), now);
    {
      std::lock_guard<std::mutex> lock(unresolved_reason_->mu);
      unresolved_reason_->text = std::string(dns_.last_error().message());
    }
    const bool kept = dns_.has_answer();
    return decisions_.OnResolutionFailed(
        now,
        absl::StrCat(dns_.last_error().ToString(),
                     kept ? "; keeping the last good addresses" : "",
                     "; retrying in ",
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         dns_.next_refresh() - now)
                         .count(),
                     " ms"),
        kept);
  });
}

void Pool::RefreshLocked() {
  auto next = std::make_unique<PickerSnapshot>();
  next->peak_ewma = config_.peak_ewma;
  std::vector<std::pair<uint64_t, PoolState::Tier>> key;
  for (const auto& [id, slot] : slots_) {
    const PoolState::MemberRecord& record = decisions_.members().at(id);
    const PoolState::Tier tier = decisions_.TierOf(record);
    key.emplace_back(id, tier);
    next->all.push_back(slot.member);
    if (tier == PoolState::Tier::kPickable) next->ready.push_back(slot.member);
    if (tier == PoolState::Tier::kTrying) next->trying.push_back(slot.member);
  }
  // READY: a call has a pickable member. CONNECTING: members may become
  // pickable (connecting, idle, or not checked yet). Otherwise every member
  // failed, is unhealthy or is ejected.
  grpc_connectivity_state state = GRPC_CHANNEL_SHUTDOWN;
  if (!shutdown_) {
    state = !next->ready.empty()    ? GRPC_CHANNEL_READY
            : !next->trying.empty() ? GRPC_CHANNEL_CONNECTING
                                    : GRPC_CHANNEL_TRANSIENT_FAILURE;
    // A DNS target waiting for its first answer is connecting; after a
    // failed resolution, TRANSIENT_FAILURE.
    if (next->all.empty() && config_.resolver != nullptr &&
        dns_.failures() == 0) {
      state = GRPC_CHANNEL_CONNECTING;
    }
  }
  if (key != published_) {
    published_ = std::move(key);
    if (picker_.Publish(std::move(next))) ReclaimLater();
  }

  if (state == state_.load(std::memory_order_relaxed)) return;
  state_.store(state, std::memory_order_release);
  state_changed_.notify_all();
  // Destroying the signal channel completes every watch of the old state.
  state_signal_.reset();
}

void Pool::ReclaimLater() {
  if (reclaim_pending_) return;
  reclaim_pending_ = true;
  Worker::Get().RunAt(FromNowMs(kReclaimRetryMs), Weakly([](Pool& pool) {
                        std::lock_guard<std::mutex> lock(pool.mu_);
                        pool.reclaim_pending_ = false;
                        if (pool.picker_.Reclaim()) pool.ReclaimLater();
                      }));
}

grpc::internal::Call Pool::CreateCall(const grpc::internal::RpcMethod& method,
                                      grpc::ClientContext* context,
                                      grpc::CompletionQueue* cq) {
  // The read section spans the member's CreateCall: the snapshot keeps the
  // member alive until the new call's ClientContext holds its channel.
  SnapshotCell<PickerSnapshot>::Reader snapshot(picker_);
  if (snapshot->all.empty()) {
    // No member yet (DNS not answered) or any more (shut down).
    grpc::Channel& channel = UnresolvedChannel();
    if (cq == &callback_cq_marker_) cq = ChannelAccess::CallbackCQ(channel);
    return ChannelAccess::CreateCall(
        channel, grpc::internal::RpcMethod(method.name(), method.method_type()),
        context, cq);
  }
  Member* member = Pick(*snapshot, ThreadRandom());
  const grpc::internal::RpcMethod member_method = member->MethodFor(
      method, registered_methods_.load(std::memory_order_acquire));
  if (cq == &callback_cq_marker_) {
    cq = ChannelAccess::CallbackCQ(member->channel());
  }
  return ChannelAccess::CreateCall(member->channel(), member_method, context,
                                   cq);
}

void* Pool::RegisterMethod(const char* method) {
  std::lock_guard<std::mutex> lock(methods_mu_);
  auto [it, inserted] = method_ids_.try_emplace(method, method_ids_.size());
  if (inserted) {
    registered_methods_.store(method_ids_.size(), std::memory_order_release);
  }
  if (it->second >= MethodCache::kMaxMethods) return nullptr;
  return MethodIdToTag(it->second);
}

grpc_connectivity_state Pool::GetState(bool try_to_connect) {
  if (try_to_connect) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, slot] : slots_) {
      if (slot.member->state() == GRPC_CHANNEL_IDLE) {
        slot.member->channel().GetState(true);
      }
    }
  }
  return state_.load(std::memory_order_acquire);
}

void Pool::NotifyOnStateChange(grpc_connectivity_state last_observed,
                               gpr_timespec deadline, grpc::CompletionQueue* cq,
                               void* tag) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_signal_ == nullptr) {
    state_signal_ =
        grpc::CreateChannel(kSignalTarget, grpc::InsecureChannelCredentials());
  }
  // The signal channel is IDLE. Watching it from IDLE waits until it is
  // destroyed (the aggregate state changed: ok) or the deadline (not ok);
  // watching it from any other state completes at once with ok, which is
  // right when the aggregate state already differs from `last_observed`.
  const bool differs = state_.load(std::memory_order_relaxed) != last_observed;
  state_signal_->NotifyOnStateChange(
      differs ? GRPC_CHANNEL_SHUTDOWN : GRPC_CHANNEL_IDLE, deadline, cq, tag);
}

bool Pool::WaitForStateChange(grpc_connectivity_state last_observed,
                              gpr_timespec deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto changed = [&] {
    return state_.load(std::memory_order_relaxed) != last_observed;
  };
  deadline = gpr_convert_clock_type(deadline, GPR_CLOCK_REALTIME);
  if (gpr_time_cmp(deadline, gpr_inf_future(GPR_CLOCK_REALTIME)) == 0) {
    state_changed_.wait(lock, changed);
    return true;
  }
  return state_changed_.wait_until(lock, grpc::Timespec2Timepoint(deadline),
                                   changed);
}

namespace {

// Rewrites the status of calls on the unresolved channel to say why there
// was nowhere to send them.
class UnresolvedInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit UnresolvedInterceptor(std::shared_ptr<UnresolvedReason> reason)
      : reason_(std::move(reason)) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_STATUS)) {
      grpc::Status* status = methods->GetRecvStatus();
      if (status->error_code() == grpc::StatusCode::UNAVAILABLE) {
        std::lock_guard<std::mutex> lock(reason_->mu);
        *status = grpc::Status(
            grpc::StatusCode::UNAVAILABLE,
            absl::StrCat("warm: no backend address yet: ", reason_->text));
      }
    }
    methods->Proceed();
  }

 private:
  const std::shared_ptr<UnresolvedReason> reason_;
};

class UnresolvedInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit UnresolvedInterceptorFactory(
      std::shared_ptr<UnresolvedReason> reason)
      : reason_(std::move(reason)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    // There is nothing to wait for on this channel (it never connects), and
    // a call made now would not move to the members once they exist: fail
    // at once, saying why, even with wait_for_ready. The flags are read
    // when the call starts, after its interceptors are created.
    info->client_context()->set_wait_for_ready(false);
    return new UnresolvedInterceptor(reason_);
  }

 private:
  const std::shared_ptr<UnresolvedReason> reason_;
};

}  // namespace

grpc::Channel& Pool::UnresolvedChannel() {
  std::call_once(unresolved_once_, [this] {
    std::vector<
        std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        factories;
    // Its calls count as the channel's (they fail: exactly what an operator
    // looks for), on a load of their own, never picked.
    factories.push_back(std::make_unique<LoadInterceptorFactory>(
        std::make_shared<MemberLoad>(call_stats_),
        std::make_shared<MethodCache>()));
    factories.push_back(
        std::make_unique<UnresolvedInterceptorFactory>(unresolved_reason_));
    // The user's interceptors see these calls too.
    for (size_t i = 0; i < config_.interceptors->size(); ++i) {
      factories.push_back(
          std::make_unique<SharedInterceptorFactory>(config_.interceptors, i));
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    unresolved_channel_ =
        grpc::experimental::CreateCustomChannelWithInterceptors(
            kUnresolvedTarget, grpc::InsecureChannelCredentials(), args,
            std::move(factories));
  });
  return *unresolved_channel_;
}

std::chrono::system_clock::time_point ToSystem(SteadyTime t) {
  if (t == SteadyTime{}) return {};
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             t - std::chrono::steady_clock::now());
}

std::vector<MemberInfo> Pool::Members() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<MemberInfo> out;
  out.reserve(slots_.size());
  for (const auto& [id, slot] : slots_) {
    const Member& member = *slot.member;
    const PoolState::MemberRecord& record = decisions_.members().at(id);
    const CallCounts counts = member.load().Counts();
    MemberInfo info;
    info.id = id;
    info.address = member.address().display;
    info.state = record.connectivity;
    info.pickable = decisions_.TierOf(record) == PoolState::Tier::kPickable;
    info.in_flight = counts.in_flight;
    info.calls_started = counts.started;
    info.calls_finished_by_code.assign(counts.finished.begin(),
                                       counts.finished.end());
    info.opened_at = member.opened_at();
    info.latency_ewma = std::chrono::microseconds(
        member.load().latency_ewma_us.load(std::memory_order_relaxed));
    info.latency_buckets.assign(counts.latency_buckets.begin(),
                                counts.latency_buckets.end());
    for (int64_t bound : MemberLoad::kLatencyBoundsUs) {
      info.latency_bucket_bounds.emplace_back(bound);
    }
    info.latency_p50 = std::chrono::microseconds(
        std::max<int64_t>(0, LatencyQuantileUs(counts.latency_buckets, 0.5)));
    info.latency_p99 = std::chrono::microseconds(
        std::max<int64_t>(0, LatencyQuantileUs(counts.latency_buckets, 0.99)));
    info.health = record.health;
    info.last_check = record.last_check;
    info.last_check_at = ToSystem(record.last_check_at);
    info.ejected = record.ejected;
    info.ejected_until = record.ejected
                             ? ToSystem(record.ejected_until)
                             : std::chrono::system_clock::time_point{};
    info.times_ejected = record.times_ejected;
    out.push_back(std::move(info));
  }
  return out;
}

ResolutionInfo Pool::Resolution() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ResolutionLocked();
}

ResolutionInfo Pool::ResolutionLocked() const {
  ResolutionInfo info;
  info.dns = config_.resolver != nullptr;
  if (!info.dns) {
    for (const PoolState::AddressRecord& record : decisions_.addresses()) {
      ResolvedAddressInfo address;
      address.address = record.address.display;
      info.addresses.push_back(std::move(address));
    }
    return info;
  }
  info.dns_server = config_.dns_server;
  info.host = config_.dns_host;
  info.port = config_.dns_port;
  for (const DnsRefresh::Known& known : dns_.known()) {
    ResolvedAddressInfo address;
    address.address = known.resolved.address.display;
    address.ttl = known.resolved.ttl;
    address.expires_at = ToSystem(known.expires_at);
    info.addresses.push_back(std::move(address));
  }
  for (const PoolState::AddressRecord& record : decisions_.addresses()) {
    if (!record.stale) continue;
    ResolvedAddressInfo address;
    address.address = record.address.display;
    address.stale = true;
    info.addresses.push_back(std::move(address));
  }
  info.last_answer_at = ToSystem(dns_.last_answer_at());
  info.last_error =
      dns_.last_error().ok() ? "" : std::string(dns_.last_error().ToString());
  info.last_error_at = ToSystem(dns_.last_error_at());
  info.failures_in_a_row = dns_.failures();
  info.next_refresh_at = ToSystem(dns_.next_refresh());
  info.resolutions_ok = dns_.resolutions_ok();
  info.resolutions_failed = dns_.resolutions_failed();
  return info;
}

ChannelHealth Pool::Health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return decisions_.health();
}

PoolEvent Pool::ToPublic(const PoolState::Event& event) const {
  PoolEvent out;
  out.time = ToSystem(event.time);
  out.kind = event.kind;
  out.member_id = event.member_id;
  out.address = event.address;
  out.detail = event.detail;
  return out;
}

std::vector<PoolEvent> Pool::Events() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PoolEvent> out;
  for (const PoolState::Event& event : decisions_.events()) {
    out.push_back(ToPublic(event));
  }
  return out;
}

void Pool::Shutdown() {
  if (registry_id_ != 0) ChannelRegistry::Get().Remove(registry_id_);
  std::unique_lock<std::mutex> lock(mu_);
  shutdown_ = true;
  shutting_down_.store(true, std::memory_order_release);
  // A health report may be running on the worker; wait for it, unless this
  // is that report (the callback destroyed the channel).
  if (!Worker::Get().OnWorkerThread()) {
    deferred_done_.wait(lock, [&] { return deferred_running_ == 0; });
  }
  // Members go (see CloseMemberLocked); checks and timers are cancelled.
  std::vector<uint64_t> ids;
  for (const auto& [id, slot] : slots_) ids.push_back(id);
  for (uint64_t id : ids) CloseMemberLocked(id);
  timer_.reset();
  dns_timer_.reset();
  tls_timer_.reset();
  RefreshLocked();  // publishes an empty picker; SHUTDOWN completes watches
  // No reader is left: the warm channel is being destroyed, and a caller
  // inside CreateCall() would be holding it.
  picker_.Reclaim();
}

}  // namespace internal
}  // namespace warm
