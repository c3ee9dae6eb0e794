// MemberChecks: the health checks of one pool's members.
//
// Per member, one of:
//   - a Health/Watch stream (HealthCheckOptions::watch): each status the
//     server pushes is reported; a stream that sends nothing within
//     `timeout` of opening is cancelled and reported failed; a stream that
//     ends is reported failed and opened again after a backoff (reset by
//     any message); a stream answered UNIMPLEMENTED turns the member to
//     polling, for good;
//   - polling: one Health/Check at a time, the next starting `interval`
//     after the last ended; while the member has had no calls since and has
//     none in flight, checks are skipped until `no_traffic_interval` has
//     passed (the timer still wakes every interval, to notice calls);
//   - nothing (health checking off).
// And, on demand, liveness probes (Probe()): a Check with `probe_timeout`,
// at most one in flight per member, whatever the mode.
//
// Everything asynchronous (a check's or stream's result, a timer) comes back
// through `deliver`, as an Input the pool hands to Handle() under its lock;
// Handle() says what, if anything, the pool's decisions should hear. An
// Input carries the generation of what produced it, so that the results of
// a stream or timer already replaced are dropped.
//
// `deliver` runs outside any lock: on the control thread for timers, and
// where the start functions run their callbacks for results (the Worker's
// thread for the real checks: the pool pairs them with the Worker).
//
// Thread safety: none; the pool calls every method under its mutex.

#ifndef WARM_SRC_HEALTH_MEMBER_CHECKS_H_
#define WARM_SRC_HEALTH_MEMBER_CHECKS_H_

#include <grpcpp/channel.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "src/call/member_load.h"
#include "src/common/random.h"
#include "src/common/scheduler.h"
#include "src/common/time.h"
#include "src/health/check_outcome.h"
#include "src/health/health_check.h"

namespace warm {
namespace internal {

class MemberChecks {
 public:
  struct Options {
    bool enabled = true;  // health checks; probes run either way
    std::string service;
    bool watch = true;
    std::chrono::milliseconds interval{5000};
    std::chrono::milliseconds no_traffic_interval{60000};
    std::chrono::milliseconds timeout{3000};
    std::chrono::milliseconds probe_timeout{1000};
    // Reopening a Watch stream that ended: initial x 2^(failures-1), at
    // most max, +-jitter.
    Nanos watch_backoff_initial = std::chrono::seconds(1);
    Nanos watch_backoff_max = std::chrono::seconds(30);
    double watch_backoff_jitter = 0.2;
  };

  // What Handle() was given.
  struct Input {
    enum class Kind {
      kPollDone,
      kWatchMessage,
      kWatchEnded,
      kTimer,
      kProbeDone,
      kProbeDue,  // a delayed probe's time came
    };
    Kind kind = Kind::kTimer;
    uint64_t generation = 0;
    HealthCheck::Result result;
  };
  using Deliver = std::function<void(uint64_t id, Input input)>;

  // What the pool's decisions should hear.
  struct Report {
    CheckSource source = CheckSource::kPoll;
    CheckOutcome outcome = CheckOutcome::kFailed;
    std::string detail;
    bool answered_error = false;  // see HealthCheck::Result
  };

  // How a member is being checked now (diagnostics).
  enum class Mode { kNone, kWatch, kPoll };

  MemberChecks(Options options, Scheduler& scheduler,
               StartHealthCheckFn start_check, StartHealthWatchFn start_watch,
               Deliver deliver, uint64_t seed);
  ~MemberChecks() { Clear(); }
  MemberChecks(const MemberChecks&) = delete;
  MemberChecks& operator=(const MemberChecks&) = delete;

  // Starts checking member `id` on `channel` (which outlives its entry
  // here); `load` tells polling whether the member had calls.
  void Add(uint64_t id, std::shared_ptr<grpc::Channel> channel,
           std::shared_ptr<const MemberLoad> load);
  // Cancels the member's stream, checks and timer.
  void Remove(uint64_t id);
  void Clear();

  // `in_use`: the member is healthy and pickable. Polling skips checks of an
  // idle member (no_traffic_interval) only then: a member out of the picker
  // gets no calls by construction, and its next check is what may bring it
  // back.
  std::optional<Report> Handle(uint64_t id, Input input, bool in_use = true);

  // Starts a liveness probe of `id` unless one is in flight or waiting.
  // After a probe that got no answer the next waits: probe_timeout doubling
  // per such probe in a row, at most 30 s, so that probes failing fast
  // (connection refused by a proxy, say) do not loop.
  void Probe(uint64_t id);

  // kNone also for unknown ids.
  Mode ModeOf(uint64_t id) const;

 private:
  struct Entry {
    std::shared_ptr<grpc::Channel> channel;
    std::shared_ptr<const MemberLoad> load;
    Mode mode = Mode::kNone;
    // Of the stream, check or timer whose inputs count: a new one from
    // next_generation_ for each, so that no two ever share one, even across
    // an id removed and added again.
    uint64_t generation = 0;
    std::shared_ptr<HealthCheck> active;  // stream or polled check, or null
    std::unique_ptr<Scheduler::Timer> timer;
    bool got_message = false;  // on the current stream
    bool timed_out = false;    // current stream cancelled: no first message
    int stream_failures = 0;   // since the last message, for the backoff
    uint64_t calls_seen = 0;   // load->started when the last poll ended
    SteadyTime last_poll_end{};
    std::shared_ptr<HealthCheck> probe;
    uint64_t probe_generation = 0;
    std::unique_ptr<Scheduler::Timer> probe_timer;  // a delayed probe
    int probes_failed = 0;  // unanswered in a row
    SteadyTime last_probe_end{};
  };
  void StartProbe(uint64_t id, Entry& entry);
  void StartWatch(uint64_t id, Entry& entry);
  void StartPoll(uint64_t id, Entry& entry);
  void ArmTimer(uint64_t id, Entry& entry, SteadyTime at);
  Nanos WatchBackoff(int failures);

  const Options options_;
  Scheduler& scheduler_;
  const StartHealthCheckFn start_check_;
  const StartHealthWatchFn start_watch_;
  const Deliver deliver_;
  SmallRandom random_;
  uint64_t next_generation_ = 0;
  std::map<uint64_t, Entry> entries_;
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_HEALTH_MEMBER_CHECKS_H_
