// RenderMetrics(): the snapshot as Prometheus text exposition format 0.0.4.
//
// Every family is written once with HELP and TYPE, then its samples for every
// channel (the exposition format wants a family's samples together). Labels:
// `channel` (the registry's metrics label, unique among live channels) and
// one label from a small fixed set per family (state, code, result, reason,
// status). There are no per-address labels: addresses come and go with DNS,
// and the page shows them.

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/diagnostics/diagnostics.h"
#include "src/common/events.h"

namespace warm {
namespace internal {
namespace {

namespace pb = ::warm::diagnostics::v1;

class Exposition {
 public:
  explicit Exposition(const pb::Snapshot& snapshot) : snapshot_(snapshot) {}

  // Writes HELP and TYPE of a family, then `samples(channel)` per channel.
  template <typename Samples>
  void Family(absl::string_view name, absl::string_view type,
              absl::string_view help, Samples samples) {
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                    type, "\n");
    for (const pb::Channel& channel : snapshot_.channels()) {
      label_ = LabelValueEscape(channel.metrics_label());
      samples(channel);
    }
  }

  // One sample of the current channel; `label` is "" or `key="value"`
  // (the value already safe: from a fixed set).
  template <typename Value>
  void Sample(absl::string_view name, absl::string_view label, Value value) {
    absl::StrAppend(&out_, name, "{channel=\"", label_, "\"",
                    label.empty() ? "" : ",", label, "} ", value, "\n");
  }

  std::string Take() { return std::move(out_); }

 private:
  const pb::Snapshot& snapshot_;
  std::string label_;
  std::string out_;
};

// Microseconds as exact decimal seconds ("1.234567").
std::string Seconds(uint64_t us) {
  return absl::StrFormat("%d.%06d", us / 1000000, us % 1000000);
}

std::string Label(absl::string_view key, absl::string_view value) {
  return absl::StrCat(key, "=\"", value, "\"");
}

}  // namespace

std::string RenderMetrics(const pb::Snapshot& snapshot) {
  Exposition m(snapshot);
  std::string out = absl::StrCat(
      "# HELP warm_channels Live warm channels in this process.\n"
      "# TYPE warm_channels gauge\n"
      "warm_channels ",
      snapshot.channels_size(), "\n");

  m.Family("warm_channel_members", "gauge",
           "Member connections by state: healthy, unhealthy (failed checks "
           "or connection), starting (not yet connected or not yet passed a "
           "check), ejected (outlier), draining (address left DNS).",
           [&](const pb::Channel& c) {
             for (const char* state :
                  {"healthy", "unhealthy", "starting", "ejected", "draining"}) {
               int n = 0;
               for (const pb::Member& member : c.members()) {
                 n += member.state() == state;
               }
               m.Sample("warm_channel_members", Label("state", state), n);
             }
           });
  m.Family("warm_channel_healthy_members", "gauge",
           "Members that are connected and passed their health checks (not "
           "ejected).",
           [&](const pb::Channel& c) {
             m.Sample("warm_channel_healthy_members", "", c.healthy_members());
           });
  m.Family("warm_channel_healthy_min", "gauge",
           "Healthy members below which the channel reports itself unhealthy "
           "(ChannelOptions::healthy_min, capped at pool_size).",
           [&](const pb::Channel& c) {
             m.Sample("warm_channel_healthy_min", "", c.healthy_min());
           });
  m.Family("warm_channel_degraded", "gauge",
           "1 while the channel is degraded: fewer than critical_min healthy "
           "members, so unhealthy but connected members take calls.",
           [&](const pb::Channel& c) {
             m.Sample("warm_channel_degraded", "", c.degraded() ? 1 : 0);
           });
  m.Family("warm_channel_status", "gauge",
           "1 for the channel's current status (starting, healthy, "
           "unhealthy, degraded), 0 for the others.",
           [&](const pb::Channel& c) {
             for (const char* status :
                  {"starting", "healthy", "unhealthy", "degraded"}) {
               m.Sample("warm_channel_status", Label("status", status),
                        c.status() == status ? 1 : 0);
             }
           });
  m.Family("warm_channel_in_flight_calls", "gauge",
           "Calls started whose status has not arrived yet.",
           [&](const pb::Channel& c) {
             m.Sample("warm_channel_in_flight_calls", "",
                      c.counters().in_flight());
           });
  m.Family(
      "warm_channel_calls_total", "counter",
      "Calls finished, by gRPC status code (a call destroyed before its "
      "status arrived counts as CANCELLED).",
      [&](const pb::Channel& c) {
        // Every code from the start: a series that appears with its
        // first failures hides them from rate() and increase().
        for (int code = 0; code < 17; ++code) {
          const absl::string_view name = StatusCodeName(code);
          uint64_t count = 0;
          for (const pb::CodeCount& entry : c.counters().calls_finished()) {
            if (entry.code() == name) count = entry.count();
          }
          m.Sample("warm_channel_calls_total", Label("code", name), count);
        }
      });
  m.Family("warm_channel_call_duration_seconds", "histogram",
           "Time from call creation to status, of calls whose status "
           "arrived.",
           [&](const pb::Channel& c) {
             const pb::Histogram& h = c.counters().call_duration();
             uint64_t cumulative = 0;
             for (int i = 0; i < h.counts_size(); ++i) {
               cumulative += h.counts(i);
               const std::string le =
                   i < h.bounds_seconds_size()
                       ? absl::StrFormat("%g", h.bounds_seconds(i))
                       : "+Inf";
               m.Sample("warm_channel_call_duration_seconds_bucket",
                        Label("le", le), cumulative);
             }
             m.Sample("warm_channel_call_duration_seconds_sum", "",
                      Seconds(h.sum_us()));
             m.Sample("warm_channel_call_duration_seconds_count", "",
                      cumulative);
           });
  m.Family("warm_channel_dns_resolutions_total", "counter",
           "DNS resolutions of the channel's name, by result (ok, failed); "
           "DNS targets only.",
           [&](const pb::Channel& c) {
             if (!c.resolution().dns()) return;
             m.Sample("warm_channel_dns_resolutions_total",
                      Label("result", "ok"), c.counters().dns_resolutions_ok());
             m.Sample("warm_channel_dns_resolutions_total",
                      Label("result", "failed"),
                      c.counters().dns_resolutions_failed());
           });
  m.Family("warm_channel_addresses", "gauge",
           "Backend addresses in use: from the last DNS answer, or the "
           "static list (stale addresses not counted).",
           [&](const pb::Channel& c) {
             int n = 0;
             for (const pb::Address& address : c.addresses()) {
               n += !address.stale();
             }
             m.Sample("warm_channel_addresses", "", n);
           });
  m.Family(
      "warm_channel_health_checks_total", "counter",
      "Health checks (grpc.health.v1) by result: serving, not_serving, "
      "unimplemented (no health service: counts as healthy), failed "
      "(RPC error or timeout).",
      [&](const pb::Channel& c) {
        const pb::Counters& k = c.counters();
        const char* name = "warm_channel_health_checks_total";
        m.Sample(name, Label("result", "serving"), k.health_checks_serving());
        m.Sample(name, Label("result", "not_serving"),
                 k.health_checks_not_serving());
        m.Sample(name, Label("result", "unimplemented"),
                 k.health_checks_unimplemented());
        m.Sample(name, Label("result", "failed"), k.health_checks_failed());
      });
  m.Family(
      "warm_channel_evictions_total", "counter",
      "Members closed, by reason: unhealthy, rebalanced (spread over "
      "more backends), address_removed (left DNS; drained).",
      [&](const pb::Channel& c) {
        const pb::Counters& k = c.counters();
        const char* name = "warm_channel_evictions_total";
        m.Sample(name, Label("reason", "unhealthy"), k.evictions_unhealthy());
        m.Sample(name, Label("reason", "rebalanced"), k.evictions_rebalanced());
        m.Sample(name, Label("reason", "address_removed"),
                 k.evictions_address_removed());
      });
  m.Family("warm_channel_ejections_total", "counter",
           "Outlier ejections: members taken out of the picker for a while "
           "because their calls failed in a row.",
           [&](const pb::Channel& c) {
             m.Sample("warm_channel_ejections_total", "",
                      c.counters().ejections());
           });
  m.Family("warm_channel_tls_certificate_expiry_timestamp_seconds", "gauge",
           "When the client certificate in use expires (Unix time); "
           "channels with a TLS client certificate only.",
           [&](const pb::Channel& c) {
             if (!c.has_tls() || c.tls().not_after_unix_ms() == 0) return;
             m.Sample("warm_channel_tls_certificate_expiry_timestamp_seconds",
                      "", c.tls().not_after_unix_ms() / 1000);
           });
  m.Family("warm_channel_tls_reloads_total", "counter",
           "Changed TLS files read, by result: ok (in use, members "
           "recycled), failed (bad files; the old ones stay in use).",
           [&](const pb::Channel& c) {
             if (!c.has_tls()) return;
             m.Sample("warm_channel_tls_reloads_total", Label("result", "ok"),
                      c.tls().reloads_ok());
             m.Sample("warm_channel_tls_reloads_total",
                      Label("result", "failed"), c.tls().reloads_failed());
           });
  return out + m.Take();
}

}  // namespace internal
}  // namespace warm
