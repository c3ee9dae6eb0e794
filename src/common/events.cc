#include "src/common/events.h"

#include <cstdio>
#include <iterator>
#include <memory>
#include <string>

#include "src/common/mutex.h"

namespace warm {

absl::string_view ChannelStatusName(ChannelStatus status) {
  switch (status) {
    case ChannelStatus::kStarting:
      return "starting";
    case ChannelStatus::kHealthy:
      return "healthy";
    case ChannelStatus::kUnhealthy:
      return "unhealthy";
    case ChannelStatus::kDegraded:
      return "degraded";
  }
  return "unknown";
}

absl::string_view MemberHealthName(MemberHealth health) {
  switch (health) {
    case MemberHealth::kUnknown:
      return "unknown";
    case MemberHealth::kHealthy:
      return "healthy";
    case MemberHealth::kUnhealthy:
      return "unhealthy";
    case MemberHealth::kNoHealthService:
      return "no health service";
    case MemberHealth::kNotChecked:
      return "not checked";
  }
  return "unknown";
}

absl::string_view PoolEventKindName(PoolEvent::Kind kind) {
  switch (kind) {
    case PoolEvent::Kind::kMemberOpened:
      return "member opened";
    case PoolEvent::Kind::kMemberHealthy:
      return "member healthy";
    case PoolEvent::Kind::kMemberUnhealthy:
      return "member unhealthy";
    case PoolEvent::Kind::kMemberEvicted:
      return "member evicted";
    case PoolEvent::Kind::kMemberEjected:
      return "member ejected";
    case PoolEvent::Kind::kMemberReturned:
      return "member returned";
    case PoolEvent::Kind::kEjectionSkipped:
      return "ejection skipped";
    case PoolEvent::Kind::kAddressBackoff:
      return "address backoff";
    case PoolEvent::Kind::kAddressesChanged:
      return "addresses changed";
    case PoolEvent::Kind::kDnsFailed:
      return "dns failed";
    case PoolEvent::Kind::kDegradedEntered:
      return "degraded entered";
    case PoolEvent::Kind::kDegradedLeft:
      return "degraded left";
    case PoolEvent::Kind::kStatusChanged:
      return "status changed";
    case PoolEvent::Kind::kTlsReloaded:
      return "tls reloaded";
    case PoolEvent::Kind::kTlsReloadFailed:
      return "tls reload failed";
    case PoolEvent::Kind::kMemberSuspected:
      return "member suspected";
    case PoolEvent::Kind::kPoolResized:
      return "pool resized";
  }
  return "unknown";
}

absl::string_view ConnectivityStateName(grpc_connectivity_state state) {
  switch (state) {
    case GRPC_CHANNEL_IDLE:
      return "IDLE";
    case GRPC_CHANNEL_CONNECTING:
      return "CONNECTING";
    case GRPC_CHANNEL_READY:
      return "READY";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "TRANSIENT_FAILURE";
    case GRPC_CHANNEL_SHUTDOWN:
      return "SHUTDOWN";
  }
  return "UNKNOWN";
}

namespace {

internal::Mutex sink_mu;
// Replaced, never changed: Log() copies the pointer and calls outside the lock.
std::shared_ptr<const LogSink>& Sink() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sink_mu) {
  static auto* sink = new std::shared_ptr<const LogSink>();
  return *sink;
}

}  // namespace

void SetLogSink(LogSink sink) {
  std::shared_ptr<const LogSink> next;
  if (sink) next = std::make_shared<const LogSink>(std::move(sink));
  internal::MutexLock lock(&sink_mu);
  Sink() = std::move(next);
}

namespace internal {

void Log(LogSeverity severity, absl::string_view line) {
  std::shared_ptr<const LogSink> sink;
  {
    internal::MutexLock lock(&sink_mu);
    sink = Sink();
  }
  if (sink != nullptr) {
    (*sink)(severity, line);
    return;
  }
  if (severity == LogSeverity::kWarning) {
    std::string text(line);
    std::fprintf(stderr, "%s\n", text.c_str());
  }
}

absl::string_view StatusCodeName(int code) {
  static constexpr absl::string_view kNames[] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  if (code < 0 || code >= static_cast<int>(std::size(kNames))) return "UNKNOWN";
  return kNames[code];
}

}  // namespace internal
}  // namespace warm
