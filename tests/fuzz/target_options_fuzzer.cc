// Fuzzes what an application hands CreateChannel(): the target string
// (ParseTarget) and ChannelOptions (ValidateOptions), both of which may come
// from a config file. Neither may crash, an error must name the input, and
// what they accept must be usable as is:
//   - a refused target's message quotes the target;
//   - each parsed static address is a gRPC target that parses back to
//     itself (no NUL or other text ignored by inet_pton slips through);
//   - a parsed dns: target's host and port parse back the same way;
//   - options that pass validation give pool bounds 1 <= min <= start <= max;
//   - a few values known to be bad are reported under their field's name.
//
// Input: the target (a FuzzedDataProvider random-length string), then for
// each option group a flag "set it" followed by its values; a missing flag
// keeps the default, so a seed may be a bare target string.

#include <fuzzer/FuzzedDataProvider.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/common/options.h"
#include "src/common/target.h"
#include "warm/options.h"

namespace {

using std::chrono::milliseconds;

// Aborts with `what` when `condition` fails: libFuzzer saves the input.
void Check(bool condition, const char* what, const std::string& detail) {
  if (condition) return;
  std::fprintf(stderr, "target_options_fuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}

milliseconds Duration(FuzzedDataProvider& fdp) {
  return milliseconds(fdp.ConsumeIntegral<int64_t>());
}

double Ratio(FuzzedDataProvider& fdp) {
  switch (fdp.ConsumeIntegralInRange(0, 4)) {
    case 0:
      return std::nan("");
    case 1:
      return HUGE_VAL;
    case 2:
      return -HUGE_VAL;
    default:
      return fdp.ConsumeFloatingPoint<double>();
  }
}

void FuzzTarget(const std::string& target) {
  absl::StatusOr<warm::internal::Target> parsed =
      warm::internal::ParseTarget(target);
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kInvalidArgument,
          "not InvalidArgument", parsed.status().ToString());
    Check(absl::StartsWith(parsed.status().message(),
                           absl::StrCat("invalid target \"", target, "\"")),
          "error does not quote the target", parsed.status().ToString());
    return;
  }
  if (parsed->kind == warm::internal::Target::Kind::kDns) {
    Check(!parsed->host.empty() && parsed->port >= 1 && parsed->port <= 65535,
          "bad dns host or port", target);
    Check(parsed->dns_server.find('/') == std::string::npos,
          "dns server holds a slash", target);
    absl::StatusOr<warm::internal::Target> again = warm::internal::ParseTarget(
        absl::StrCat("dns:///", parsed->host, ":", parsed->port));
    Check(again.ok() && again->kind == warm::internal::Target::Kind::kDns &&
              again->host == parsed->host && again->port == parsed->port,
          "dns host:port does not parse back", target);
    return;
  }
  Check(!parsed->addresses.empty(), "static target without addresses", target);
  for (const warm::internal::Address& address : parsed->addresses) {
    Check(address.grpc_target.find('\0') == std::string::npos,
          "address holds a NUL (gRPC reads a C string)", address.grpc_target);
    absl::StatusOr<warm::internal::Target> again =
        warm::internal::ParseTarget(address.grpc_target);
    Check(again.ok(), "address does not parse back",
          absl::StrCat(target, " -> ", address.grpc_target, ": ",
                       again.status().ToString()));
    Check(again->kind == warm::internal::Target::Kind::kStatic &&
              again->addresses.size() == 1 &&
              again->addresses[0].grpc_target == address.grpc_target &&
              again->addresses[0].display == address.display,
          "address parses back to something else",
          absl::StrCat(target, " -> ", address.grpc_target));
  }
}

void FuzzOptions(FuzzedDataProvider& fdp) {
  static const auto* const kInsecure =
      new std::shared_ptr<grpc::ChannelCredentials>(
          grpc::InsecureChannelCredentials());
  warm::ChannelOptions options;
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      fdp.ConsumeBool() ? nullptr : *kInsecure;
  if (fdp.ConsumeBool()) {
    options.pool_size = fdp.ConsumeIntegral<int>();
    options.pick = static_cast<warm::PickPolicy>(fdp.ConsumeIntegral<int>());
    options.healthy_min = fdp.ConsumeIntegral<int>();
    options.critical_min = fdp.ConsumeIntegral<int>();
    options.event_log_size = fdp.ConsumeIntegral<int>();
    options.metrics_max_methods = fdp.ConsumeIntegral<int>();
  }
  if (fdp.ConsumeBool()) {
    warm::PoolSizingOptions& sizing = options.pool_sizing;
    sizing.min_size = fdp.ConsumeIntegral<int>();
    sizing.max_size = fdp.ConsumeIntegral<int>();
    sizing.grow_above = Ratio(fdp);
    sizing.shrink_below = Ratio(fdp);
    sizing.smoothing = Duration(fdp);
    sizing.shrink_window = Duration(fdp);
  }
  if (fdp.ConsumeBool()) {
    options.subsetting.client_count = fdp.ConsumeIntegral<int>();
    options.subsetting.client_index = fdp.ConsumeIntegral<int>();
    options.subsetting.seed = fdp.ConsumeIntegral<uint64_t>();
  }
  if (fdp.ConsumeBool()) {
    warm::TlsOptions tls;
    tls.ca_file = fdp.ConsumeRandomLengthString(64);
    tls.cert_file = fdp.ConsumeRandomLengthString(64);
    tls.key_file = fdp.ConsumeRandomLengthString(64);
    tls.server_name_override = fdp.ConsumeRandomLengthString(64);
    tls.reload_interval = Duration(fdp);
    options.tls = std::move(tls);
  }
  if (fdp.ConsumeBool()) {
    warm::HealthCheckOptions& health = options.health_check;
    health.service = fdp.ConsumeRandomLengthString(64);
    health.interval = Duration(fdp);
    health.no_traffic_interval = Duration(fdp);
    health.timeout = Duration(fdp);
    health.unhealthy_threshold = fdp.ConsumeIntegral<int>();
    health.healthy_threshold = fdp.ConsumeIntegral<int>();
  }
  if (fdp.ConsumeBool()) {
    warm::LivenessOptions& liveness = options.liveness;
    liveness.stall_timeout = Duration(fdp);
    liveness.probe_timeout = Duration(fdp);
    liveness.keepalive_time = Duration(fdp);
    liveness.keepalive_timeout = Duration(fdp);
  }
  if (fdp.ConsumeBool()) {
    warm::OutlierEjectionOptions& outlier = options.outlier_ejection;
    outlier.consecutive_failures = fdp.ConsumeIntegral<int>();
    outlier.base_ejection_time = Duration(fdp);
    outlier.max_ejection_time = Duration(fdp);
    const int codes = fdp.ConsumeIntegralInRange(0, 4);
    for (int i = 0; i < codes; ++i) {
      // grpc::StatusCode has no fixed type: 0..31 are its values (the
      // enumerators' bit width); anything else is undefined in the caller.
      outlier.failure_codes.push_back(
          static_cast<grpc::StatusCode>(fdp.ConsumeIntegralInRange(0, 31)));
    }
  }
  if (fdp.ConsumeBool()) {
    options.dns.min_refresh = Duration(fdp);
    options.dns.max_refresh = Duration(fdp);
    options.dns.query_timeout = Duration(fdp);
  }
  if (fdp.ConsumeBool()) options.interceptors.push_back(nullptr);

  const absl::Status valid =
      warm::internal::ValidateOptions(options, credentials);
  // The derived sizes are computed for invalid options too (the pool's
  // status page shows them), so they must not overflow or trip std::clamp.
  const int min = warm::internal::MinPoolSize(options);
  const int max = warm::internal::MaxPoolSize(options);
  const int start = warm::internal::StartPoolSize(options);
  if (valid.ok()) {
    Check(1 <= min && min <= start && start <= max, "valid options, bad sizes",
          absl::StrCat(min, " ", start, " ", max));
    return;
  }
  Check(valid.code() == absl::StatusCode::kInvalidArgument &&
            absl::StartsWith(valid.message(), "invalid warm::ChannelOptions: "),
        "bad error", valid.ToString());
  const auto names = [&](const std::string& field) {
    Check(absl::StrContains(valid.message(), field), "field not named",
          absl::StrCat(field, " in ", valid.message()));
  };
  if (options.pool_size < 1)
    names(absl::StrCat("pool_size is ", options.pool_size));
  if (std::isnan(options.pool_sizing.grow_above)) {
    names("pool_sizing.grow_above is nan");
  }
  if (options.subsetting.client_count < 0) {
    names(absl::StrCat("subsetting.client_count is ",
                       options.subsetting.client_count));
  }
  if (options.dns.query_timeout.count() <= 0) {
    names(absl::StrCat("dns.query_timeout is ",
                       options.dns.query_timeout.count()));
  }
  if (!options.interceptors.empty()) names("interceptors[0] is null");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  FuzzTarget(fdp.ConsumeRandomLengthString(512));
  FuzzOptions(fdp);
  return 0;
}
