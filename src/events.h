// Names of warm's public enums, and the process-wide log sink.
//
// Thread safety: Log() and SetLogSink() may be called from any thread.

#ifndef WARM_SRC_EVENTS_H_
#define WARM_SRC_EVENTS_H_

#include "absl/strings/string_view.h"
#include "warm/channel.h"

namespace warm {
namespace internal {

// Passes `line` to the current sink (see warm::SetLogSink).
void Log(LogSeverity severity, absl::string_view line);

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_EVENTS_H_
