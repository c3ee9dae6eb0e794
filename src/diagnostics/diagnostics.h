// Diagnostics: one snapshot of every live channel, rendered as HTML pages,
// JSON and Prometheus metrics (see include/warm/diagnostics.h for the paths).
//
// The renderers are pure functions of a snapshot (and its time), so golden
// tests feed them hand-made snapshots; CaptureSnapshot() is the only part
// that reads live channels.
//
// Thread safety: all functions may be called from any thread.

#ifndef WARM_SRC_DIAGNOSTICS_DIAGNOSTICS_H_
#define WARM_SRC_DIAGNOSTICS_DIAGNOSTICS_H_

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "warm/diagnostics/v1/diagnostics.pb.h"

namespace warm {
namespace internal {

// Every live channel, in creation order.
diagnostics::v1::Snapshot CaptureSnapshot();

// `refresh_seconds` > 0 makes the page reload itself that often.
std::string RenderIndexHtml(const diagnostics::v1::Snapshot& snapshot,
                            int refresh_seconds);
std::string RenderChannelHtml(const diagnostics::v1::Snapshot& snapshot,
                              const diagnostics::v1::Channel& channel,
                              int refresh_seconds);
// The metrics of the snapshot's channels (src/diagnostics/metrics.cc), for
// RenderMetrics() and warm::MetricsCollectable().
std::vector<prometheus::MetricFamily> CollectMetrics(
    const diagnostics::v1::Snapshot& snapshot);
// CollectMetrics() in Prometheus text exposition format 0.0.4
// (prometheus::TextSerializer).
std::string RenderMetrics(const diagnostics::v1::Snapshot& snapshot);
std::string RenderJson(const diagnostics::v1::Snapshot& snapshot);

// Escapes & < > " ' for HTML text and attribute values.
std::string HtmlEscape(absl::string_view text);

inline constexpr char kMetricsContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_DIAGNOSTICS_DIAGNOSTICS_H_
