#include "src/diagnostics/channel_snapshot.h"

#include <chrono>
#include <string>

#include "src/common/events.h"

namespace warm {
namespace internal {
namespace {

namespace pb = ::warm::diagnostics::v1;

int64_t UnixMs(WallTime t) {
  if (t == WallTime{}) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             t.time_since_epoch())
      .count();
}

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

void FillHistogram(
    const std::array<uint64_t, MemberLoad::kLatencyBuckets>& buckets,
    uint64_t sum_us, pb::Histogram& out) {
  for (int64_t bound : MemberLoad::kLatencyBoundsUs) {
    out.add_bounds_seconds(static_cast<double>(bound) / 1e6);
  }
  for (uint64_t count : buckets) out.add_counts(count);
  out.set_sum_us(sum_us);
}

void FillMember(const PoolView::Member& view, pb::Member& member) {
  const MemberInfo& info = view.info;
  member.set_id(info.id);
  member.set_address(info.address);
  member.set_connectivity(std::string(ConnectivityStateName(info.state)));
  member.set_health(std::string(MemberHealthName(info.health)));
  member.set_state(std::string(view.state_word));
  member.set_pickable(info.pickable);
  member.set_last_check(info.last_check);
  member.set_last_check_unix_ms(UnixMs(info.last_check_at));
  member.set_opened_unix_ms(UnixMs(info.opened_at));
  member.set_in_flight(info.in_flight);
  member.set_calls_started(info.calls_started);
  AddCodeCounts(info.calls_finished_by_code, *member.mutable_calls_finished());
  member.set_latency_ewma_ms(view.latency_ewma_ms);
  member.set_recent_p50_ms(Ms(view.recent_p50_us));
  member.set_recent_p99_ms(Ms(view.recent_p99_us));
  member.set_recent_calls(view.recent_calls);
  member.set_recent_window_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(view.recent_window)
          .count());
  uint64_t with_latency = 0;
  for (uint64_t n : info.latency_buckets) with_latency += n;
  member.set_p50_ms(with_latency == 0 ? -1 : Ms(info.latency_p50.count()));
  member.set_p99_ms(with_latency == 0 ? -1 : Ms(info.latency_p99.count()));
  member.set_ejected(info.ejected);
  if (info.ejected) {
    member.set_ejected_until_unix_ms(UnixMs(info.ejected_until));
  }
  member.set_times_ejected(info.times_ejected);
  member.set_suspected(info.suspected);
  member.set_health_mode(info.health_mode);
  member.set_old_tls_material(view.old_tls_material);
}

}  // namespace

void FillChannel(const PoolView& view, pb::Channel& out) {
  out.set_name(view.name);
  out.set_target(view.target);
  out.set_created_unix_ms(UnixMs(view.created_at));
  out.set_connectivity(std::string(ConnectivityStateName(view.connectivity)));
  out.set_status(std::string(ChannelStatusName(view.health.status)));
  out.set_degraded(view.degraded);
  out.set_pool_size(view.pool_size);
  out.set_pool_size_min(view.pool_size_min);
  out.set_pool_size_max(view.pool_size_max);
  out.set_pool_load(view.pool_load);
  out.set_subsetting(view.subsetting);
  out.set_healthy_members(view.health.healthy_members);
  out.set_healthy_min(view.health.healthy_min);
  out.set_critical_min(view.health.critical_min);
  out.set_health_checks(view.health_checks);

  const ResolutionInfo& resolution = view.resolution;
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

  for (const PoolView::Address& view_address : view.addresses) {
    pb::Address& address = *out.add_addresses();
    address.set_address(view_address.address);
    address.set_ttl_seconds(view_address.ttl.count());
    address.set_expires_unix_ms(UnixMs(view_address.expires_at));
    address.set_stale(view_address.stale);
    address.set_members(view_address.members);
    address.set_evictions_in_a_row(view_address.evictions_in_a_row);
    address.set_rank(view_address.rank);
    address.set_backoff_until_unix_ms(UnixMs(view_address.backoff_until));
    address.set_last_error(view_address.last_error);
    address.set_last_error_unix_ms(UnixMs(view_address.last_error_at));
  }

  for (const PoolView::Member& member : view.members) {
    FillMember(member, *out.add_members());
  }

  if (view.tls.has_value()) {
    const PoolView::Tls& view_tls = *view.tls;
    pb::Tls& tls = *out.mutable_tls();
    tls.set_ca_file(view_tls.options.ca_file);
    tls.set_cert_file(view_tls.options.cert_file);
    tls.set_key_file(view_tls.options.key_file);
    tls.set_server_name_override(view_tls.options.server_name_override);
    tls.set_subject(view_tls.subject);
    tls.set_issuer(view_tls.issuer);
    tls.set_not_before_unix_ms(UnixMs(view_tls.not_before));
    tls.set_not_after_unix_ms(UnixMs(view_tls.not_after));
    tls.set_reload_interval_ms(view_tls.options.reload_interval.count());
    tls.set_loaded_unix_ms(UnixMs(view_tls.loaded_at));
    tls.set_reloads_ok(view_tls.reloads_ok);
    tls.set_reloads_failed(view_tls.reloads_failed);
    tls.set_last_error(view_tls.last_error);
    tls.set_last_error_unix_ms(UnixMs(view_tls.last_error_at));
    tls.set_members_on_old_material(view_tls.members_on_old_material);
  }

  for (const PoolView::Event& view_event : view.events) {
    const PoolEvent& event = view_event.event;
    pb::Event& out_event = *out.add_events();
    out_event.set_time_unix_ms(UnixMs(event.time));
    out_event.set_kind(std::string(PoolEventKindName(event.kind)));
    out_event.set_severity(view_event.severity == LogSeverity::kWarning ? "warning"
                                                                   : "info");
    out_event.set_member_id(event.member_id);
    out_event.set_address(event.address);
    out_event.set_detail(event.detail);
  }

  const CallCounts& calls = view.calls;
  pb::Counters& counters = *out.mutable_counters();
  counters.set_in_flight(calls.in_flight);
  counters.set_waiting_calls(static_cast<int64_t>(view.waiting_calls));
  counters.set_closed_members(calls.retired);
  counters.set_calls_started(calls.started);
  AddCodeCounts(calls.finished, *counters.mutable_calls_finished());
  FillHistogram(calls.latency_buckets, calls.latency_sum_us,
                *counters.mutable_call_duration());
  counters.set_dns_resolutions_ok(resolution.resolutions_ok);
  counters.set_dns_resolutions_failed(resolution.resolutions_failed);
  const PoolDecisions::Counters& pool = view.counters;
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
  counters.set_evictions_shrunk(evictions(EvictionReason::kShrunk));
  counters.set_pool_grows(pool.grows);
  counters.set_pool_shrinks(pool.shrinks);
  counters.set_ejections(pool.ejections);

  out.set_metrics_max_methods(view.metrics_max_methods);
  for (const MethodCounts& method : view.methods) {
    pb::MethodCalls& calls_of = *out.add_methods();
    calls_of.set_service(method.service);
    calls_of.set_method(method.method);
    calls_of.set_type(std::string(CallTypeName(method.type)));
    calls_of.set_overflow(method.overflow);
    calls_of.set_started(method.started);
    AddCodeCounts(method.handled, *calls_of.mutable_handled());
    calls_of.set_messages_sent(method.msg_sent);
    calls_of.set_messages_received(method.msg_received);
    FillHistogram(method.latency_buckets, method.latency_sum_us,
                  *calls_of.mutable_duration());
  }
}

}  // namespace internal
}  // namespace warm
