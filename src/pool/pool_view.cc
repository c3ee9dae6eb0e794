// Pool::View() and its renderings for warm::Channel: one picture of a pool,
// read under its lock with one reading of the clocks.

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

#include "src/pool/pool.h"

namespace warm {
namespace internal {
namespace {

// "Recent" latency: calls since the newest sample at least kRecentWindow
// old (or the oldest, for younger members). A sample is added when a view
// is taken for diagnostics (sample_latency) and the newest is kSampleEvery
// old, so nothing runs while nobody looks; read at least every 10 s (a page refreshing, a scrape) the window
// reaches 60-70 s back, read less often it reaches back to an earlier look.
constexpr std::chrono::seconds kRecentWindow{60};
constexpr std::chrono::seconds kSampleEvery{10};

// One word for a member: see warm.diagnostics.v1.Member.state.
absl::string_view MemberStateWord(const PoolDecisions& decisions,
                                  const PoolDecisions::MemberRecord& record) {
  if (record.ejected) return "ejected";
  if (record.suspected) return "suspected";
  if (decisions.addresses()[record.address].stale) return "draining";
  if (decisions.Healthy(record)) return "healthy";
  if (record.health == MemberHealth::kUnhealthy ||
      record.connectivity == GRPC_CHANNEL_TRANSIENT_FAILURE ||
      record.connectivity == GRPC_CHANNEL_SHUTDOWN) {
    return "unhealthy";
  }
  return "starting";
}

std::chrono::microseconds Us(int64_t us) {
  return std::chrono::microseconds(std::max<int64_t>(0, us));
}

ResolutionInfo ResolutionOf(const Pool::Config& config,
                            const PoolDecisions& decisions,
                            const DnsRefresh& dns, const Clocks& clocks) {
  ResolutionInfo info;
  info.dns = config.resolver != nullptr;
  if (!info.dns) {
    for (const PoolDecisions::AddressRecord& record : decisions.addresses()) {
      ResolvedAddressInfo address;
      address.address = record.address.display;
      info.addresses.push_back(std::move(address));
    }
    return info;
  }
  info.dns_server = config.parsed.dns_server;
  info.host = config.parsed.host;
  info.port = config.parsed.port;
  for (const DnsRefresh::Known& known : dns.known()) {
    ResolvedAddressInfo address;
    address.address = known.resolved.address.display;
    address.ttl = known.resolved.ttl;
    address.expires_at = clocks.ToWall(known.expires_at);
    info.addresses.push_back(std::move(address));
  }
  for (const PoolDecisions::AddressRecord& record : decisions.addresses()) {
    if (!record.stale) continue;
    ResolvedAddressInfo address;
    address.address = record.address.display;
    address.stale = true;
    info.addresses.push_back(std::move(address));
  }
  info.last_answer_at = clocks.ToWall(dns.last_answer_at());
  info.last_error =
      dns.last_error().ok() ? "" : std::string(dns.last_error().ToString());
  info.last_error_at = clocks.ToWall(dns.last_error_at());
  info.failures_in_a_row = dns.failures();
  info.next_refresh_at = clocks.ToWall(dns.next_refresh());
  info.resolutions_ok = dns.resolutions_ok();
  info.resolutions_failed = dns.resolutions_failed();
  return info;
}

}  // namespace

std::optional<PoolView> Pool::View(bool sample_latency) {
  MutexLock lock(&mu_);
  if (shutdown_) return std::nullopt;
  PoolView view;
  // After the lock: no member is younger than `now`.
  const Clocks clocks{scheduler_.Now(), std::chrono::system_clock::now()};
  const SteadyTime now = clocks.steady;
  view.clocks = clocks;
  view.name = name();
  view.target = config_.target;
  view.created_at = clocks.ToWall(created_at_);
  view.connectivity = watchers_.Get();
  view.health = decisions_.health();
  view.degraded = decisions_.degraded();
  const PoolPolicy& policy = decisions_.policy();
  view.pool_size = decisions_.target_size();
  view.pool_size_min = policy.min_pool_size;
  view.pool_size_max = policy.max_pool_size;
  view.pool_load = decisions_.smoothed_load();
  view.subsetting =
      policy.subset.mode == SubsetPolicy::Mode::kDeterministic
          ? absl::StrCat("deterministic ", policy.subset.client_index, " of ",
                         policy.subset.client_count)
          : "rendezvous";
  view.health_checks = decisions_.policy().health_checks;
  view.resolution = ResolutionOf(config_, decisions_, dns_, clocks);

  for (const PoolDecisions::AddressRecord& record : decisions_.addresses()) {
    PoolView::Address& address = view.addresses.emplace_back();
    address.address = record.address.display;
    for (const ResolvedAddressInfo& resolved : view.resolution.addresses) {
      if (resolved.address != record.address.display || resolved.stale) {
        continue;
      }
      address.ttl = resolved.ttl;
      address.expires_at = resolved.expires_at;
    }
    address.stale = record.stale;
    address.members = record.members;
    address.rank = record.stale ? -1 : static_cast<int>(record.rank);
    address.evictions_in_a_row = record.failures;
    if (record.retry_at > now) {
      address.backoff_until = clocks.ToWall(record.retry_at);
    }
    address.last_error = record.last_error;
    address.last_error_at = clocks.ToWall(record.last_error_at);
  }

  const uint64_t tls_generation = tls_.has_value() ? tls_->generation() : 0;
  int on_old_material = 0;
  for (auto& [id, slot] : slots_) {
    const PoolDecisions::MemberRecord& record = decisions_.members().at(id);
    const MemberLoad& load = slot.member->load();
    const CallCounts counts = load.Counts();
    PoolView::Member& member = view.members.emplace_back();
    MemberInfo& info = member.info;
    info.id = id;
    info.address = slot.member->address().display;
    info.state = record.connectivity;
    info.pickable =
        decisions_.TierOf(record) == PoolDecisions::Tier::kPickable;
    info.in_flight = counts.in_flight;
    info.calls_started = counts.started;
    info.calls_finished_by_code.assign(counts.finished.begin(),
                                       counts.finished.end());
    info.opened_at = clocks.ToWall(record.opened_at);
    const int64_t ewma_us =
        load.latency_ewma_us.load(std::memory_order_relaxed);
    info.latency_ewma = std::chrono::microseconds(ewma_us);
    info.latency_buckets.assign(counts.latency_buckets.begin(),
                                counts.latency_buckets.end());
    for (int64_t bound : MemberLoad::kLatencyBoundsUs) {
      info.latency_bucket_bounds.emplace_back(bound);
    }
    info.latency_p50 = Us(LatencyQuantileUs(counts.latency_buckets, 0.5));
    info.latency_p99 = Us(LatencyQuantileUs(counts.latency_buckets, 0.99));
    info.health = record.health;
    info.last_check = record.last_check;
    info.last_check_at = clocks.ToWall(record.last_check_at);
    info.ejected = record.ejected;
    if (record.ejected) info.ejected_until = clocks.ToWall(record.ejected_until);
    info.times_ejected = record.times_ejected;
    info.suspected = record.suspected;
    switch (checks_->ModeOf(id)) {
      case MemberChecks::Mode::kWatch:
        info.health_mode = "watch";
        break;
      case MemberChecks::Mode::kPoll:
        info.health_mode = "poll";
        break;
      case MemberChecks::Mode::kNone:
        break;
    }

    member.state_word = MemberStateWord(decisions_, record);
    member.latency_ewma_ms =
        ewma_us < 0 ? -1 : static_cast<double>(ewma_us) / 1000;
    std::vector<LatencySample>& samples = slot.latency_samples;
    if (sample_latency) {
      if (now - samples.back().at >= kSampleEvery) {
        samples.push_back({now, counts.latency_buckets});
      }
      while (samples.size() >= 2 && now - samples[1].at >= kRecentWindow) {
        samples.erase(samples.begin());
      }
    }
    std::array<uint64_t, MemberLoad::kLatencyBuckets> recent{};
    for (size_t i = 0; i < recent.size(); ++i) {
      recent[i] = counts.latency_buckets[i] - samples.front().buckets[i];
      member.recent_calls += recent[i];
    }
    member.recent_p50_us = LatencyQuantileUs(recent, 0.5);
    member.recent_p99_us = LatencyQuantileUs(recent, 0.99);
    member.recent_window = now - samples.front().at;
    member.old_tls_material = slot.tls_generation < tls_generation;
    on_old_material += member.old_tls_material;
  }

  if (tls_.has_value()) {
    const TlsMaterial& material = tls_->material();
    PoolView::Tls& tls = view.tls.emplace(PoolView::Tls{});
    tls.options = *config_.options.tls;
    tls.subject = material.subject;
    tls.issuer = material.issuer;
    tls.not_before = material.not_before;
    tls.not_after = material.not_after;
    tls.loaded_at = tls_->last_reload_at();
    tls.reloads_ok = tls_->reloads_ok();
    tls.reloads_failed = tls_->reloads_failed();
    tls.last_error = tls_->last_error();
    tls.last_error_at = tls_->last_error_at();
    tls.members_on_old_material = on_old_material;
  }

  for (const PoolDecisions::Event& event : decisions_.events()) {
    PoolView::Event& view_event = view.events.emplace_back();
    view_event.severity = event.severity;
    PoolEvent& out = view_event.event;
    out.time = clocks.ToWall(event.time);
    out.kind = event.kind;
    out.member_id = event.member_id;
    out.address = event.address;
    out.detail = event.detail;
  }
  view.calls = call_stats_->Total();
  view.waiting_calls = holder_.waiting();
  view.methods = method_stats_->Counts();
  view.metrics_max_methods = method_stats_->max_methods();
  view.counters = decisions_.counters();
  return view;
}

std::vector<MemberInfo> Pool::Members() {
  std::vector<MemberInfo> out;
  std::optional<PoolView> view = View();
  if (!view.has_value()) return out;
  for (PoolView::Member& member : view->members) {
    out.push_back(std::move(member.info));
  }
  return out;
}

std::vector<PoolEvent> Pool::Events() {
  std::vector<PoolEvent> out;
  std::optional<PoolView> view = View();
  if (!view.has_value()) return out;
  for (PoolView::Event& event : view->events) {
    out.push_back(std::move(event.event));
  }
  return out;
}

ResolutionInfo Pool::Resolution() {
  std::optional<PoolView> view = View();
  if (!view.has_value()) return {};
  return std::move(view->resolution);
}

}  // namespace internal
}  // namespace warm
