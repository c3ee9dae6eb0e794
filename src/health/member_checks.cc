#include "src/health/member_checks.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/common/time.h"

namespace warm {
namespace internal {

using Kind = MemberChecks::Input::Kind;

MemberChecks::MemberChecks(Options options, Scheduler& scheduler,
                           StartHealthCheckFn start_check,
                           StartHealthWatchFn start_watch, Deliver deliver,
                           uint64_t seed)
    : options_(std::move(options)),
      scheduler_(scheduler),
      start_check_(std::move(start_check)),
      start_watch_(std::move(start_watch)),
      deliver_(std::move(deliver)),
      random_(seed) {}

void MemberChecks::Add(uint64_t id, std::shared_ptr<grpc::Channel> channel,
                       std::shared_ptr<const MemberLoad> load) {
  Entry& entry = entries_[id];
  entry.channel = std::move(channel);
  entry.load = std::move(load);
  if (!options_.enabled) return;
  if (options_.watch) {
    StartWatch(id, entry);
  } else {
    StartPoll(id, entry);
  }
}

void MemberChecks::Remove(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  // Destroying the timer cancels it; cancelled checks and streams report
  // `cancelled`, and reports for ids not here are dropped.
  Entry& entry = it->second;
  if (entry.active != nullptr) entry.active->Cancel();
  if (entry.probe != nullptr) entry.probe->Cancel();
  entries_.erase(it);  // and with it the timers
}

void MemberChecks::Clear() {
  while (!entries_.empty()) Remove(entries_.begin()->first);
}

MemberChecks::Mode MemberChecks::ModeOf(uint64_t id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? Mode::kNone : it->second.mode;
}

std::optional<MemberChecks::Report> MemberChecks::Handle(uint64_t id,
                                                         Input input,
                                                         bool in_use) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  Entry& entry = it->second;
  HealthCheck::Result& result = input.result;

  if (input.kind == Kind::kProbeDue) {
    if (input.generation != entry.probe_generation) return std::nullopt;
    StartProbe(id, entry);
    return std::nullopt;
  }
  if (input.kind == Kind::kProbeDone) {
    if (input.generation != entry.probe_generation) return std::nullopt;
    entry.probe.reset();
    if (result.cancelled) return std::nullopt;
    entry.last_probe_end = scheduler_.Now();
    const bool answered =
        result.outcome != CheckOutcome::kFailed || result.answered_error;
    entry.probes_failed = answered ? 0 : entry.probes_failed + 1;
    return Report{CheckSource::kProbe, result.outcome, std::move(result.detail),
                  result.answered_error};
  }
  if (input.generation != entry.generation) return std::nullopt;

  switch (input.kind) {
    case Kind::kWatchMessage:
      if (result.cancelled) return std::nullopt;
      entry.got_message = true;
      entry.stream_failures = 0;
      entry.timer.reset();  // the first-message deadline
      return Report{CheckSource::kWatch, result.outcome,
                    std::move(result.detail)};

    case Kind::kWatchEnded: {
      entry.active.reset();
      if (result.cancelled && !entry.timed_out) return std::nullopt;
      if (result.outcome == CheckOutcome::kUnimplemented) {
        // No Watch here: poll with Check, which also tells whether there is
        // a health service at all.
        StartPoll(id, entry);
        return std::nullopt;
      }
      ++entry.stream_failures;
      const bool reported = entry.timed_out;
      ArmTimer(id, entry,
               scheduler_.Now() + WatchBackoff(entry.stream_failures));
      if (reported) return std::nullopt;  // reported when it timed out
      return Report{CheckSource::kWatch, CheckOutcome::kFailed,
                    absl::StrCat("Watch stream ended: ", result.detail)};
    }

    case Kind::kPollDone: {
      entry.active.reset();
      if (result.cancelled) return std::nullopt;
      entry.last_poll_end = scheduler_.Now();
      entry.calls_seen = entry.load->started.load(std::memory_order_relaxed);
      ArmTimer(id, entry, entry.last_poll_end + options_.interval);
      return Report{CheckSource::kPoll, result.outcome,
                    std::move(result.detail), result.answered_error};
    }

    case Kind::kTimer:
      entry.timer.reset();
      if (entry.mode == Mode::kPoll) {
        // Every interval: check when the member had calls since the last
        // check (or has some in flight), else only once no_traffic_interval
        // has passed. Waking costs a timer, a check costs an RPC; waking
        // every interval is what lets a check follow soon after calls
        // resume.
        const bool traffic =
            entry.load->started.load(std::memory_order_relaxed) !=
                entry.calls_seen ||
            entry.load->in_flight.load(std::memory_order_relaxed) > 0;
        const SteadyTime now = scheduler_.Now();
        if (traffic || !in_use ||
            now - entry.last_poll_end >= options_.no_traffic_interval) {
          StartPoll(id, entry);
        } else {
          ArmTimer(id, entry,
                   std::min(now + options_.interval,
                            entry.last_poll_end + options_.no_traffic_interval));
        }
        return std::nullopt;
      }
      if (entry.active == nullptr) {  // a backoff ran out
        StartWatch(id, entry);
        return std::nullopt;
      }
      if (!entry.got_message) {
        entry.timed_out = true;
        entry.active->Cancel();  // ends the stream: reopened after backoff
        return Report{
            CheckSource::kWatch, CheckOutcome::kFailed,
            absl::StrCat("DEADLINE_EXCEEDED: no Watch message within ",
                         FormatDuration(options_.timeout))};
      }
      return std::nullopt;

    case Kind::kProbeDone:
    case Kind::kProbeDue:
      break;  // handled above
  }
  return std::nullopt;
}

void MemberChecks::Probe(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  if (entry.probe != nullptr || entry.probe_timer != nullptr) return;
  if (entry.probes_failed > 0) {
    const Nanos wait = std::min<Nanos>(
        std::chrono::seconds(30),
        Nanos(options_.probe_timeout) *
            (int64_t{1} << std::min(entry.probes_failed - 1, 20)));
    const SteadyTime at = entry.last_probe_end + wait;
    if (at > scheduler_.Now()) {
      const uint64_t generation = entry.probe_generation = ++next_generation_;
      entry.probe_timer = scheduler_.RunAt(
          at, [deliver = deliver_, id, generation] {
            deliver(id, Input{Kind::kProbeDue, generation, {}});
          });
      return;
    }
  }
  StartProbe(id, entry);
}

void MemberChecks::StartProbe(uint64_t id, Entry& entry) {
  entry.probe_timer.reset();
  const uint64_t generation = entry.probe_generation = ++next_generation_;
  entry.probe = start_check_(
      *entry.channel, options_.service, options_.probe_timeout,
      [deliver = deliver_, id, generation](HealthCheck::Result result) {
        deliver(id, Input{Kind::kProbeDone, generation, std::move(result)});
      });
}

void MemberChecks::StartWatch(uint64_t id, Entry& entry) {
  entry.mode = Mode::kWatch;
  const uint64_t generation = entry.generation = ++next_generation_;
  entry.got_message = false;
  entry.timed_out = false;
  entry.active = start_watch_(
      *entry.channel, options_.service,
      [deliver = deliver_, id, generation](HealthCheck::Result result) {
        deliver(id, Input{Kind::kWatchMessage, generation, std::move(result)});
      },
      [deliver = deliver_, id, generation](HealthCheck::Result result) {
        deliver(id, Input{Kind::kWatchEnded, generation, std::move(result)});
      });
  // The first message's deadline; the generation is the stream's.
  entry.timer = scheduler_.RunAt(
      scheduler_.Now() + options_.timeout,
      [deliver = deliver_, id, generation] {
        deliver(id, Input{Kind::kTimer, generation, {}});
      });
}

void MemberChecks::StartPoll(uint64_t id, Entry& entry) {
  entry.mode = Mode::kPoll;
  const uint64_t generation = entry.generation = ++next_generation_;
  entry.timer.reset();
  entry.active = start_check_(
      *entry.channel, options_.service, options_.timeout,
      [deliver = deliver_, id, generation](HealthCheck::Result result) {
        deliver(id, Input{Kind::kPollDone, generation, std::move(result)});
      });
}

void MemberChecks::ArmTimer(uint64_t id, Entry& entry, SteadyTime at) {
  const uint64_t generation = entry.generation = ++next_generation_;
  entry.timer = scheduler_.RunAt(at, [deliver = deliver_, id, generation] {
    deliver(id, Input{Kind::kTimer, generation, {}});
  });
}

Nanos MemberChecks::WatchBackoff(int failures) {
  const double base =
      std::min(static_cast<double>(options_.watch_backoff_max.count()),
               options_.watch_backoff_initial.count() *
                   std::pow(2.0, std::min(failures - 1, 30)));
  std::uniform_real_distribution<double> jitter(
      1 - options_.watch_backoff_jitter, 1 + options_.watch_backoff_jitter);
  return Nanos(static_cast<int64_t>(base * jitter(random_)));
}

}  // namespace internal
}  // namespace warm
