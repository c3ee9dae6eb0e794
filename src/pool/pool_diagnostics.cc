// Pool::FillSnapshot(): what the diagnostics page, JSON and metrics show of
// one pool, read under the pool's mutex so that it is one consistent picture.

#include <algorithm>
#include <chrono>

#include "src/common/events.h"
#include "src/pool/pool.h"
#include "warm/diagnostics/v1/diagnostics.pb.h"

namespace warm {
namespace internal {
namespace {

namespace pb = ::warm::diagnostics::v1;

// "Recent" latency: calls since the newest sample at least kRecentWindow
// old (or the oldest, for younger members). A sample is added when a
// snapshot is taken and the newest is kSampleEvery old, so nothing runs
// while nobody looks; read at least every 10 s (a page refreshing, a
// scrape) the window reaches 60-70 s back, read less often it reaches back
// to an earlier look. recent_window_ms says how far it reaches.
constexpr std::chrono::seconds kRecentWindow{60};
constexpr std::chrono::seconds kSampleEvery{10};

int64_t UnixMs(std::chrono::system_clock::time_point t) {
  if (t == std::chrono::system_clock::time_point{}) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             t.time_since_epoch())
      .count();
}

int64_t UnixMs(SteadyTime t) { return UnixMs(ToSystem(t)); }

double Ms(int64_t us) { return us < 0 ? -1 : static_cast<double>(us) / 1000; }

template <typename Counts>
void AddCodeCounts(const Counts& finished,
                   google::protobuf::RepeatedPtrField<pb::CodeCount>& out) {
  for (size_t code = 0; code < finished.size(); ++code) {
    if (finished[code] == 0) continue;
    pb::CodeCount* count = out.Add();
    count->set_code(std::string(StatusCodeName(static_cast<int>(code))));
    count->set_count(finished[code]);
  }
}

// One word for a member: see warm.diagnostics.v1.Member.state.
const char* MemberStateWord(const PoolState& decisions,
                            const PoolState::MemberRecord& record) {
  if (record.ejected) return "ejected";
  if (decisions.addresses()[record.address].stale) return "draining";
  if (decisions.Healthy(record)) return "healthy";
  if (record.health == MemberHealth::kUnhealthy ||
      record.connectivity == GRPC_CHANNEL_TRANSIENT_FAILURE ||
      record.connectivity == GRPC_CHANNEL_SHUTDOWN) {
    return "unhealthy";
  }
  return "starting";
}

}  // namespace

bool Pool::FillSnapshot(pb::Channel& out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return false;
  // After the lock: no member is younger than `now`.
  const SteadyTime now = std::chrono::steady_clock::now();

  out.set_name(config_.name);
  out.set_target(config_.target);
  out.set_created_unix_ms(UnixMs(created_at_));
  out.set_connectivity(std::string(
      ConnectivityStateName(state_.load(std::memory_order_acquire))));
  const ChannelHealth health = decisions_.health();
  out.set_status(std::string(ChannelStatusName(health.status)));
  out.set_degraded(decisions_.degraded());
  out.set_pool_size(config_.pool_size);
  out.set_healthy_members(health.healthy_members);
  out.set_healthy_min(health.healthy_min);
  out.set_critical_min(health.critical_min);
  out.set_health_checks(decisions_.policy().health_checks);

  const ResolutionInfo resolution = ResolutionLocked();
  pb::Resolution& dns = *out.mutable_resolution();
  dns.set_dns(resolution.dns);
  dns.set_dns_server(resolution.dns_server);
  dns.set_host(resolution.host);
  dns.set_port(resolution.port);
  dns.set_last_answer_unix_ms(UnixMs(resolution.last_answer_at));
  dns.set_last_error(resolution.last_error);
  dns.set_last_error_unix_ms(UnixMs(resolution.last_error_at));
  dns.set_failures_in_a_row(resolution.failures_in_a_row);
  dns.set_next_refresh_unix_ms(UnixMs(resolution.next_refresh_at));

  for (const PoolState::AddressRecord& record : decisions_.addresses()) {
    pb::Address& address = *out.add_addresses();
    address.set_address(record.address.display);
    for (const ResolvedAddressInfo& resolved : resolution.addresses) {
      if (resolved.address != record.address.display || resolved.stale) {
        continue;
      }
      address.set_ttl_seconds(resolved.ttl.count());
      address.set_expires_unix_ms(UnixMs(resolved.expires_at));
    }
    address.set_stale(record.stale);
    address.set_members(record.members);
    address.set_evictions_in_a_row(record.failures);
    if (record.retry_at > now) {
      address.set_backoff_until_unix_ms(UnixMs(record.retry_at));
    }
    address.set_last_error(record.last_error);
    address.set_last_error_unix_ms(UnixMs(record.last_error_at));
  }

  for (auto& [id, slot] : slots_) {
    const PoolState::MemberRecord& record = decisions_.members().at(id);
    const MemberLoad& load = slot.member->load();
    const CallCounts counts = load.Counts();
    pb::Member& member = *out.add_members();
    member.set_id(id);
    member.set_address(slot.member->address().display);
    member.set_connectivity(
        std::string(ConnectivityStateName(record.connectivity)));
    member.set_health(std::string(MemberHealthName(record.health)));
    member.set_state(MemberStateWord(decisions_, record));
    member.set_pickable(decisions_.TierOf(record) ==
                        PoolState::Tier::kPickable);
    member.set_last_check(record.last_check);
    member.set_last_check_unix_ms(UnixMs(record.last_check_at));
    member.set_opened_unix_ms(UnixMs(slot.member->opened_at()));
    member.set_in_flight(counts.in_flight);
    member.set_calls_started(counts.started);
    AddCodeCounts(counts.finished, *member.mutable_calls_finished());
    member.set_latency_ewma_ms(
        Ms(load.latency_ewma_us.load(std::memory_order_relaxed)));

    std::deque<LatencySample>& samples = slot.latency_samples;
    if (now - samples.back().at >= kSampleEvery) {
      samples.push_back({now, counts.latency_buckets});
    }
    while (samples.size() >= 2 && now - samples[1].at >= kRecentWindow) {
      samples.pop_front();
    }
    std::array<uint64_t, MemberLoad::kLatencyBuckets> recent{};
    uint64_t recent_calls = 0;
    for (size_t i = 0; i < recent.size(); ++i) {
      recent[i] = counts.latency_buckets[i] - samples.front().buckets[i];
      recent_calls += recent[i];
    }
    member.set_recent_p50_ms(Ms(LatencyQuantileUs(recent, 0.5)));
    member.set_recent_p99_ms(Ms(LatencyQuantileUs(recent, 0.99)));
    member.set_recent_calls(recent_calls);
    member.set_recent_window_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            now - samples.front().at)
            .count());
    member.set_p50_ms(Ms(LatencyQuantileUs(counts.latency_buckets, 0.5)));
    member.set_p99_ms(Ms(LatencyQuantileUs(counts.latency_buckets, 0.99)));

    member.set_ejected(record.ejected);
    if (record.ejected) {
      member.set_ejected_until_unix_ms(UnixMs(record.ejected_until));
    }
    member.set_times_ejected(record.times_ejected);
    member.set_old_tls_material(slot.tls_generation < tls_generation_);
  }

  if (tls_material_.has_value()) {
    const TlsOptions& options = *config_.tls;
    pb::Tls& tls = *out.mutable_tls();
    tls.set_ca_file(options.ca_file);
    tls.set_cert_file(options.cert_file);
    tls.set_key_file(options.key_file);
    tls.set_server_name_override(options.server_name_override);
    tls.set_subject(tls_material_->subject);
    tls.set_issuer(tls_material_->issuer);
    tls.set_not_before_unix_ms(UnixMs(tls_material_->not_before));
    tls.set_not_after_unix_ms(UnixMs(tls_material_->not_after));
    tls.set_reload_interval_ms(options.reload_interval.count());
    tls.set_loaded_unix_ms(UnixMs(tls_last_reload_at_));
    tls.set_reloads_ok(tls_reloads_ok_);
    tls.set_reloads_failed(tls_reloads_failed_);
    tls.set_last_error(tls_last_error_);
    tls.set_last_error_unix_ms(UnixMs(tls_last_error_at_));
    int old = 0;
    for (const auto& [id, slot] : slots_) {
      old += slot.tls_generation < tls_generation_;
    }
    tls.set_members_on_old_material(old);
  }

  for (const PoolState::Event& event : decisions_.events()) {
    pb::Event& out_event = *out.add_events();
    out_event.set_time_unix_ms(UnixMs(event.time));
    out_event.set_kind(std::string(PoolEventKindName(event.kind)));
    out_event.set_severity(event.severity == LogSeverity::kWarning ? "warning"
                                                                   : "info");
    out_event.set_member_id(event.member_id);
    out_event.set_address(event.address);
    out_event.set_detail(event.detail);
  }

  const CallCounts calls = call_stats_->Total();
  pb::Counters& counters = *out.mutable_counters();
  counters.set_in_flight(calls.in_flight);
  counters.set_closed_members(calls.retired);
  counters.set_calls_started(calls.started);
  AddCodeCounts(calls.finished, *counters.mutable_calls_finished());
  pb::Histogram& duration = *counters.mutable_call_duration();
  for (int64_t bound : MemberLoad::kLatencyBoundsUs) {
    duration.add_bounds_seconds(static_cast<double>(bound) / 1e6);
  }
  for (uint64_t count : calls.latency_buckets) duration.add_counts(count);
  duration.set_sum_us(calls.latency_sum_us);
  counters.set_dns_resolutions_ok(resolution.resolutions_ok);
  counters.set_dns_resolutions_failed(resolution.resolutions_failed);
  const PoolState::Counters& pool = decisions_.counters();
  auto check = [&](CheckOutcome outcome) {
    return pool.checks[static_cast<size_t>(outcome)];
  };
  counters.set_health_checks_serving(check(CheckOutcome::kServing));
  counters.set_health_checks_not_serving(check(CheckOutcome::kNotServing));
  counters.set_health_checks_unimplemented(check(CheckOutcome::kUnimplemented));
  counters.set_health_checks_failed(check(CheckOutcome::kFailed));
  auto evictions = [&](EvictionReason reason) {
    return pool.evictions[static_cast<size_t>(reason)];
  };
  counters.set_evictions_unhealthy(evictions(EvictionReason::kUnhealthy));
  counters.set_evictions_rebalanced(evictions(EvictionReason::kRebalanced));
  counters.set_evictions_address_removed(
      evictions(EvictionReason::kAddressRemoved));
  counters.set_evictions_recycled(evictions(EvictionReason::kRecycled));
  counters.set_ejections(pool.ejections);
  return true;
}

}  // namespace internal
}  // namespace warm
