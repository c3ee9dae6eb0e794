// The snapshot as prometheus-cpp metric families, for /metrics (serialized
// with prometheus::TextSerializer) and for warm::MetricsCollectable().
//
// Every metric is declared once below (name, type, help, labels); a family
// is written with all of its samples for every channel. Labels: `channel`
// (the registry's metrics label, unique among live channels), one label from
// a small fixed set per channel family (state, code, result, reason,
// status), and on the grpc_client_* families the go-grpc-prometheus labels
// grpc_service, grpc_method, grpc_type (and grpc_code), bounded by
// ChannelOptions::metrics_max_methods. There are no per-address labels:
// addresses come and go with DNS, and the page shows them.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "src/common/events.h"
#include "src/diagnostics/diagnostics.h"
#include "warm/prometheus.h"

namespace warm {
namespace internal {
namespace {

namespace pb = ::warm::diagnostics::v1;
using prometheus::MetricType;

// One metric: its name, type, help and label names (values are given in
// this order for every sample).
struct Metric {
  const char* name;
  MetricType type;
  const char* help;
  std::vector<const char*> labels;
};

const Metric kChannels{"warm_channels",
                       MetricType::Gauge,
                       "Live warm channels in this process.",
                       {}};
const Metric kMembers{
    "warm_channel_members",
    MetricType::Gauge,
    "Member connections by state: healthy, unhealthy (failed checks or "
    "connection), starting (not yet connected or not yet passed a check), "
    "ejected (outlier), suspected (calls stalled, being probed), draining "
    "(address left DNS).",
    {"channel", "state"}};
const Metric kHealthyMembers{
    "warm_channel_healthy_members",
    MetricType::Gauge,
    "Members that are connected and passed their health checks (not "
    "ejected).",
    {"channel"}};
const Metric kHealthyMin{
    "warm_channel_healthy_min",
    MetricType::Gauge,
    "Healthy members below which the channel reports itself unhealthy "
    "(ChannelOptions::healthy_min, capped at the smallest pool size).",
    {"channel"}};
const Metric kPoolSize{
    "warm_channel_pool_size",
    MetricType::Gauge,
    "Members the pool wants now: pool_size, or where its load took it "
    "between warm_channel_pool_size_min and _max (PoolSizingOptions).",
    {"channel"}};
const Metric kPoolSizeMin{"warm_channel_pool_size_min",
                          MetricType::Gauge,
                          "The smallest pool size (PoolSizingOptions).",
                          {"channel"}};
const Metric kPoolSizeMax{"warm_channel_pool_size_max",
                          MetricType::Gauge,
                          "The largest pool size (PoolSizingOptions).",
                          {"channel"}};
const Metric kPoolLoad{
    "warm_channel_pool_load",
    MetricType::Gauge,
    "Calls in flight on pickable members, smoothed, that the pool sizes "
    "itself by (0 with a fixed size).",
    {"channel"}};
const Metric kPoolResizes{
    "warm_channel_pool_resizes_total",
    MetricType::Counter,
    "Changes of warm_channel_pool_size, by direction: grow (by load), shrink "
    "(by load, or fewer addresses); members closed for it are "
    "warm_channel_evictions_total{reason=\"shrunk\"}.",
    {"channel", "direction"}};
const Metric kDegraded{
    "warm_channel_degraded",
    MetricType::Gauge,
    "1 while the channel is degraded: fewer than critical_min healthy "
    "members, so unhealthy but connected members take calls.",
    {"channel"}};
const Metric kStatus{"warm_channel_status",
                     MetricType::Gauge,
                     "1 for the channel's current status (starting, healthy, "
                     "unhealthy, degraded), 0 for the others.",
                     {"channel", "status"}};
const Metric kInFlight{"warm_channel_in_flight_calls",
                       MetricType::Gauge,
                       "Calls started whose status has not arrived yet.",
                       {"channel"}};
const Metric kWaiting{
    "warm_channel_waiting_calls",
    MetricType::Gauge,
    "wait_for_ready calls waiting for a pickable member (counted in "
    "warm_channel_in_flight_calls too).",
    {"channel"}};
const Metric kCalls{
    "warm_channel_calls_total",
    MetricType::Counter,
    "Calls finished, by gRPC status code (a call destroyed before its status "
    "arrived counts as CANCELLED).",
    {"channel", "code"}};
const Metric kCallDuration{
    "warm_channel_call_duration_seconds",
    MetricType::Histogram,
    "Time from call creation to status, of calls whose status arrived.",
    {"channel"}};
const Metric kDnsResolutions{
    "warm_channel_dns_resolutions_total",
    MetricType::Counter,
    "DNS resolutions of the channel's name, by result (ok, failed); DNS "
    "targets only.",
    {"channel", "result"}};
const Metric kAddresses{
    "warm_channel_addresses",
    MetricType::Gauge,
    "Backend addresses in use: from the last DNS answer, or the static list "
    "(stale addresses not counted).",
    {"channel"}};
const Metric kHealthChecks{
    "warm_channel_health_checks_total",
    MetricType::Counter,
    "Health checks (grpc.health.v1) by result: serving, not_serving, "
    "unimplemented (no health service: counts as healthy), failed (RPC error "
    "or timeout).",
    {"channel", "result"}};
const Metric kEvictions{
    "warm_channel_evictions_total",
    MetricType::Counter,
    "Members closed, by reason: unhealthy, rebalanced (spread over more "
    "backends, or onto an address this channel ranks higher), "
    "address_removed (left DNS; drained), recycled (replaced by a member on "
    "new TLS files), shrunk (the pool's load fell).",
    {"channel", "reason"}};
const Metric kEjections{
    "warm_channel_ejections_total",
    MetricType::Counter,
    "Outlier ejections: members taken out of the picker for a while because "
    "their calls failed in a row.",
    {"channel"}};
const Metric kTlsExpiry{
    "warm_channel_tls_certificate_expiry_timestamp_seconds",
    MetricType::Gauge,
    "When the client certificate in use expires (Unix time); channels with a "
    "TLS client certificate only.",
    {"channel"}};
const Metric kTlsReloads{
    "warm_channel_tls_reloads_total",
    MetricType::Counter,
    "Changed TLS files read, by result: ok (in use, members recycled), "
    "failed (bad files; the old ones stay in use).",
    {"channel", "result"}};
const Metric kMethodOverflow{
    "warm_channel_method_overflow_calls_total",
    MetricType::Counter,
    "Calls counted under grpc_service=\"other\", grpc_method=\"other\" "
    "because the channel already had ChannelOptions::metrics_max_methods "
    "methods with series of their own.",
    {"channel"}};
// The grpc-ecosystem (go-grpc-prometheus) client metrics.
const Metric kStarted{"grpc_client_started_total",
                      MetricType::Counter,
                      "RPCs started on the client, by method.",
                      {"channel", "grpc_service", "grpc_method", "grpc_type"}};
const Metric kHandled{
    "grpc_client_handled_total",
    MetricType::Counter,
    "RPCs completed on the client, by method and gRPC status code (codes "
    "with calls only; a call destroyed before its status counts as "
    "Canceled).",
    {"channel", "grpc_service", "grpc_method", "grpc_type", "grpc_code"}};
const Metric kHandling{
    "grpc_client_handling_seconds",
    MetricType::Histogram,
    "Time from call creation to status, by method, of calls whose status "
    "arrived.",
    {"channel", "grpc_service", "grpc_method", "grpc_type"}};
const Metric kMsgSent{
    "grpc_client_msg_sent_total",
    MetricType::Counter,
    "Messages the client sent (handed to gRPC to send), by method.",
    {"channel", "grpc_service", "grpc_method", "grpc_type"}};
const Metric kMsgReceived{
    "grpc_client_msg_received_total",
    MetricType::Counter,
    "Messages the client received, by method.",
    {"channel", "grpc_service", "grpc_method", "grpc_type"}};

// go-grpc-prometheus's grpc_code values: the Go names of the codes.
constexpr const char* kGoCodeNames[] = {"OK",
                                        "Canceled",
                                        "Unknown",
                                        "InvalidArgument",
                                        "DeadlineExceeded",
                                        "NotFound",
                                        "AlreadyExists",
                                        "PermissionDenied",
                                        "ResourceExhausted",
                                        "FailedPrecondition",
                                        "Aborted",
                                        "OutOfRange",
                                        "Unimplemented",
                                        "Internal",
                                        "Unavailable",
                                        "DataLoss",
                                        "Unauthenticated"};
static_assert(sizeof(kGoCodeNames) / sizeof(kGoCodeNames[0]) == 17);

// Builds one family: samples are added with their label values in the
// declared order.
class Family {
 public:
  explicit Family(const Metric& metric) : metric_(metric) {
    family_.name = metric.name;
    family_.help = metric.help;
    family_.type = metric.type;
  }

  void Gauge(absl::Span<const std::string> values, double value) {
    Add(values).gauge.value = value;
  }
  void Counter(absl::Span<const std::string> values, double value) {
    Add(values).counter.value = value;
  }
  void Histogram(absl::Span<const std::string> values,
                 const pb::Histogram& histogram) {
    prometheus::ClientMetric::Histogram& out = Add(values).histogram;
    uint64_t cumulative = 0;
    for (int i = 0; i < histogram.counts_size(); ++i) {
      cumulative += histogram.counts(i);
      out.bucket.push_back(
          {cumulative, i < histogram.bounds_seconds_size()
                           ? histogram.bounds_seconds(i)
                           : std::numeric_limits<double>::infinity()});
    }
    out.sample_count = cumulative;
    out.sample_sum = static_cast<double>(histogram.sum_us()) / 1e6;
  }

  prometheus::MetricFamily Take() { return std::move(family_); }

 private:
  prometheus::ClientMetric& Add(absl::Span<const std::string> values) {
    prometheus::ClientMetric& metric = family_.metric.emplace_back();
    // A mismatch is a bug in this file; the families are fixed.
    for (size_t i = 0; i < metric_.labels.size() && i < values.size(); ++i) {
      metric.label.push_back({metric_.labels[i], values[i]});
    }
    return metric;
  }

  const Metric& metric_;
  prometheus::MetricFamily family_;
};

// Adds `metric`'s family, with `samples(family, channel, label)` per channel.
template <typename Samples>
void PerChannel(const pb::Snapshot& snapshot, const Metric& metric,
                std::vector<prometheus::MetricFamily>& out, Samples samples) {
  Family family(metric);
  for (const pb::Channel& channel : snapshot.channels()) {
    samples(family, channel, channel.metrics_label());
  }
  out.push_back(family.Take());
}

}  // namespace

std::vector<prometheus::MetricFamily> CollectMetrics(
    const pb::Snapshot& snapshot) {
  std::vector<prometheus::MetricFamily> out;
  using Values = std::vector<std::string>;
  {
    Family channels(kChannels);
    channels.Gauge({}, snapshot.channels_size());
    out.push_back(channels.Take());
  }
  PerChannel(snapshot, kMembers, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               for (const char* state : {"healthy", "unhealthy", "starting",
                                         "ejected", "suspected", "draining"}) {
                 int n = 0;
                 for (const pb::Member& member : c.members()) {
                   n += member.state() == state;
                 }
                 f.Gauge(Values{label, state}, n);
               }
             });
  PerChannel(snapshot, kHealthyMembers, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Gauge(Values{label}, c.healthy_members());
             });
  PerChannel(snapshot, kHealthyMin, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Gauge(Values{label}, c.healthy_min());
             });
  PerChannel(snapshot, kPoolSize, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Gauge(Values{label}, c.pool_size());
             });
  PerChannel(snapshot, kPoolSizeMin, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Gauge(Values{label}, c.pool_size_min());
             });
  PerChannel(snapshot, kPoolSizeMax, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Gauge(Values{label}, c.pool_size_max());
             });
  PerChannel(snapshot, kPoolLoad, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Gauge(Values{label}, c.pool_load());
             });
  PerChannel(snapshot, kPoolResizes, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               const pb::Counters& k = c.counters();
               f.Counter(Values{label, "grow"},
                         static_cast<double>(k.pool_grows()));
               f.Counter(Values{label, "shrink"},
                         static_cast<double>(k.pool_shrinks()));
             });
  PerChannel(snapshot, kDegraded, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Gauge(Values{label}, c.degraded() ? 1 : 0);
             });
  PerChannel(snapshot, kStatus, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               for (const char* status :
                    {"starting", "healthy", "unhealthy", "degraded"}) {
                 f.Gauge(Values{label, status}, c.status() == status ? 1 : 0);
               }
             });
  PerChannel(snapshot, kInFlight, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Gauge(Values{label},
                       static_cast<double>(c.counters().in_flight()));
             });
  PerChannel(snapshot, kWaiting, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Gauge(Values{label},
                       static_cast<double>(c.counters().waiting_calls()));
             });
  PerChannel(
      snapshot, kCalls, out,
      [](Family& f, const pb::Channel& c, const std::string& label) {
        // Every code from the start: a series that appears with its first
        // failures hides them from rate() and increase().
        for (int code = 0; code < 17; ++code) {
          const absl::string_view name = StatusCodeName(code);
          uint64_t count = 0;
          for (const pb::CodeCount& entry : c.counters().calls_finished()) {
            if (entry.code() == name) count = entry.count();
          }
          f.Counter(Values{label, std::string(name)},
                    static_cast<double>(count));
        }
      });
  PerChannel(snapshot, kCallDuration, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Histogram(Values{label}, c.counters().call_duration());
             });
  PerChannel(snapshot, kDnsResolutions, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               if (!c.resolution().dns()) return;
               const pb::Counters& k = c.counters();
               f.Counter(Values{label, "ok"},
                         static_cast<double>(k.dns_resolutions_ok()));
               f.Counter(Values{label, "failed"},
                         static_cast<double>(k.dns_resolutions_failed()));
             });
  PerChannel(snapshot, kAddresses, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               int n = 0;
               for (const pb::Address& address : c.addresses()) {
                 n += !address.stale();
               }
               f.Gauge(Values{label}, n);
             });
  PerChannel(snapshot, kHealthChecks, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               const pb::Counters& k = c.counters();
               f.Counter(Values{label, "serving"},
                         static_cast<double>(k.health_checks_serving()));
               f.Counter(Values{label, "not_serving"},
                         static_cast<double>(k.health_checks_not_serving()));
               f.Counter(Values{label, "unimplemented"},
                         static_cast<double>(k.health_checks_unimplemented()));
               f.Counter(Values{label, "failed"},
                         static_cast<double>(k.health_checks_failed()));
             });
  PerChannel(snapshot, kEvictions, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               const pb::Counters& k = c.counters();
               f.Counter(Values{label, "unhealthy"},
                         static_cast<double>(k.evictions_unhealthy()));
               f.Counter(Values{label, "rebalanced"},
                         static_cast<double>(k.evictions_rebalanced()));
               f.Counter(Values{label, "address_removed"},
                         static_cast<double>(k.evictions_address_removed()));
               f.Counter(Values{label, "recycled"},
                         static_cast<double>(k.evictions_recycled()));
               f.Counter(Values{label, "shrunk"},
                         static_cast<double>(k.evictions_shrunk()));
             });
  PerChannel(snapshot, kEjections, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               f.Counter(Values{label},
                         static_cast<double>(c.counters().ejections()));
             });
  PerChannel(snapshot, kTlsExpiry, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               if (!c.has_tls() || c.tls().not_after_unix_ms() == 0) return;
               f.Gauge(Values{label},
                       static_cast<double>(c.tls().not_after_unix_ms() / 1000));
             });
  PerChannel(snapshot, kTlsReloads, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               if (!c.has_tls()) return;
               f.Counter(Values{label, "ok"},
                         static_cast<double>(c.tls().reloads_ok()));
               f.Counter(Values{label, "failed"},
                         static_cast<double>(c.tls().reloads_failed()));
             });
  PerChannel(snapshot, kMethodOverflow, out,
             [](Family& f, const pb::Channel& c, const std::string& label) {
               uint64_t overflow = 0;
               for (const pb::MethodCalls& method : c.methods()) {
                 if (method.overflow()) overflow += method.started();
               }
               f.Counter(Values{label}, static_cast<double>(overflow));
             });

  // Per method: the labels of each method entry of each channel.
  auto per_method = [&](const Metric& metric, auto samples) {
    Family family(metric);
    for (const pb::Channel& channel : snapshot.channels()) {
      for (const pb::MethodCalls& method : channel.methods()) {
        samples(family, method,
                Values{channel.metrics_label(), method.service(),
                       method.method(), method.type()});
      }
    }
    out.push_back(family.Take());
  };
  per_method(kStarted, [](Family& f, const pb::MethodCalls& m, Values labels) {
    f.Counter(labels, static_cast<double>(m.started()));
  });
  per_method(kHandled, [](Family& f, const pb::MethodCalls& m, Values labels) {
    labels.emplace_back();
    for (int code = 0; code < 17; ++code) {
      const absl::string_view name = StatusCodeName(code);
      for (const pb::CodeCount& entry : m.handled()) {
        if (entry.code() != name) continue;
        labels.back() = kGoCodeNames[code];
        f.Counter(labels, static_cast<double>(entry.count()));
      }
    }
  });
  per_method(kHandling,
             [](Family& f, const pb::MethodCalls& m, const Values& labels) {
               f.Histogram(labels, m.duration());
             });
  per_method(kMsgSent,
             [](Family& f, const pb::MethodCalls& m, const Values& labels) {
               f.Counter(labels, static_cast<double>(m.messages_sent()));
             });
  per_method(kMsgReceived,
             [](Family& f, const pb::MethodCalls& m, const Values& labels) {
               f.Counter(labels, static_cast<double>(m.messages_received()));
             });
  return out;
}

std::string RenderMetrics(const pb::Snapshot& snapshot) {
  return prometheus::TextSerializer().Serialize(CollectMetrics(snapshot));
}

namespace {

// Every live channel's metrics, captured at each Collect().
class ChannelsCollectable : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    return CollectMetrics(CaptureSnapshot());
  }
};

}  // namespace
}  // namespace internal

std::shared_ptr<prometheus::Collectable> MetricsCollectable() {
  // One for the process, never destroyed: Exposer::RegisterCollectable()
  // keeps only a weak_ptr, so a fresh object per call would be gone before
  // the first scrape.
  static const auto* const collectable =
      new std::shared_ptr<prometheus::Collectable>(
          std::make_shared<internal::ChannelsCollectable>());
  return *collectable;
}

}  // namespace warm
