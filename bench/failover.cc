// Scenario "failover": three backends in child processes under load; one is
// killed (SIGKILL) and another hung (SIGSTOP) at the same moment. Counted:
// the calls that fail after the fault, and how long until calls stop
// failing, through a warm channel (fast health checks, outlier ejection) vs
// plain gRPC round_robin with client health checking, with and without
// keepalive pings. Every call has a 1 s deadline, so calls to the hung
// backend end. For warm, the calls in flight on the two faulted backends
// just before the fault are read too: the calls that fail should be no more
// than those (the goal for the hung one: its timed-out calls <= the calls in
// flight on it when it hung).

#include <algorithm>
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
constexpr int kThreads = 4;
constexpr milliseconds kDeadline{1000};
constexpr milliseconds kBeforeFault{1000};
// The error rate counts as zero again when no call started in this last
// part of the window failed.
constexpr milliseconds kQuiet{2000};

// One channel configuration, created anew per repetition (its backends are
// new each time).
struct Variant {
  std::string name;
  std::string setup;  // how it is configured, for the report
  std::function<absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>>(
      const std::string& target)>
      create;
};

// A warm channel of pool_size kBackends with `options` on top.
Variant WarmVariant(std::string name, std::string setup,
                    std::function<void(ChannelOptions&)> configure) {
  return {std::move(name), std::move(setup),
          [configure = std::move(configure)](const std::string& target)
              -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> {
            ChannelOptions options;
            options.pool_size = kBackends;
            configure(options);
            auto channel = CreateWarmChannel(target, std::move(options));
            if (!channel.ok()) return channel.status();
            return std::shared_ptr<grpc::ChannelInterface>(*channel);
          }};
}

std::vector<Variant> Variants() {
  return {
      WarmVariant(std::string(kWarm) + " (defaults)",
                  "default options (Watch streams, stall detection with "
                  "probes), pool_size 3",
                  [](ChannelOptions&) {}),
      WarmVariant(std::string(kWarmInFlight) + " (defaults)",
                  "default options but pick = kInFlight (P2C on calls in "
                  "flight, the default before kLatency)",
                  [](ChannelOptions& options) {
                    options.pick = PickPolicy::kInFlight;
                  }),
      WarmVariant(kWarm,
                  "Check polling every 200 ms (no Watch), timeout 500 ms, 2 "
                  "failures evict; outlier ejection after 5 failures in a "
                  "row, DEADLINE_EXCEEDED counted",
                  [](ChannelOptions& options) {
                    options.health_check.watch = false;
                    options.health_check.interval = milliseconds(200);
                    options.health_check.no_traffic_interval =
                        milliseconds(200);
                    options.health_check.timeout = milliseconds(500);
                    options.outlier_ejection.failure_codes = {
                        grpc::StatusCode::DEADLINE_EXCEEDED};
                  }),
      {kRoundRobin, "client health checking (healthCheckConfig)",
       [](const std::string& target)
           -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> {
         return CreatePlainChannel(target, PlainPolicy::kRoundRobin);
       }},
      {std::string(kRoundRobin) + "+keepalive",
       "client health checking, keepalive ping every 1 s, 1 s timeout",
       [](const std::string& target)
           -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> {
         grpc::ChannelArguments args;
         args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 1000);
         args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 1000);
         args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
         return CreatePlainChannel(target, PlainPolicy::kRoundRobin, args);
       }},
  };
}

// What one repetition saw after the fault.
struct Outcome {
  int failed = 0;                 // calls that ended, failed, after the fault
  int deadline_exceeded = 0;      // of which timed out
  int calls = 0;                  // calls that ended after the fault
  bool recovered = false;         // no failure among calls started in kQuiet
  double last_failure_end_s = 0;  // after the fault
  double last_failure_start_s = 0;
  int failed_before_fault = 0;
  // warm only (-1 otherwise): calls in flight on the hung (SIGSTOP) and on
  // the killed backend just before the fault.
  int in_flight_hung = -1;
  int in_flight_killed = -1;
};

Outcome Analyze(const std::vector<CallRecord>& calls, Clock::time_point fault,
                Clock::time_point window_end) {
  auto since_fault = [&](Clock::time_point t) {
    return std::chrono::duration<double>(t - fault).count();
  };
  Outcome outcome;
  outcome.recovered = true;
  for (const CallRecord& call : calls) {
    if (call.end < fault) {
      outcome.failed_before_fault += !call.ok();
      continue;
    }
    ++outcome.calls;
    if (call.ok()) continue;
    ++outcome.failed;
    outcome.deadline_exceeded +=
        call.code == grpc::StatusCode::DEADLINE_EXCEEDED;
    outcome.last_failure_end_s =
        std::max(outcome.last_failure_end_s, since_fault(call.end));
    outcome.last_failure_start_s =
        std::max(outcome.last_failure_start_s, since_fault(call.start));
    if (call.start >= window_end - kQuiet) outcome.recovered = false;
  }
  return outcome;
}

absl::StatusOr<Outcome> RunOnce(const Variant& variant, milliseconds window) {
  std::vector<std::unique_ptr<ChildBackend>> backends;
  std::vector<std::string> addresses;
  for (int i = 0; i < kBackends; ++i) {
    backends.push_back(
        std::make_unique<ChildBackend>("127.0.0." + std::to_string(i + 1)));
    addresses.push_back(backends.back()->address());
  }
  std::string target = "ipv4:";
  for (size_t i = 0; i < addresses.size(); ++i) {
    target += (i ? "," : "") + addresses[i];
  }
  auto channel = variant.create(target);
  if (!channel.ok()) return channel.status();
  if (absl::Status ready = WaitForReady(**channel, variant.name); !ready.ok()) {
    return ready;
  }
  LoadOptions options;
  options.threads = kThreads;
  options.deadline = kDeadline;
  const Clock::time_point fault = Clock::now() + kBeforeFault;
  const Clock::time_point window_end = fault + window;
  Load load(*channel, options, window_end - Clock::now());
  std::this_thread::sleep_until(fault);  // the load runs meanwhile
  // Each count just before its own fault: Kill() waits for the child to be
  // reaped (milliseconds), and the other backend serves meanwhile.
  auto warm = std::dynamic_pointer_cast<warm::Channel>(*channel);
  const auto in_flight_on = [&](int backend) {
    return warm != nullptr ? InFlightOn(*warm, addresses[backend]) : -1;
  };
  const Clock::time_point faulted = Clock::now();
  const int in_flight_killed = in_flight_on(0);
  backends[0]->Kill();
  const int in_flight_hung = in_flight_on(1);
  backends[1]->Stop();
  load.Join();
  Outcome outcome = Analyze(load.Records(), faulted, window_end);
  outcome.in_flight_hung = in_flight_hung;
  outcome.in_flight_killed = in_flight_killed;
  return outcome;
}

}  // namespace

absl::StatusOr<ScenarioReport> RunFailover(const BenchConfig& config) {
  const int reps = config.reps > 0 ? config.reps : config.smoke ? 1 : 5;
  const milliseconds window(static_cast<int64_t>(
      1000 * (config.failover_window > 0 ? config.failover_window
              : config.smoke             ? 2.5
                                         : 8)));
  const std::vector<Variant> variants = Variants();
  std::vector<std::vector<Outcome>> outcomes(variants.size());
  for (int rep = 0; rep < reps; ++rep) {
    for (int v : RotatedOrder(rep, static_cast<int>(variants.size()))) {
      absl::StatusOr<Outcome> outcome = RunOnce(variants[v], window);
      if (!outcome.ok()) return outcome.status();
      outcomes[v].push_back(*outcome);
    }
  }

  ScenarioReport report;
  report.name = "failover";
  std::vector<JsonObject> per_variant;
  MarkdownTable table({"channel", "configuration",
                       "failed calls after the fault, median (range)",
                       "of which timed out / in flight on the hung backend "
                       "at the fault",
                       "in flight on the killed backend at the fault",
                       "last failure ended, s after the fault",
                       "calls failing at the end of the window",
                       "failed before the fault"});
  for (size_t v = 0; v < variants.size(); ++v) {
    std::vector<double> failed, timed_out, last_end, last_start, calls,
        in_flight_hung, in_flight_killed;
    int still_failing = 0, before = 0;
    for (const Outcome& outcome : outcomes[v]) {
      failed.push_back(outcome.failed);
      timed_out.push_back(outcome.deadline_exceeded);
      last_end.push_back(outcome.last_failure_end_s);
      last_start.push_back(outcome.last_failure_start_s);
      calls.push_back(outcome.calls);
      in_flight_hung.push_back(outcome.in_flight_hung);
      in_flight_killed.push_back(outcome.in_flight_killed);
      still_failing += !outcome.recovered;
      before += outcome.failed_before_fault;
    }
    per_variant.push_back(
        JsonObject()
            .Set("channel", variants[v].name)
            .Set("configuration", variants[v].setup)
            .Set("failed_calls", failed)
            .Set("failed_calls_summary", Summarize(failed))
            .Set("deadline_exceeded", timed_out)
            .Set("calls_after_fault", calls)
            .Set("in_flight_hung_at_fault", in_flight_hung)
            .Set("in_flight_killed_at_fault", in_flight_killed)
            .Set("last_failure_end_s", last_end)
            .Set("last_failure_end_s_summary", Summarize(last_end))
            .Set("last_failure_start_s", last_start)
            .Set("reps_still_failing_at_window_end", double(still_failing))
            .Set("failed_before_fault", double(before)));
    const std::string end_cell =
        still_failing == reps
            ? "> " + Fixed(window.count() / 1000.0, 0) + " (never stopped)"
            : Range(Summarize(last_end), 2);
    const bool counted = !in_flight_hung.empty() && in_flight_hung[0] >= 0;
    table.AddRow({variants[v].name, variants[v].setup,
                  Range(Summarize(failed), 0),
                  Range(Summarize(timed_out), 0) + " / " +
                      (counted ? Range(Summarize(in_flight_hung), 0) : "–"),
                  counted ? Range(Summarize(in_flight_killed), 0) : "–",
                  end_cell,
                  std::to_string(still_failing) + " of " +
                      std::to_string(reps) + " reps",
                  std::to_string(before)});
  }
  report.json.Set("backends", double(kBackends))
      .Set("threads", double(kThreads))
      .Set("call_deadline_ms", double(kDeadline.count()))
      .Set("window_s", window.count() / 1000.0)
      .Set("quiet_s", kQuiet.count() / 1000.0)
      .Set("reps", double(reps))
      .Set("variants", per_variant);
  report.markdown =
      "### failover\n\n3 backends in child processes (127.0.0.1-3), " +
      std::to_string(kThreads) +
      " closed-loop callers, call deadline 1 s. After 1 s of load the first "
      "backend is killed (SIGKILL) and the second hung (SIGSTOP); calls are "
      "watched for " +
      Fixed(window.count() / 1000.0, 0) +
      " s more. \"Failing at the end\": a call started in the last 2 s of "
      "the window failed. \"In flight\": warm's Channel::Members() just "
      "before the fault. " +
      std::to_string(reps) + " repetitions, new backends each time.\n\n" +
      table.ToString();
  return report;
}

}  // namespace bench
}  // namespace warm
