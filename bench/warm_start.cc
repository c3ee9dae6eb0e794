// Scenario "warm_start": how long the first call on a new channel takes.
// A warm channel connects and health-checks its members when it is created,
// so after WaitForConnected() its first call costs what any call costs; a
// plain gRPC channel connects on its first call. Measured per repetition on
// new channels to three in-process backends: the first call of a warm
// channel after WaitForConnected(), and right after creation; the first call
// of plain pick_first and round_robin channels right after creation, and of
// pick_first after WaitForConnected(); and each channel's steady state (the
// median of the next calls).

#include <map>

#include "bench/bench_backend.h"
#include "bench/channels.h"
#include "bench/load.h"
#include "bench/scenarios.h"
#include "tests/testing/wait.h"

namespace warm {
namespace bench {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kDeadline{10000};
constexpr int kSteadyCalls = 100;

// One way of starting a channel and making its first call.
struct Case {
  std::string name;
  std::string description;
  enum class Wait {
    kNone,        // call right after creation
    kConnected,   // WaitForConnected(): a warm channel's first member ready
    kAllMembers,  // warm: every member pickable
  } wait;
  // Creates the channel.
  std::function<absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>>()>
      create;
};

struct Timing {
  double create_to_ready_ms = 0;  // only when waiting
  double first_ms = 0;
  double steady_ms = 0;  // median of kSteadyCalls calls after the first
};

absl::StatusOr<Timing> Measure(const Case& c) {
  const Clock::time_point created = Clock::now();
  auto channel = c.create();
  if (!channel.ok()) return channel.status();
  Timing timing;
  if (c.wait != Case::Wait::kNone) {
    if (absl::Status ready = WaitForReady(**channel, c.name); !ready.ok()) {
      return ready;
    }
  }
  if (c.wait == Case::Wait::kAllMembers) {
    auto* warm = dynamic_cast<warm::Channel*>(channel->get());
    const bool all = warm != nullptr && testing::WaitFor([&] {
                       for (const MemberInfo& member : warm->Members()) {
                         if (!member.pickable) return false;
                       }
                       return true;
                     });
    if (!all)
      return absl::DeadlineExceededError(c.name + ": members not all pickable");
  }
  if (c.wait != Case::Wait::kNone) {
    timing.create_to_ready_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - created)
            .count();
  }
  auto stub = warm::testing::EchoTest::NewStub(*channel);
  const CallRecord first = CallOnce(*stub, kDeadline);
  if (!first.ok()) {
    return absl::UnavailableError(c.name + ": first call failed with code " +
                                  std::to_string(first.code));
  }
  timing.first_ms = first.latency_us() / 1000;
  std::vector<double> steady;
  for (int i = 0; i < kSteadyCalls; ++i) {
    const CallRecord call = CallOnce(*stub, kDeadline);
    if (call.ok()) steady.push_back(call.latency_us() / 1000);
  }
  timing.steady_ms = Median(steady);
  return timing;
}

std::vector<Case> Cases(const std::string& target) {
  auto warm =
      [target]() -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> {
    auto channel = CreateWarmChannel(target);
    if (!channel.ok()) return channel.status();
    return std::shared_ptr<grpc::ChannelInterface>(*channel);
  };
  auto plain = [target](PlainPolicy policy) {
    return
        [target,
         policy]() -> absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> {
          return CreatePlainChannel(target, policy);
        };
  };
  return {
      {kWarm, "after WaitForConnected()", Case::Wait::kConnected, warm},
      {std::string(kWarm) + " (all members)", "after every member is pickable",
       Case::Wait::kAllMembers, warm},
      {std::string(kWarm) + " (no wait)", "right after creation",
       Case::Wait::kNone, warm},
      {kPickFirst, "right after creation", Case::Wait::kNone,
       plain(PlainPolicy::kPickFirst)},
      {kRoundRobin, "right after creation", Case::Wait::kNone,
       plain(PlainPolicy::kRoundRobin)},
      {std::string(kPickFirst) + " (waited)", "after WaitForConnected()",
       Case::Wait::kConnected, plain(PlainPolicy::kPickFirst)},
  };
}

}  // namespace

absl::StatusOr<ScenarioReport> RunWarmStart(const BenchConfig& config) {
  const int reps = config.reps > 0 ? config.reps : config.smoke ? 1 : 20;
  auto backends = StartBackends(3);
  if (!backends.ok()) return backends.status();
  const std::vector<Case> cases = Cases(Ipv4Target(AddressesOf(*backends)));
  std::vector<std::vector<Timing>> timings(cases.size());
  for (int rep = 0; rep < reps; ++rep) {
    for (int c : RotatedOrder(rep, static_cast<int>(cases.size()))) {
      absl::StatusOr<Timing> timing = Measure(cases[c]);
      if (!timing.ok()) return timing.status();
      timings[c].push_back(*timing);
    }
  }

  auto field = [](const std::vector<Timing>& all, double Timing::*member) {
    std::vector<double> values;
    for (const Timing& timing : all) values.push_back(timing.*member);
    return values;
  };
  const Summary warm_first = Summarize(field(timings[0], &Timing::first_ms));
  const Summary warm_steady = Summarize(field(timings[0], &Timing::steady_ms));
  ScenarioReport report;
  report.name = "warm_start";
  std::vector<JsonObject> per_case;
  MarkdownTable table({"channel", "first call", "first call ms, median (range)",
                       "steady-state call ms, median (range)",
                       "first / warm's first", "creation to READY ms"});
  for (size_t c = 0; c < cases.size(); ++c) {
    const std::vector<double> first = field(timings[c], &Timing::first_ms);
    const Summary first_summary = Summarize(first);
    const Summary steady = Summarize(field(timings[c], &Timing::steady_ms));
    const Summary ready =
        Summarize(field(timings[c], &Timing::create_to_ready_ms));
    per_case.push_back(JsonObject()
                           .Set("channel", cases[c].name)
                           .Set("first_call", cases[c].description)
                           .Set("first_ms", first)
                           .Set("first_ms_summary", first_summary)
                           .Set("steady_ms_summary", steady)
                           .Set("create_to_ready_ms_summary", ready));
    table.AddRow({cases[c].name, cases[c].description, Range(first_summary, 3),
                  Range(steady, 3),
                  Fixed(first_summary.median / warm_first.median, 1),
                  cases[c].wait != Case::Wait::kNone ? Range(ready, 1) : ""});
  }
  report.json.Set("backends", 3.0)
      .Set("reps", double(reps))
      .Set("steady_calls", double(kSteadyCalls))
      .Set("cases", per_case)
      .Set("warm_first_over_steady", warm_first.median / warm_steady.median);
  report.markdown =
      "### warm_start\n\nNew channels to 3 in-process backends (127.0.0.1-3), "
      "one call at a time; " +
      std::to_string(reps) +
      " repetitions, order rotated. warm: default options (pool 3, a member "
      "is pickable after its first health check). Plain channels have their "
      "own connections (no sharing with earlier channels).\n\n" +
      table.ToString() +
      "\nwarm's first call after WaitForConnected() / its "
      "steady state: **" +
      Fixed(warm_first.median / warm_steady.median, 2) + "**.\n";
  return report;
}

}  // namespace bench
}  // namespace warm
