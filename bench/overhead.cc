// Scenario "overhead": unary QPS through a warm channel vs plain gRPC
// round_robin (and pick_first) over the same three fast backends, several
// closed-loop callers, repetitions interleaved; the figure is the median of
// the per-repetition ratios (goal: warm / round_robin >= 0.98).

#include "bench/bench_backend.h"
#include "bench/channels.h"
#include "bench/load.h"
#include "bench/scenarios.h"

namespace warm {
namespace bench {

absl::StatusOr<ScenarioReport> RunOverhead(const BenchConfig& config) {
  const int reps = config.reps > 0 ? config.reps : config.smoke ? 1 : 10;
  const double seconds = config.seconds > 0 ? config.seconds
                         : config.smoke     ? 0.3
                                            : 2;
  const int threads =
      config.threads.empty() ? (config.smoke ? 2 : 4) : config.threads.front();
  constexpr double kGoal = 0.98;

  auto backends = StartBackends(3);
  if (!backends.ok()) return backends.status();
  const std::string target = Ipv4Target(AddressesOf(*backends));
  auto warm = CreateWarmChannel(target);  // defaults: pool 3, health checks
  if (!warm.ok()) return warm.status();
  struct Variant {
    const char* name;
    std::shared_ptr<grpc::ChannelInterface> channel;
    std::vector<double> qps;
    int failures = 0;
  };
  std::vector<Variant> variants = {
      {kWarm, *warm},
      {kRoundRobin, CreatePlainChannel(target, PlainPolicy::kRoundRobin)},
      {kPickFirst, CreatePlainChannel(target, PlainPolicy::kPickFirst)},
  };
  LoadOptions load;
  load.threads = threads;
  for (Variant& variant : variants) {
    if (absl::Status ready = WaitForReady(*variant.channel, variant.name);
        !ready.ok()) {
      return ready;
    }
    // Warm-up: connections, registered methods, allocator caches.
    RunLoad(variant.channel, load,
            std::chrono::duration_cast<Clock::duration>(
                std::chrono::duration<double>(std::min(seconds, 0.5))));
  }

  const auto duration = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(seconds));
  std::vector<double> ratio_rr, ratio_pf;
  for (int rep = 0; rep < reps; ++rep) {
    for (int v : RotatedOrder(rep, static_cast<int>(variants.size()))) {
      const std::vector<CallRecord> calls =
          RunLoad(variants[v].channel, load, duration);
      variants[v].qps.push_back(QpsOf(calls));
      variants[v].failures += FailuresIn(calls);
    }
    ratio_rr.push_back(variants[0].qps.back() / variants[1].qps.back());
    ratio_pf.push_back(variants[0].qps.back() / variants[2].qps.back());
  }

  const Summary rr = Summarize(ratio_rr), pf = Summarize(ratio_pf);
  const bool met = rr.median >= kGoal;
  ScenarioReport report;
  report.name = "overhead";
  std::vector<JsonObject> per_variant;
  MarkdownTable table({"channel", "QPS, median (range)", "failed calls",
                       "warm / this, median (range)"});
  for (const Variant& variant : variants) {
    per_variant.push_back(JsonObject()
                              .Set("channel", variant.name)
                              .Set("qps", variant.qps)
                              .Set("qps_summary", Summarize(variant.qps))
                              .Set("failed_calls", double(variant.failures)));
    const std::string ratio =
        variant.name == std::string(kRoundRobin)  ? "**" + Range(rr, 3) + "**"
        : variant.name == std::string(kPickFirst) ? Range(pf, 3)
                                                  : "1";
    table.AddRow({variant.name, Range(Summarize(variant.qps), 0),
                  std::to_string(variant.failures), ratio});
  }
  report.json.Set("backends", 3.0)
      .Set("threads", double(threads))
      .Set("seconds", seconds)
      .Set("reps", double(reps))
      .Set("variants", per_variant)
      .Set("ratio_warm_round_robin", ratio_rr)
      .Set("ratio_warm_round_robin_summary", rr)
      .Set("ratio_warm_pick_first", ratio_pf)
      .Set("ratio_warm_pick_first_summary", pf)
      .Set("goal", "warm / round_robin >= 0.98")
      .Set("goal_met", met);
  report.markdown =
      "### overhead\n\nUnary Echo calls, 3 in-process backends "
      "(127.0.0.1-3), " +
      std::to_string(threads) + " closed-loop callers, " + Fixed(seconds, 1) +
      " s per measurement, " + std::to_string(reps) +
      " repetitions with the channel order rotated. warm: default options "
      "(pool 3, health checks every 5 s). round_robin with client health "
      "checking; pick_first uses one backend.\n\n" +
      table.ToString() + "\nGoal warm / round_robin >= 0.98: **" +
      GoalWord(met) + "** (median " + Fixed(rr.median, 3) + ").\n";
  return report;
}

}  // namespace bench
}  // namespace warm
