// Names of warm's public enums, and the process-wide log sink.
//
// Thread safety: Log() and SetLogSink() may be called from any thread.

#ifndef WARM_SRC_COMMON_EVENTS_H_
#define WARM_SRC_COMMON_EVENTS_H_

#include <grpc/grpc.h>

#include "absl/strings/string_view.h"
#include "warm/introspection.h"
#include "warm/log.h"

namespace warm {
namespace internal {

// Passes `line` to the current sink (see warm::SetLogSink).
void Log(LogSeverity severity, absl::string_view line);

// The public warm::ConnectivityStateName (warm/introspection.h), so that
// internal code may also call it as internal::ConnectivityStateName.
using ::warm::ConnectivityStateName;

// gRPC's names: "OK", "UNAVAILABLE", ... ("UNKNOWN" for a code outside
// 0..16).
absl::string_view StatusCodeName(int code);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_COMMON_EVENTS_H_
