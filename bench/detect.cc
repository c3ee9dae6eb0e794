// Scenario "detect": how soon a backend that goes bad stops getting calls,
// with default options. Three backends in child processes under 8
// closed-loop callers (1 s deadline); after 1 s one backend either says
// NOT_SERVING (its grpc.health.v1 status) or hangs (SIGSTOP). Measured:
//   - warm: the time until its member on that backend is out of the picker
//     (Channel::Members(), looked at every millisecond);
//   - both: the time until the last call that reached it started
//     (NOT_SERVING: calls it answered; SIGSTOP: calls that timed out), and
//     the calls that failed.
// warm uses default options but pool_size 3; round_robin is plain gRPC with
// client health checking (a Health/Watch stream per subchannel).

#include <algorithm>
#include <atomic>
#include <thread>

#include "bench/channels.h"
#include "bench/load.h"
#include "bench/scenarios.h"
#include "tests/testing/child_backend.h"

namespace warm {
namespace bench {
namespace {

using std::chrono::milliseconds;
using testing::ChildBackend;

constexpr int kBackends = 3;
constexpr int kThreads = 8;
constexpr milliseconds kDeadline{1000};
constexpr milliseconds kBeforeFault{1000};

enum class Fault { kNotServing, kStop };
const char* FaultName(Fault fault) {
  return fault == Fault::kNotServing ? "NOT_SERVING" : "SIGSTOP";
}

struct Outcome {
  double out_of_picker_s = -1;  // warm only; -1: not within the window
  double last_call_s = 0;       // last call to the faulted backend started
  int failed = 0;
};

double Since(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

absl::StatusOr<Outcome> RunOnce(bool warm, Fault fault, milliseconds window) {
  std::vector<std::unique_ptr<ChildBackend>> backends;
  std::string target = "ipv4:";
  for (int i = 0; i < kBackends; ++i) {
    backends.push_back(
        std::make_unique<ChildBackend>("127.0.0." + std::to_string(i + 1)));
    target += (i ? "," : "") + backends.back()->address();
  }
  const std::string faulted = backends[0]->address();
  std::shared_ptr<grpc::ChannelInterface> channel;
  std::shared_ptr<Channel> warm_channel;
  if (warm) {
    ChannelOptions options;
    options.pool_size = kBackends;
    auto created = CreateWarmChannel(target, std::move(options));
    if (!created.ok()) return created.status();
    warm_channel = *created;
    channel = warm_channel;
  } else {
    channel = CreatePlainChannel(target, PlainPolicy::kRoundRobin);
  }
  if (absl::Status ready = WaitForReady(*channel, warm ? kWarm : kRoundRobin);
      !ready.ok()) {
    return ready;
  }
  LoadOptions options;
  options.threads = kThreads;
  options.deadline = kDeadline;
  options.record_backend = true;
  const Clock::time_point fault_at = Clock::now() + kBeforeFault;
  const Clock::time_point window_end = fault_at + window;
  Load load(channel, options, window_end - Clock::now());
  std::this_thread::sleep_until(fault_at);  // the load runs meanwhile
  const Clock::time_point faulted_at = Clock::now();
  if (fault == Fault::kNotServing) {
    backends[0]->SetServing(false);
  } else {
    backends[0]->Stop();
  }
  Outcome outcome;
  if (warm_channel != nullptr) {
    // Bounded by the window; the load runs on its own threads.
    while (Clock::now() < window_end) {
      bool pickable = false;
      for (const MemberInfo& member : warm_channel->Members()) {
        pickable = pickable || (member.address == faulted && member.pickable);
      }
      if (!pickable) {
        outcome.out_of_picker_s = Since(faulted_at, Clock::now());
        break;
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
  }
  load.Join();
  for (const CallRecord& call : load.Records()) {
    if (call.end < faulted_at) continue;
    outcome.failed += !call.ok();
    const bool reached = fault == Fault::kNotServing
                             ? call.backend == faulted
                             : call.code == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (reached) {
      outcome.last_call_s =
          std::max(outcome.last_call_s, Since(faulted_at, call.start));
    }
  }
  if (fault == Fault::kStop) backends[0]->Continue();
  return outcome;
}

}  // namespace

absl::StatusOr<ScenarioReport> RunDetect(const BenchConfig& config) {
  const int reps = config.reps > 0 ? config.reps : config.smoke ? 1 : 5;
  const milliseconds window(static_cast<int64_t>(
      1000 * (config.failover_window > 0 ? config.failover_window
              : config.smoke             ? 2
                                         : 5)));
  ScenarioReport report;
  report.name = "detect";
  MarkdownTable table({"fault", "channel",
                       "out of the picker, s after the fault",
                       "last call to it started, s after the fault",
                       "failed calls"});
  std::vector<JsonObject> rows;
  std::string goals;
  for (Fault fault : {Fault::kNotServing, Fault::kStop}) {
    for (bool warm : {true, false}) {
      std::vector<double> out, last, failed;
      int never = 0;
      for (int rep = 0; rep < reps; ++rep) {
        absl::StatusOr<Outcome> outcome = RunOnce(warm, fault, window);
        if (!outcome.ok()) return outcome.status();
        if (outcome->out_of_picker_s < 0) {
          ++never;
        } else {
          out.push_back(outcome->out_of_picker_s);
        }
        last.push_back(outcome->last_call_s);
        failed.push_back(outcome->failed);
      }
      const char* name = warm ? kWarm : kRoundRobin;
      std::string out_cell = "-";
      if (warm) {
        out_cell = never == reps ? "> " + Fixed(window.count() / 1000.0, 0)
                                 : Range(Summarize(out), 3);
        if (never > 0 && never < reps) {
          out_cell += " (" + std::to_string(never) + " reps: never)";
        }
        const double bound = fault == Fault::kNotServing ? 0.1 : 3;
        const bool met = never == 0 && Summarize(out).max <= bound;
        goals += std::string("- ") + FaultName(fault) +
                 ", warm: out of the picker within " + Fixed(bound, 1) +
                 " s in every repetition (slowest " +
                 (never > 0 ? std::string("never") : Fixed(Summarize(out).max, 3)) +
                 " s): **" + GoalWord(met) + "**\n";
      }
      table.AddRow({FaultName(fault), name, out_cell,
                    Range(Summarize(last), 3), Range(Summarize(failed), 0)});
      JsonObject row;
      row.Set("fault", FaultName(fault))
          .Set("channel", name)
          .Set("last_call_started_s", last)
          .Set("failed_calls", failed);
      if (warm) {
        row.Set("out_of_picker_s", out).Set("reps_never_out", double(never));
      }
      rows.push_back(row);
    }
  }
  report.json.Set("backends", double(kBackends))
      .Set("threads", double(kThreads))
      .Set("call_deadline_ms", double(kDeadline.count()))
      .Set("window_s", window.count() / 1000.0)
      .Set("reps", double(reps))
      .Set("rows", rows);
  report.markdown =
      "### detect\n\n3 backends in child processes (127.0.0.1-3), " +
      std::to_string(kThreads) +
      " closed-loop callers, call deadline 1 s, default options (warm: "
      "pool_size 3; round_robin: client health checking). After 1 s one "
      "backend turns NOT_SERVING or is hung (SIGSTOP); watched for " +
      Fixed(window.count() / 1000.0, 0) +
      " s more. \"Last call to it\": for NOT_SERVING the last call it "
      "answered, for SIGSTOP the last call that timed out. Median (range) "
      "over " +
      std::to_string(reps) + " repetitions.\n\n" + table.ToString() +
      "\nGoals:\n\n" + goals;
  return report;
}

}  // namespace bench
}  // namespace warm
