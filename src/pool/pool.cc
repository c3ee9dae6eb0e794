#include "src/pool/pool.h"

#include <grpcpp/create_channel.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>

#include "absl/strings/str_cat.h"
#include "src/call/forwarded_call.h"
#include "src/call/load_interceptor.h"
#include "src/call/private_access.h"
#include "src/common/events.h"
#include "src/common/options.h"
#include "src/common/worker.h"
#include "src/diagnostics/registry.h"

namespace warm {
namespace internal {
namespace {

// How soon to retry freeing retired picker snapshots that a reader still held.
constexpr auto kReclaimRetry = std::chrono::milliseconds(20);

// Member state watches are renewed this often even when nothing changes, so
// that a watch never pins a channel gRPC could not shut down for long.
constexpr auto kMemberWatchRenew = std::chrono::minutes(5);

// How long Release() waits for the pool's last holder.
constexpr auto kReleaseWait = std::chrono::seconds(5);

bool HasArg(const grpc::ChannelArguments& args, const char* key) {
  const grpc_channel_args c_args = args.c_channel_args();
  for (size_t i = 0; i < c_args.num_args; ++i) {
    if (std::strcmp(c_args.args[i].key, key) == 0) return true;
  }
  return false;
}

std::shared_ptr<const SharedInterceptorFactory::Factories> TakeInterceptors(
    ChannelOptions& options) {
  return std::make_shared<const SharedInterceptorFactory::Factories>(
      std::move(options.interceptors));
}

grpc::ChannelArguments MemberArgs(const Pool::Config& config) {
  grpc::ChannelArguments args = config.options.channel_args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Members connect to addresses, but a DNS target's calls carry its name
  // as :authority, as a plain gRPC channel's do, and TLS checks the servers'
  // certificates against it (unless the user set an authority).
  if (config.resolver != nullptr &&
      !HasArg(args, GRPC_ARG_DEFAULT_AUTHORITY)) {
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY,
                   absl::StrCat(config.parsed.host, ":", config.parsed.port));
  }
  // Keepalive (LivenessOptions): the user's own arguments win. Values equal
  // to gRPC's client defaults (timeout 20 s, no pings without calls) are
  // left out: every channel argument costs each member about 0.5 KiB, in
  // the copies gRPC keeps of them.
  const LivenessOptions& liveness = config.options.liveness;
  if (liveness.keepalive_time.count() > 0) {
    auto set_default = [&args](const char* key, int64_t value) {
      if (!HasArg(args, key)) args.SetInt(key, static_cast<int>(value));
    };
    set_default(GRPC_ARG_KEEPALIVE_TIME_MS, liveness.keepalive_time.count());
    if (liveness.keepalive_timeout != std::chrono::seconds(20)) {
      set_default(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                  liveness.keepalive_timeout.count());
    }
    // gRPC's default 2 would stop the pings on a quiet Watch stream.
    set_default(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  if (config.options.tls.has_value() &&
      !config.options.tls->server_name_override.empty()) {
    args.SetSslTargetNameOverride(config.options.tls->server_name_override);
  }
  return args;
}

Pool::Config WithDefaults(Pool::Config config) {
  if (config.scheduler == nullptr) config.scheduler = Worker::Shared();
  if (!config.create_channel) {
    config.create_channel = [](const std::string& target,
                               const std::shared_ptr<grpc::ChannelCredentials>&
                                   credentials,
                               const grpc::ChannelArguments& args,
                               auto interceptors) {
      return grpc::experimental::CreateCustomChannelWithInterceptors(
          target, credentials, args, std::move(interceptors));
    };
  }
  if (!config.start_health_watch) {
    config.start_health_watch = StartHealthWatch;
  }
  if (!config.start_health_check) {
    config.start_health_check = StartUnaryHealthCheck;
  }
  if (config.seed == 0) config.seed = std::random_device()() | 1;
  if (config.options.name.empty()) config.options.name = config.target;
  return config;
}

// The pool's decision parameters from valid options (minimums capped at
// the smallest pool size).
PoolPolicy PolicyFromOptions(const ChannelOptions& options) {
  PoolPolicy policy;
  policy.pool_size = StartPoolSize(options);
  policy.min_pool_size = MinPoolSize(options);
  policy.max_pool_size = MaxPoolSize(options);
  const PoolSizingOptions& sizing = options.pool_sizing;
  policy.grow_above = sizing.grow_above;
  policy.shrink_below = sizing.shrink_below;
  policy.load_smoothing = sizing.smoothing;
  policy.shrink_window = sizing.shrink_window;
  const SubsettingOptions& subsetting = options.subsetting;
  policy.subset.mode = subsetting.client_count > 0
                           ? SubsetPolicy::Mode::kDeterministic
                           : SubsetPolicy::Mode::kRendezvous;
  policy.subset.client_index = subsetting.client_index;
  policy.subset.client_count = subsetting.client_count;
  policy.subset.seed = subsetting.seed;
  policy.health_checks = options.health_check.enabled;
  policy.unhealthy_threshold = options.health_check.unhealthy_threshold;
  policy.healthy_threshold = options.health_check.healthy_threshold;
  policy.healthy_min = std::min(options.healthy_min, policy.min_pool_size);
  policy.critical_min = std::min(options.critical_min, policy.min_pool_size);
  policy.ejection = options.outlier_ejection.enabled;
  policy.base_ejection = options.outlier_ejection.base_ejection_time;
  policy.max_ejection = options.outlier_ejection.max_ejection_time;
  policy.uneject_on_health_check =
      options.outlier_ejection.uneject_on_health_check;
  policy.event_log_size = static_cast<size_t>(options.event_log_size);
  // Three checks' worth (interval + timeout each), at least 1 s; without
  // checks, 30 s to connect.
  policy.replacement_timeout =
      options.health_check.enabled
          ? std::max<Nanos>(std::chrono::seconds(1),
                            3 * (options.health_check.interval +
                                 options.health_check.timeout))
          : Nanos(std::chrono::seconds(30));
  return policy;
}

DnsRefreshPolicy DnsPolicy(const ChannelOptions& options) {
  DnsRefreshPolicy policy;
  policy.min_refresh = options.dns.min_refresh;
  policy.max_refresh = options.dns.max_refresh;
  return policy;
}

int64_t StallTimeoutUs(const LivenessOptions& liveness) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             liveness.stall_timeout)
      .count();
}

MemberChecks::Options CheckOptions(const ChannelOptions& options) {
  MemberChecks::Options out;
  out.enabled = options.health_check.enabled;
  out.service = options.health_check.service;
  out.watch = options.health_check.watch;
  out.interval = options.health_check.interval;
  out.no_traffic_interval = options.health_check.no_traffic_interval;
  out.timeout = options.health_check.timeout;
  out.probe_timeout = options.liveness.probe_timeout;
  return out;
}

// Outlier reports: status codes that count (bit per code).
uint32_t FailureCodes(const OutlierEjectionOptions& options) {
  uint32_t codes = 1u << grpc::StatusCode::UNAVAILABLE;
  for (grpc::StatusCode code : options.failure_codes) {
    if (code != grpc::StatusCode::OK) codes |= 1u << code;
  }
  return codes;
}

}  // namespace

// The pool's lock for handling one input: taken when the Section begins;
// when it ends the lock is released, and then the work that must run without
// it (log lines, the user's health callback) runs.
class ABSL_SCOPED_LOCKABLE Pool::Section {
 public:
  explicit Section(Pool* pool) ABSL_EXCLUSIVE_LOCK_FUNCTION(pool->mu_)
      : pool_(*pool) {
    pool_.mu_.Lock();
  }
  ~Section() ABSL_UNLOCK_FUNCTION() {
    std::vector<std::pair<LogSeverity, std::string>> log;
    log.swap(pool_.pending_log_);
    std::optional<ChannelHealth> health;
    health.swap(pool_.pending_health_);
    const bool work = !log.empty() || health.has_value();
    if (work) ++pool_.sections_running_;
    pool_.mu_.Unlock();
    if (!work) return;
    for (const auto& [severity, line] : log) Log(severity, line);
    // No health report once Shutdown() began: the user may be destroying
    // what the callback uses. Shutdown() waits for a report already running.
    const auto& report = pool_.config_.options.on_health_change;
    if (health.has_value() && report &&
        !pool_.shutting_down_.load(std::memory_order_acquire)) {
      report(*health);
    }
    MutexLock lock(&pool_.mu_);
    if (--pool_.sections_running_ == 0) pool_.sections_done_.NotifyAll();
  }
  Section(const Section&) = delete;
  Section& operator=(const Section&) = delete;

 private:
  Pool& pool_;
};

template <typename Fn>
auto Pool::Weakly(Fn fn) {
  return [weak = weak_from_this(), fn = std::move(fn)](auto&&... args) {
    if (std::shared_ptr<Pool> pool = weak.lock()) {
      fn(*pool, std::forward<decltype(args)>(args)...);
    }
  };
}

Pool::Pool(Config config, std::optional<TlsMaterial> tls_material)
    : interceptors_(TakeInterceptors(config.options)),
      config_(WithDefaults(std::move(config))),
      scheduler_(*config_.scheduler),
      created_at_(scheduler_.Now()),
      call_stats_(std::make_shared<CallStats>()),
      method_stats_(
          std::make_shared<MethodStats>(config_.options.metrics_max_methods)),
      member_args_(MemberArgs(config_)),
      gone_(std::make_shared<Gone>()),
      unresolved_("resolving " + config_.parsed.host, call_stats_,
                  method_stats_, interceptors_),
      // `this` outlives every Forward: Shutdown() shuts the holder first.
      holder_(
          [this](const std::string& method, grpc::ClientContext* context,
                 CallHolder::Reactor* reactor) {
            return StartForwarded(method, context, reactor);
          },
          call_stats_, method_stats_, interceptors_),
      picker_(std::make_unique<PickerSnapshot>()),
      decisions_(PolicyFromOptions(config_.options), config_.parsed.addresses,
                 config_.seed),
      dns_(DnsPolicy(config_.options), config_.seed + 1),
      credentials_(config_.credentials) {
  if (tls_material.has_value()) {
    tls_.emplace(*std::move(tls_material), std::chrono::system_clock::now());
    credentials_ = MakeTlsCredentials(tls_->material());
  }
}

absl::StatusOr<std::shared_ptr<Pool>> Pool::Start(Config config) {
  std::optional<TlsMaterial> tls_material = std::move(config.tls_material);
  config.tls_material.reset();
  Pool* raw = new Pool(std::move(config), std::move(tls_material));
  // The deleter tells Release() that the last holder let go.
  std::shared_ptr<Pool> pool(raw, [gone = raw->gone_](Pool* p) {
    delete p;
    MutexLock lock(&gone->mu);
    gone->gone = true;
    gone->done.NotifyAll();
  });
  std::string rejected;
  {
    Section section(pool.get());
    // Its callbacks hold the pool weakly: made once a shared_ptr owns it.
    pool->checks_.emplace(
        CheckOptions(pool->config_.options), pool->scheduler_,
        pool->config_.start_health_check, pool->config_.start_health_watch,
        pool->Weakly([](Pool& pool, uint64_t id, MemberChecks::Input input) {
          pool.OnHealthInput(id, std::move(input));
        }),
        pool->config_.seed + 2);
    const LivenessOptions& liveness = pool->config_.options.liveness;
    if (liveness.stall_detection) {
      // Scans run on the control thread, at most four per stall_timeout.
      pool->stall_trigger_ = std::make_shared<StallTrigger>(
          StallTimeoutUs(liveness) / 4,
          [scheduler = pool->config_.scheduler,
           scan = pool->Weakly([](Pool& pool) { pool.ScanForStalls(); })] {
            scheduler->Post(scan);
          });
    }
    pool->ApplyLocked(pool->decisions_.Start(pool->scheduler_.Now()));
    // Health reports are of changes after creation (see on_health_change).
    pool->pending_health_.reset();
    rejected = pool->rejected_address_;
    if (pool->config_.resolver != nullptr) pool->ResolveLocked();
    if (pool->tls_.has_value()) pool->ArmTlsTimerLocked();
    if (pool->decisions_.dynamic_size()) pool->ArmLoadTimerLocked();
  }
  if (!rejected.empty()) {
    pool->Shutdown();
    return absl::InvalidArgumentError(
        absl::StrCat("invalid target \"", pool->target(),
                     "\": gRPC rejected address \"", rejected, "\""));
  }
  pool->registry_id_ = ChannelRegistry::Get().Add(pool);
  return pool;
}

Pool::~Pool() = default;

grpc::CompletionQueue* Pool::callback_cq_marker() {
  // Never destroyed, like the Worker's queue: nothing is ever queued on it.
  static grpc::CompletionQueue* const marker = new grpc::CompletionQueue();
  return marker;
}

void Pool::Release(std::shared_ptr<Pool> pool) {
  const bool on_control_thread = pool->scheduler_.OnControlThread();
  const std::shared_ptr<Gone> gone = pool->gone_;
  pool.reset();
  if (on_control_thread) return;
  MutexLock lock(&gone->mu);
  gone->done.WaitUntil(&gone->mu,
                       std::chrono::steady_clock::now() + kReleaseWait,
                       [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(gone->mu) {
                         return gone->gone;
                       });
}

void Pool::ApplyLocked(PoolDecisions::Actions actions) {
  for (uint64_t id : actions.close) CloseMemberLocked(id);
  for (const auto& [id, address] : actions.open) {
    OpenMemberLocked(id, decisions_.addresses()[address].address);
  }
  for (uint64_t id : actions.reset_failures) {
    auto it = slots_.find(id);
    if (it != slots_.end()) it->second.member->ResetFailures();
  }
  for (uint64_t id : actions.probe) checks_->Probe(id);
  for (const PoolDecisions::Event& event : actions.events) {
    std::string line = absl::StrCat("warm channel ", name(), ": ",
                                    PoolEventKindName(event.kind));
    if (event.member_id != 0) absl::StrAppend(&line, " #", event.member_id);
    if (!event.address.empty()) absl::StrAppend(&line, " ", event.address);
    if (!event.detail.empty()) absl::StrAppend(&line, ": ", event.detail);
    pending_log_.emplace_back(event.severity, std::move(line));
  }
  if (actions.health_changed) pending_health_ = decisions_.health();
  RefreshLocked();
  ArmTimerLocked();
}

void Pool::OpenMemberLocked(uint64_t id, const Address& address) {
  const ChannelOptions& options = config_.options;
  auto load = std::make_shared<MemberLoad>(call_stats_);
  load->pick = options.pick;
  load->stall_trigger = stall_trigger_;
  if (stall_trigger_ != nullptr) {
    load->stall_timeout_us = StallTimeoutUs(options.liveness);
    load->report_stall =
        [scheduler = config_.scheduler,
         on_control = Weakly([id](Pool& pool) { pool.OnCallTimedOut(id); })] {
          scheduler->Post(on_control);
        };
  }
  if (options.outlier_ejection.enabled) {
    load->failure_codes = FailureCodes(options.outlier_ejection);
    load->failures_to_report = options.outlier_ejection.consecutive_failures;
    // Runs on the thread that saw the call's status: hand over to the
    // control thread.
    load->report_outlier =
        [scheduler = config_.scheduler,
         on_control = Weakly([id](Pool& pool) { pool.OnOutlier(id); })] {
          scheduler->Post(on_control);
        };
  }
  auto methods = std::make_shared<MethodCache>(method_stats_);
  SharedInterceptorFactory::Factories factories;
  factories.push_back(
      std::make_unique<LoadInterceptorFactory>(load, methods, method_stats_));
  AppendUserInterceptors(interceptors_, factories);
  std::shared_ptr<grpc::Channel> channel = config_.create_channel(
      address.grpc_target, credentials_, member_args_, std::move(factories));
  // Connect now: the pool is warm before the first call.
  const grpc_connectivity_state state = scheduler_.GetState(*channel, true);
  if (state == GRPC_CHANNEL_SHUTDOWN) {
    // gRPC turns a target it cannot parse into a "lame" channel, whose state
    // reads SHUTDOWN from the start and which can never connect. ParseTarget()
    // rejects what is known to cause that (e.g. over-long Unix paths); this
    // catches whatever else gRPC may refuse.
    rejected_address_ = address.grpc_target;
  }
  // Watching from IDLE reports the state at once if it already moved on.
  WatchLocked(id, *channel, GRPC_CHANNEL_IDLE);
  checks_->Add(id, channel, load);
  Slot& slot = slots_[id];
  slot.member = std::make_shared<Member>(id, address, std::move(channel),
                                         std::move(load), std::move(methods));
  slot.latency_samples.push_back({scheduler_.Now(), {}});
  slot.tls_generation = tls_.has_value() ? tls_->generation() : 0;
}

void Pool::CloseMemberLocked(uint64_t id) {
  // A member's grpc::Channel lives on in the ClientContexts of its calls in
  // flight and closes when the last one is destroyed.
  checks_->Remove(id);
  slots_.erase(id);
}

void Pool::WatchLocked(uint64_t id, grpc::Channel& channel,
                       grpc_connectivity_state last_observed) {
  scheduler_.WatchState(
      channel, last_observed, scheduler_.Now() + kMemberWatchRenew,
      Weakly([id](Pool& pool) { pool.OnMemberStateChange(id); }));
}

void Pool::OnMemberStateChange(uint64_t id) {
  Section section(this);
  if (shutdown_) return;
  auto it = slots_.find(id);
  if (it == slots_.end()) return;
  grpc::Channel& channel = it->second.member->channel();
  // try_to_connect: an IDLE member (idle timeout, GOAWAY) reconnects now.
  const grpc_connectivity_state state = scheduler_.GetState(channel, true);
  if (state != GRPC_CHANNEL_SHUTDOWN) WatchLocked(id, channel, state);
  ApplyLocked(decisions_.OnConnectivity(id, state, scheduler_.Now()));
}

void Pool::OnHealthInput(uint64_t id, MemberChecks::Input input) {
  Section section(this);
  if (shutdown_) return;
  // Arms what comes next (the next poll, a stream reopening); should the
  // report close the member, that goes with it.
  auto member = decisions_.members().find(id);
  const bool in_use = member != decisions_.members().end() &&
                      decisions_.Healthy(member->second) &&
                      decisions_.TierOf(member->second) ==
                          PoolDecisions::Tier::kPickable;
  std::optional<MemberChecks::Report> report =
      checks_->Handle(id, std::move(input), in_use);
  if (!report.has_value()) return;
  if (report->source == CheckSource::kProbe &&
      (report->outcome != CheckOutcome::kFailed || report->answered_error)) {
    auto it = slots_.find(id);
    if (it != slots_.end()) {
      it->second.member->MarkProgress(
          SteadyMicros(std::chrono::steady_clock::now()));
    }
  }
  ApplyLocked(decisions_.OnCheck(id, report->source, report->outcome,
                                 std::move(report->detail), scheduler_.Now(),
                                 report->answered_error));
}

bool Pool::OthersUnstalledLocked(uint64_t id) const {
  const int64_t now_us = SteadyMicros(std::chrono::steady_clock::now());
  for (const auto& [other_id, slot] : slots_) {
    if (other_id != id && !slot.member->load().Stalled(now_us)) return true;
  }
  return false;
}

void Pool::OnCallTimedOut(uint64_t id) {
  Section section(this);
  if (shutdown_) return;
  // When every other member is stalled too, every backend (or this
  // client) is slow, and taking members out would not help. An idle member
  // is not stalled: with one caller the others have no calls in flight.
  if (!OthersUnstalledLocked(id)) return;
  ApplyLocked(decisions_.OnStall(
      id,
      absl::StrCat("a call timed out with no answer from the member for over ",
                   FormatDuration(config_.options.liveness.stall_timeout)),
      scheduler_.Now()));
}

void Pool::ScanForStalls() {
  Section section(this);
  if (shutdown_) return;
  // Call stamps are on the steady clock whatever the scheduler's clock.
  const int64_t now_us = SteadyMicros(std::chrono::steady_clock::now());
  std::vector<std::pair<uint64_t, int64_t>> stalled;  // (id, quiet for us)
  int progressing = 0;  // members whose calls complete
  for (const auto& [id, slot] : slots_) {
    const MemberLoad& load = slot.member->load();
    if (load.Stalled(now_us)) {
      stalled.emplace_back(id, load.QuietFor(now_us));
    } else if (now_us - load.progress_us.load(std::memory_order_relaxed) <=
               load.stall_timeout_us) {
      ++progressing;  // answered a call lately
    }
  }
  // A stall means something only while calls elsewhere complete: when
  // every member is slow, the backends (or this client) are, and taking
  // members out would not help.
  if (progressing == 0) return;
  for (const auto& [id, quiet] : stalled) {
    const int64_t in_flight = slots_.at(id).member->load().unary_in_flight.load(
        std::memory_order_relaxed);
    ApplyLocked(decisions_.OnStall(
        id,
        absl::StrCat(in_flight, " unary calls in flight, none completed for ",
                     FormatDuration(std::chrono::microseconds(quiet)),
                     " while other members' calls did"),
        scheduler_.Now()));
  }
}

void Pool::OnOutlier(uint64_t id) {
  Section section(this);
  if (shutdown_) return;
  ApplyLocked(decisions_.OnCallFailures(id, scheduler_.Now()));
}

void Pool::ArmTimerLocked() {
  if (shutdown_) return;
  const SteadyTime next = decisions_.NextDeadline();
  if (next >= timer_deadline_) return;  // an earlier or equal one is armed
  // Replacing the timer cancels the later one.
  timer_deadline_ = next;
  timer_ = scheduler_.RunAt(next, Weakly([](Pool& pool) { pool.OnTimer(); }));
}

void Pool::OnTimer() {
  Section section(this);
  if (shutdown_) return;
  timer_deadline_ = SteadyTime::max();
  ApplyLocked(decisions_.OnTimer(scheduler_.Now()));
}

void Pool::ArmLoadTimerLocked() {
  if (shutdown_) return;
  load_timer_ = scheduler_.RunAt(
      scheduler_.Now() + PoolDecisions::kLoadSampleInterval,
      Weakly([](Pool& pool) { pool.OnLoadTimer(); }));
}

void Pool::OnLoadTimer() {
  Section section(this);
  if (shutdown_) return;
  int64_t in_flight = 0;
  for (const auto& [id, tier] : published_) {
    if (tier != PoolDecisions::Tier::kPickable) continue;
    in_flight += slots_.at(id).member->load().in_flight.load(
        std::memory_order_relaxed);
  }
  ApplyLocked(decisions_.OnLoad(in_flight, scheduler_.Now()));
  ArmLoadTimerLocked();
}

void Pool::ResolveLocked() {
  dns_timer_.reset();
  // The answer arrives on the DNS thread; the pool handles it on the control
  // thread.
  auto on_control = Weakly(
      [](Pool& pool, DnsAnswer answer) { pool.OnDnsAnswer(std::move(answer)); });
  config_.resolver->Resolve(
      config_.parsed.host, config_.parsed.port,
      [scheduler = config_.scheduler,
       on_control = std::move(on_control)](DnsAnswer answer) mutable {
        scheduler->Post([on_control, answer = std::move(answer)]() mutable {
          on_control(std::move(answer));
        });
      });
}

void Pool::OnDnsAnswer(DnsAnswer answer) {
  Section section(this);
  if (shutdown_) return;
  const SteadyTime now = scheduler_.Now();
  const bool good = dns_.OnAnswer(answer, now);
  // Resolve again at the refresh time.
  dns_timer_ = scheduler_.RunAt(dns_.next_refresh(),
                                 Weakly([](Pool& pool) { pool.OnDnsTimer(); }));
  if (good) {
    ApplyLocked(decisions_.SetAddresses(dns_.addresses(), now));
    return;
  }
  unresolved_.SetReason(std::string(dns_.last_error().message()));
  const bool kept = dns_.has_answer();
  ApplyLocked(decisions_.OnResolutionFailed(
      now,
      absl::StrCat(dns_.last_error().ToString(),
                   kept ? "; keeping the last good addresses" : "",
                   "; retrying in ",
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       dns_.next_refresh() - now)
                       .count(),
                   " ms"),
      kept));
}

void Pool::OnDnsTimer() {
  MutexLock lock(&mu_);
  if (!shutdown_) ResolveLocked();
}

void Pool::ArmTlsTimerLocked() {
  if (shutdown_) return;
  tls_timer_ =
      scheduler_.RunAt(scheduler_.Now() + config_.options.tls->reload_interval,
                        Weakly([](Pool& pool) { pool.OnTlsTimer(); }));
}

void Pool::OnTlsTimer() {
  // The files are read without the pool's lock (they are small and local).
  const TlsOptions& options = *config_.options.tls;
  const std::vector<FileStamp> stamps = StampTlsFiles(options);
  bool must_chain_to_ca = false;
  {
    MutexLock lock(&mu_);
    if (shutdown_) return;
    if (!tls_->NeedsRead(stamps)) {
      ArmTlsTimerLocked();
      return;
    }
    must_chain_to_ca = tls_->must_chain_to_ca();
  }
  const WallTime now = std::chrono::system_clock::now();
  absl::StatusOr<TlsMaterial> loaded =
      LoadTlsMaterial(options, now, must_chain_to_ca);
  Section section(this);
  if (shutdown_) return;
  ArmTlsTimerLocked();
  const TlsRotation::Decision decision =
      tls_->OnRead(stamps, std::move(loaded), now);
  const SteadyTime steady_now = scheduler_.Now();
  switch (decision.kind) {
    case TlsRotation::Decision::Kind::kNone:
      return;
    case TlsRotation::Decision::Kind::kReportFailure:
      ApplyLocked(decisions_.Note(PoolEvent::Kind::kTlsReloadFailed,
                                  LogSeverity::kWarning, decision.detail,
                                  steady_now));
      return;
    case TlsRotation::Decision::Kind::kReloaded: {
      credentials_ = MakeTlsCredentials(tls_->material());
      std::vector<uint64_t> old;
      for (const auto& [id, slot] : slots_) {
        if (slot.tls_generation < tls_->generation()) old.push_back(id);
      }
      PoolDecisions::Actions actions = decisions_.Note(
          PoolEvent::Kind::kTlsReloaded, LogSeverity::kInfo,
          absl::StrCat(decision.detail, "; recycling ", old.size(),
                       " members one at a time"),
          steady_now);
      actions.Append(decisions_.Recycle(old, steady_now));
      ApplyLocked(std::move(actions));
      return;
    }
  }
}

void Pool::RefreshLocked() {
  auto next = std::make_unique<PickerSnapshot>();
  next->pick = config_.options.pick;
  std::vector<std::pair<uint64_t, PoolDecisions::Tier>> key;
  for (const auto& [id, slot] : slots_) {
    const PoolDecisions::Tier tier =
        decisions_.TierOf(decisions_.members().at(id));
    key.emplace_back(id, tier);
    next->all.push_back(slot.member);
    if (tier == PoolDecisions::Tier::kPickable) {
      next->ready.push_back(slot.member);
    }
    if (tier == PoolDecisions::Tier::kTrying) {
      next->trying.push_back(slot.member);
    }
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
    const bool pickable = !next->ready.empty();
    if (picker_.Publish(std::move(next))) ReclaimLocked();
    // Held wait_for_ready calls go on, outside mu_ (a leg is created there).
    // A call held after this reads the new snapshot itself (CallHolder).
    if (pickable && !shutdown_) {
      scheduler_.Post(Weakly([](Pool& pool) { pool.holder_.Wake(); }));
    }
  }
  watchers_.Set(state);
}

void Pool::ReclaimLocked() {
  if (reclaim_timer_ != nullptr || shutdown_) return;
  reclaim_timer_ = scheduler_.RunAt(
      scheduler_.Now() + kReclaimRetry, Weakly([](Pool& pool) {
        MutexLock lock(&pool.mu_);
        pool.reclaim_timer_.reset();
        if (pool.picker_.Reclaim()) pool.ReclaimLocked();
      }));
}

grpc::internal::Call Pool::CreateCall(const grpc::internal::RpcMethod& method,
                                      grpc::ClientContext* context,
                                      grpc::CompletionQueue* cq) {
  // The read section spans the member's CreateCall: the snapshot keeps the
  // member alive until the new call's ClientContext holds its channel.
  SnapshotCell<PickerSnapshot>::Reader snapshot(picker_);
  if (snapshot->ready.empty() && ContextAccess::WaitForReady(*context)) {
    // Nothing pickable: the call waits in the holder for a member that is.
    return CreateCallOff(holder_.channel(), method, context, cq);
  }
  if (snapshot->all.empty()) {
    // No member yet (DNS not answered) or any more (shut down).
    return CreateCallOff(unresolved_.channel(), method, context, cq);
  }
  Member* member = Pick(*snapshot, ThreadRandom());
  MethodSlot* slot = nullptr;
  const grpc::internal::RpcMethod member_method =
      member->MethodFor(method, methods_.size(), &slot);
  if (cq == callback_cq_marker()) {
    cq = ChannelAccess::CallbackCQ(member->channel());
  }
  // The call's per-method counters, for its load interceptor.
  const CallSlotScope call_slot(slot);
  return ChannelAccess::CreateCall(member->channel(), member_method, context,
                                   cq);
}

grpc::internal::Call Pool::CreateCallOff(
    grpc::Channel& channel, const grpc::internal::RpcMethod& method,
    grpc::ClientContext* context, grpc::CompletionQueue* cq) {
  if (cq == callback_cq_marker()) cq = ChannelAccess::CallbackCQ(channel);
  const CallSlotScope no_slot(nullptr);  // found by name
  // The method's tag, if registered, is the warm channel's, not this one's.
  return ChannelAccess::CreateCall(
      channel, grpc::internal::RpcMethod(method.name(), method.method_type()),
      context, cq);
}

bool Pool::StartForwarded(const std::string& method,
                          grpc::ClientContext* context,
                          CallHolder::Reactor* reactor) {
  // As in CreateCall, the read section spans the leg's creation.
  SnapshotCell<PickerSnapshot>::Reader snapshot(picker_);
  if (snapshot->ready.empty()) return false;
  Member* member = Pick(*snapshot, ThreadRandom());
  const ForwardedCallScope forwarded;  // counted on its first leg
  // `method` is the held call's, which outlives the leg (call_holder.cc).
  grpc::internal::ClientCallbackReaderWriterFactory<
      grpc::ByteBuffer, grpc::ByteBuffer>::
      Create(&member->channel(),
             grpc::internal::RpcMethod(
                 method.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING),
             context, reactor);
  return true;
}

grpc_connectivity_state Pool::GetState(bool try_to_connect) {
  if (try_to_connect) {
    MutexLock lock(&mu_);
    for (const auto& [id, slot] : slots_) {
      if (decisions_.members().at(id).connectivity == GRPC_CHANNEL_IDLE) {
        scheduler_.GetState(slot.member->channel(), true);
      }
    }
  }
  return watchers_.Get();
}

ChannelHealth Pool::Health() const {
  MutexLock lock(&mu_);
  return decisions_.health();
}

void Pool::Shutdown() {
  if (registry_id_ != 0) ChannelRegistry::Get().Remove(registry_id_);
  // Held calls fail now, and no Forward runs after this.
  holder_.Shutdown();
  MutexLock lock(&mu_);
  shutdown_ = true;
  shutting_down_.store(true, std::memory_order_release);
  // A health report may be running on the control thread; wait for it,
  // unless this is that report (the callback destroyed the channel).
  if (!scheduler_.OnControlThread()) {
    sections_done_.Wait(&mu_, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return sections_running_ == 0;
    });
  }
  // Members go (see CloseMemberLocked); checks and timers are cancelled.
  checks_->Clear();
  slots_.clear();
  timer_.reset();
  dns_timer_.reset();
  tls_timer_.reset();
  load_timer_.reset();
  reclaim_timer_.reset();
  RefreshLocked();  // publishes an empty picker; SHUTDOWN completes watches
  // No reader is left: the warm channel is being destroyed, and a caller
  // inside CreateCall() would be holding it.
  picker_.Reclaim();
}

}  // namespace internal
}  // namespace warm
