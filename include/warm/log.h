// warm/log.h: where warm's log lines go.
//
// warm logs every pool event (see `warm::PoolEvent` in warm/introspection.h)
// of every channel through one process-wide sink, which an application may
// replace to send the lines to its own logging. Included by warm/channel.h.

#ifndef WARM_LOG_H_
#define WARM_LOG_H_

#include <functional>

#include "absl/strings/string_view.h"

namespace warm {

// LogSeverity
//
// Every PoolEvent of every channel is also passed to one process-wide sink as
// a line "warm channel NAME: ...". Events that mean trouble (unhealthy,
// evicted for health, ejected, degraded, status worse) are kWarning, the rest
// kInfo.
enum class LogSeverity { kInfo, kWarning };

// LogSink
//
// Receives every log line with its severity. The default sink writes
// kWarning lines to stderr and drops kInfo. The sink runs on warm's
// background thread (for the events of creating a channel: on the creating
// thread), never under a warm lock, and must not block.
using LogSink = std::function<void(LogSeverity, absl::string_view line)>;

// SetLogSink()
//
// Replaces the sink; nullptr restores the default. Thread-safe.
void SetLogSink(LogSink sink);

}  // namespace warm

#endif  // WARM_LOG_H_
