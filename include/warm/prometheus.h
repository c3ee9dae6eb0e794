// warm/prometheus.h: warm's metrics for an application's own prometheus-cpp
// exposer, next to its registry.
//
// The same metrics as the diagnostics server's /metrics (listed in
// README.md): per channel the warm_channel_* families, and per method the
// grpc-ecosystem client metrics (grpc_client_started_total,
// grpc_client_handled_total, grpc_client_handling_seconds,
// grpc_client_msg_sent_total, grpc_client_msg_received_total) with the
// labels channel, grpc_service, grpc_method and grpc_type.
//
// Example:
//
//   #include <prometheus/exposer.h>
//   #include "warm/prometheus.h"
//
//   prometheus::Exposer exposer("127.0.0.1:9464");
//   auto registry = std::make_shared<prometheus::Registry>();  // the app's
//   exposer.RegisterCollectable(registry);
//   exposer.RegisterCollectable(warm::MetricsCollectable());
//
// Without an exposer, the text format of the same families:
//
//   prometheus::TextSerializer().Serialize(
//       warm::MetricsCollectable()->Collect());
//
// libwarm links prometheus-cpp-core (Debian: prometheus-cpp-dev); the
// Exposer is prometheus-cpp-pull's, linked by the application
// (prometheus-cpp::pull).

#ifndef WARM_PROMETHEUS_H_
#define WARM_PROMETHEUS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>

namespace warm {

// MetricsCollectable()
//
// Every live warm channel's metrics, for a prometheus::Exposer (beside the
// application's prometheus::Registry) or any prometheus::Serializer.
// Always the same object, alive until the process exits: Exposer keeps only
// a weak_ptr to what it is given, so the one-line registration above stays
// registered. Each Collect() takes one snapshot of the channels alive then
// (channels created later appear, destroyed ones leave), so one collectable
// serves the whole process. Collect() is thread-safe and takes each channel's
// locks briefly; the only one a call may also take is the per-method table's,
// and a call takes it only the first time it calls a method name.
std::shared_ptr<prometheus::Collectable> MetricsCollectable();

}  // namespace warm

#endif  // WARM_PROMETHEUS_H_
