#include "src/common/options.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warm {
namespace internal {

int MinPoolSize(const ChannelOptions& options) {
  return options.pool_sizing.min_size == 0 ? options.pool_size
                                           : options.pool_sizing.min_size;
}

int MaxPoolSize(const ChannelOptions& options) {
  return options.pool_sizing.max_size == 0 ? options.pool_size
                                           : options.pool_sizing.max_size;
}

int StartPoolSize(const ChannelOptions& options) {
  return std::clamp(options.pool_size, MinPoolSize(options),
                    std::max(MinPoolSize(options), MaxPoolSize(options)));
}

absl::Status ValidateOptions(
    const ChannelOptions& options,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  std::vector<std::string> problems;
  if (options.tls.has_value()) {
    const TlsOptions& tls = *options.tls;
    if (credentials != nullptr) {
      problems.push_back(
          "credentials and tls are both set (with tls, warm builds the "
          "credentials: pass nullptr)");
    }
    if (tls.cert_file.empty() != tls.key_file.empty()) {
      problems.push_back(absl::StrCat("tls.cert_file is \"", tls.cert_file,
                                      "\" and tls.key_file is \"", tls.key_file,
                                      "\"; give both (mutual TLS) or neither"));
    }
    if (tls.reload_interval < std::chrono::milliseconds(100)) {
      problems.push_back(absl::StrCat("tls.reload_interval is ",
                                      tls.reload_interval.count(),
                                      " ms; it must be at least 100 ms"));
    }
  } else if (credentials == nullptr) {
    problems.push_back(
        "credentials is null (use grpc::InsecureChannelCredentials() for "
        "plaintext, or set tls)");
  }
  if (options.pick != PickPolicy::kInFlight &&
      options.pick != PickPolicy::kPeakEwma &&
      options.pick != PickPolicy::kLatency) {
    problems.push_back(absl::StrCat("pick is ", static_cast<int>(options.pick),
                                    "; it must be a warm::PickPolicy"));
  }
  if (options.pool_size < 1) {
    problems.push_back(absl::StrCat("pool_size is ", options.pool_size,
                                    "; it must be at least 1"));
  }
  const PoolSizingOptions& sizing = options.pool_sizing;
  if (sizing.min_size < 0) {
    problems.push_back(absl::StrCat("pool_sizing.min_size is ",
                                    sizing.min_size,
                                    "; it must be at least 0 (0: pool_size)"));
  }
  if (sizing.max_size < 0) {
    problems.push_back(absl::StrCat("pool_sizing.max_size is ",
                                    sizing.max_size,
                                    "; it must be at least 0 (0: pool_size)"));
  }
  if (sizing.min_size >= 0 && sizing.max_size >= 0 &&
      MaxPoolSize(options) < MinPoolSize(options)) {
    problems.push_back(absl::StrCat(
        "pool_sizing.max_size is ", MaxPoolSize(options),
        sizing.max_size == 0 ? " (from pool_size)" : "",
        "; it must be at least pool_sizing.min_size (", MinPoolSize(options),
        sizing.min_size == 0 ? ", from pool_size)" : ")"));
  }
  // NaN fails both comparisons.
  if (!(sizing.grow_above > 0)) {
    problems.push_back(absl::StrCat("pool_sizing.grow_above is ",
                                    sizing.grow_above, "; it must be > 0"));
  }
  if (!(sizing.shrink_below > 0 && sizing.shrink_below <= sizing.grow_above)) {
    problems.push_back(absl::StrCat(
        "pool_sizing.shrink_below is ", sizing.shrink_below,
        "; it must be > 0 and at most grow_above (", sizing.grow_above, ")"));
  }
  if (sizing.smoothing < std::chrono::milliseconds(100) ||
      sizing.smoothing > std::chrono::seconds(60)) {
    problems.push_back(absl::StrCat("pool_sizing.smoothing is ",
                                    sizing.smoothing.count(),
                                    " ms; it must be 100 ms..60 s"));
  }
  if (sizing.shrink_window.count() < 0 ||
      sizing.shrink_window > std::chrono::hours(1)) {
    problems.push_back(absl::StrCat("pool_sizing.shrink_window is ",
                                    sizing.shrink_window.count(),
                                    " ms; it must be 0..1 h"));
  }
  const SubsettingOptions& subsetting = options.subsetting;
  if (subsetting.client_count < 0 || subsetting.client_count > 1000000) {
    problems.push_back(absl::StrCat("subsetting.client_count is ",
                                    subsetting.client_count,
                                    "; it must be 0..1000000 (0: rendezvous)"));
  } else if (subsetting.client_count == 0 && subsetting.client_index != 0) {
    problems.push_back(absl::StrCat(
        "subsetting.client_index is ", subsetting.client_index,
        " but subsetting.client_count is 0; set client_count too (or leave "
        "both 0 for rendezvous hashing)"));
  } else if (subsetting.client_count > 0 &&
             (subsetting.client_index < 0 ||
              subsetting.client_index >= subsetting.client_count)) {
    problems.push_back(absl::StrCat(
        "subsetting.client_index is ", subsetting.client_index,
        "; it must be 0..", subsetting.client_count - 1,
        " (subsetting.client_count is ", subsetting.client_count, ")"));
  }
  for (size_t i = 0; i < options.interceptors.size(); ++i) {
    if (options.interceptors[i] == nullptr) {
      problems.push_back(absl::StrCat("interceptors[", i, "] is null"));
    }
  }
  const HealthCheckOptions& health = options.health_check;
  if (health.interval.count() <= 0) {
    problems.push_back(absl::StrCat("health_check.interval is ",
                                    health.interval.count(),
                                    " ms; it must be > 0"));
  }
  if (health.timeout.count() <= 0) {
    problems.push_back(absl::StrCat("health_check.timeout is ",
                                    health.timeout.count(),
                                    " ms; it must be > 0"));
  }
  if (health.no_traffic_interval < health.interval) {
    problems.push_back(absl::StrCat(
        "health_check.no_traffic_interval is ",
        health.no_traffic_interval.count(),
        " ms; it must be at least health_check.interval (",
        health.interval.count(), " ms)"));
  }
  if (health.unhealthy_threshold < 1) {
    problems.push_back(absl::StrCat("health_check.unhealthy_threshold is ",
                                    health.unhealthy_threshold,
                                    "; it must be at least 1"));
  }
  if (health.healthy_threshold < 1) {
    problems.push_back(absl::StrCat("health_check.healthy_threshold is ",
                                    health.healthy_threshold,
                                    "; it must be at least 1"));
  }
  const LivenessOptions& liveness = options.liveness;
  if (liveness.stall_timeout < std::chrono::milliseconds(10)) {
    problems.push_back(absl::StrCat("liveness.stall_timeout is ",
                                    liveness.stall_timeout.count(),
                                    " ms; it must be at least 10 ms"));
  }
  if (liveness.probe_timeout.count() <= 0) {
    problems.push_back(absl::StrCat("liveness.probe_timeout is ",
                                    liveness.probe_timeout.count(),
                                    " ms; it must be > 0"));
  }
  if (liveness.keepalive_time.count() < 0 ||
      liveness.keepalive_time > std::chrono::hours(24)) {
    problems.push_back(absl::StrCat("liveness.keepalive_time is ",
                                    liveness.keepalive_time.count(),
                                    " ms; it must be 0 (off) to 24 h"));
  }
  if (liveness.keepalive_timeout.count() <= 0 ||
      liveness.keepalive_timeout > std::chrono::hours(24)) {
    problems.push_back(absl::StrCat("liveness.keepalive_timeout is ",
                                    liveness.keepalive_timeout.count(),
                                    " ms; it must be > 0 and at most 24 h"));
  }
  if (options.critical_min < 0) {
    problems.push_back(absl::StrCat("critical_min is ", options.critical_min,
                                    "; it must be at least 0"));
  }
  if (options.healthy_min < options.critical_min) {
    problems.push_back(absl::StrCat("healthy_min is ", options.healthy_min,
                                    "; it must be at least critical_min (",
                                    options.critical_min, ")"));
  }
  const OutlierEjectionOptions& outlier = options.outlier_ejection;
  if (outlier.consecutive_failures < 1) {
    problems.push_back(absl::StrCat("outlier_ejection.consecutive_failures is ",
                                    outlier.consecutive_failures,
                                    "; it must be at least 1"));
  }
  if (outlier.base_ejection_time.count() <= 0) {
    problems.push_back(absl::StrCat("outlier_ejection.base_ejection_time is ",
                                    outlier.base_ejection_time.count(),
                                    " ms; it must be > 0"));
  }
  if (outlier.max_ejection_time < outlier.base_ejection_time) {
    problems.push_back(
        absl::StrCat("outlier_ejection.max_ejection_time is ",
                     outlier.max_ejection_time.count(),
                     " ms; it must be at least base_ejection_time (",
                     outlier.base_ejection_time.count(), " ms)"));
  }
  for (size_t i = 0; i < outlier.failure_codes.size(); ++i) {
    const int code = outlier.failure_codes[i];
    if (code < 0 || code > 16) {
      problems.push_back(absl::StrCat("outlier_ejection.failure_codes[", i,
                                      "] is ", code,
                                      "; it must be a grpc::StatusCode"));
    }
  }
  const DnsOptions& dns = options.dns;
  if (dns.min_refresh.count() <= 0) {
    problems.push_back(absl::StrCat(
        "dns.min_refresh is ", dns.min_refresh.count(), " ms; it must be > 0"));
  }
  if (dns.max_refresh < dns.min_refresh) {
    problems.push_back(
        absl::StrCat("dns.max_refresh is ", dns.max_refresh.count(),
                     " ms; it must be at least dns.min_refresh (",
                     dns.min_refresh.count(), " ms)"));
  }
  if (dns.max_refresh > std::chrono::hours(24)) {
    problems.push_back(absl::StrCat("dns.max_refresh is ",
                                    dns.max_refresh.count(),
                                    " ms; it must be at most 24 h"));
  }
  if (dns.query_timeout.count() <= 0 ||
      dns.query_timeout > std::chrono::minutes(1)) {
    problems.push_back(absl::StrCat("dns.query_timeout is ",
                                    dns.query_timeout.count(),
                                    " ms; it must be > 0 and at most 60 s"));
  }
  if (options.event_log_size < 0) {
    problems.push_back(absl::StrCat("event_log_size is ",
                                    options.event_log_size,
                                    "; it must be at least 0"));
  }
  if (options.metrics_max_methods < 0 || options.metrics_max_methods > 4096) {
    problems.push_back(absl::StrCat("metrics_max_methods is ",
                                    options.metrics_max_methods,
                                    "; it must be 0..4096"));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid warm::ChannelOptions: ", absl::StrJoin(problems, "; ")));
}

}  // namespace internal
}  // namespace warm
