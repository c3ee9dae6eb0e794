// Scenario "slow_backend": five backends, one answering 50 ms late; closed-
// loop callers; latency percentiles through warm channels, one per
// PickPolicy (the default, kLatency; kInFlight; kPeakEwma), vs plain gRPC
// round_robin. Goal (the default): warm p99 <= 0.2 x and p99.9 <= 0.5 x
// round_robin's.
//
// How many calls still reach the slow backend depends on how many callers
// there are (P2C on calls in flight alone sends it more as they grow), so
// the scenario runs at several caller counts.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <thread>

#include "bench/bench_backend.h"
#include "bench/channels.h"
#include "bench/load.h"
#include "bench/scenarios.h"

namespace warm {
namespace bench {
namespace {

constexpr int kBackends = 5;
constexpr auto kDelay = std::chrono::milliseconds(50);
constexpr double kGoal = 0.2;       // p99 / round_robin p99
constexpr double kGoalP999 = 0.5;  // p99.9 / round_robin p99.9
// Percentiles written for the plot.
const double kPlotPercentiles[] = {1,    10,   25,    50,    75,   90,
                                   95,   97,   98,    99,    99.5, 99.7,
                                   99.8, 99.9, 99.95, 99.97, 99.99};

// One repetition's latency figures for one channel, in milliseconds.
struct Latency {
  double p50 = 0, p99 = 0, p999 = 0;
  double qps = 0;
  double slow_share = 0;  // fraction of calls answered by the slow backend
  int failures = 0;
  // warm only: calls in flight on the slow backend's member and on each
  // other member, mean of samples taken during the measurement.
  double slow_in_flight = 0;
  double other_in_flight = 0;
};

// Samples a warm channel's calls in flight per member (Channel::Members())
// every few milliseconds, to show how P2C treats the slow backend.
class InFlightSampler {
 public:
  InFlightSampler(std::shared_ptr<warm::Channel> channel,
                  std::string slow_address)
      : channel_(std::move(channel)), slow_address_(std::move(slow_address)) {
    if (channel_ != nullptr) thread_ = std::thread([this] { Run(); });
  }
  // Stops sampling; adds the means to `latency`.
  void Finish(Latency& latency) {
    if (channel_ == nullptr) return;
    stop_ = true;
    thread_.join();
    latency.slow_in_flight = slow_samples_ ? slow_sum_ / slow_samples_ : 0;
    latency.other_in_flight = other_samples_ ? other_sum_ / other_samples_ : 0;
  }

 private:
  static constexpr auto kEvery = std::chrono::milliseconds(5);

  void Run() {
    // Bounded by the measurement: Finish() stops it.
    while (!stop_.load()) {
      for (const MemberInfo& member : channel_->Members()) {
        if (member.address == slow_address_) {
          slow_sum_ += member.in_flight;
          ++slow_samples_;
        } else {
          other_sum_ += member.in_flight;
          ++other_samples_;
        }
      }
      std::this_thread::sleep_for(kEvery);  // a sampling period
    }
  }

  const std::shared_ptr<warm::Channel> channel_;
  const std::string slow_address_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  double slow_sum_ = 0, other_sum_ = 0;
  int slow_samples_ = 0, other_samples_ = 0;
};

Latency Measure(const std::vector<CallRecord>& calls,
                const std::string& slow_address,
                std::vector<double>* all_latencies_ms) {
  std::vector<double> ms;
  Latency latency;
  int slow = 0;
  for (const CallRecord& call : calls) {
    if (!call.ok()) {
      ++latency.failures;
      continue;
    }
    ms.push_back(call.latency_us() / 1000);
    slow += call.backend == slow_address;
  }
  all_latencies_ms->insert(all_latencies_ms->end(), ms.begin(), ms.end());
  std::sort(ms.begin(), ms.end());
  latency.p50 = Percentile(ms, 50);
  latency.p99 = Percentile(ms, 99);
  latency.p999 = Percentile(ms, 99.9);
  latency.slow_share = ms.empty() ? 0 : double(slow) / ms.size();
  latency.qps = QpsOf(calls);
  return latency;
}

struct Variant {
  const char* name;
  std::shared_ptr<grpc::ChannelInterface> channel;
  std::shared_ptr<warm::Channel> warm;  // to sample; null for round_robin
  std::vector<Latency> reps;
  std::vector<double> all_ms;  // every call of every repetition
  // warm only: this variant's p99 and p99.9 / round_robin's, per repetition.
  std::vector<double> p99_ratios, p999_ratios;
};

// The warm channels compared, each with pool 5 (a member per backend);
// `pick` unset: the default.
struct WarmSetup {
  const char* name;
  std::optional<PickPolicy> pick;
};
constexpr size_t kRoundRobinIndex = 1;

std::vector<double> Field(const std::vector<Latency>& reps,
                          double Latency::*field) {
  std::vector<double> values;
  for (const Latency& latency : reps) values.push_back(latency.*field);
  return values;
}

}  // namespace

absl::StatusOr<ScenarioReport> RunSlowBackend(const BenchConfig& config) {
  const int reps = config.reps > 0 ? config.reps : config.smoke ? 1 : 5;
  const double seconds = config.seconds > 0 ? config.seconds
                         : config.smoke     ? 0.3
                                            : 2;
  const std::vector<int> thread_counts =
      !config.threads.empty() ? config.threads
      : config.smoke          ? std::vector<int>{4}
                              : std::vector<int>{4, 8, 16, 32, 64};

  auto backends = StartBackends(kBackends, {kDelay});
  if (!backends.ok()) return backends.status();
  const std::string slow_address = (*backends)[0]->address();
  const std::string target = Ipv4Target(AddressesOf(*backends));

  ScenarioReport report;
  report.name = "slow_backend";
  std::vector<JsonObject> runs;
  MarkdownTable table({"callers", "channel", "p50 ms", "p99 ms", "p99.9 ms",
                       "QPS", "calls to the slow backend",
                       "in flight: slow member / each other", "p99 / rr p99",
                       "p99.9 / rr p99.9"});
  std::vector<std::string> plot_columns;
  std::vector<std::vector<double>> plot_values;
  bool all_met = true;
  // The default first, round_robin second (kRoundRobinIndex): the plot
  // script and the smoke test rely on the order.
  const WarmSetup warm_setups[] = {{kWarm, std::nullopt},
                                   {kWarmInFlight, PickPolicy::kInFlight},
                                   {kWarmPeakEwma, PickPolicy::kPeakEwma}};
  for (int threads : thread_counts) {
    std::vector<Variant> variants;
    for (const WarmSetup& setup : warm_setups) {
      ChannelOptions options;
      options.pool_size = kBackends;
      if (setup.pick.has_value()) options.pick = *setup.pick;
      auto warm = CreateWarmChannel(target, std::move(options));
      if (!warm.ok()) return warm.status();
      variants.push_back({setup.name, *warm, *warm});
      if (variants.size() == kRoundRobinIndex) {
        variants.push_back(
            {kRoundRobin, CreatePlainChannel(target, PlainPolicy::kRoundRobin),
             nullptr});
      }
    }
    LoadOptions load;
    load.threads = threads;
    load.record_backend = true;
    for (Variant& variant : variants) {
      if (absl::Status ready = WaitForReady(*variant.channel, variant.name);
          !ready.ok()) {
        return ready;
      }
      RunLoad(variant.channel, load, std::chrono::milliseconds(300));
    }
    const auto duration = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(seconds));
    const Variant& rr = variants[kRoundRobinIndex];
    for (int rep = 0; rep < reps; ++rep) {
      for (int v : RotatedOrder(rep, static_cast<int>(variants.size()))) {
        Variant& variant = variants[v];
        InFlightSampler sampler(variant.warm, slow_address);
        std::vector<CallRecord> calls =
            RunLoad(variant.channel, load, duration);
        Latency latency = Measure(calls, slow_address, &variant.all_ms);
        sampler.Finish(latency);
        variant.reps.push_back(latency);
      }
      for (Variant& variant : variants) {
        if (variant.warm == nullptr) continue;
        variant.p99_ratios.push_back(variant.reps.back().p99 /
                                     rr.reps.back().p99);
        variant.p999_ratios.push_back(variant.reps.back().p999 /
                                      rr.reps.back().p999);
      }
    }
    const Summary ratio = Summarize(variants[0].p99_ratios);
    const Summary ratio_p999 = Summarize(variants[0].p999_ratios);
    const bool met = ratio.median <= kGoal && ratio_p999.median <= kGoalP999;
    all_met = all_met && met;
    std::vector<JsonObject> per_variant;
    for (Variant& variant : variants) {
      const Summary p50 = Summarize(Field(variant.reps, &Latency::p50));
      const Summary p99 = Summarize(Field(variant.reps, &Latency::p99));
      const Summary p999 = Summarize(Field(variant.reps, &Latency::p999));
      const Summary share =
          Summarize(Field(variant.reps, &Latency::slow_share));
      const Summary qps = Summarize(Field(variant.reps, &Latency::qps));
      const Summary slow_in_flight =
          Summarize(Field(variant.reps, &Latency::slow_in_flight));
      const Summary other_in_flight =
          Summarize(Field(variant.reps, &Latency::other_in_flight));
      const Summary p99_ratio = Summarize(variant.p99_ratios);
      const Summary p999_ratio = Summarize(variant.p999_ratios);
      const bool is_warm = variant.warm != nullptr;
      int failures = 0;
      for (const Latency& latency : variant.reps) failures += latency.failures;
      per_variant.push_back(JsonObject()
                                .Set("channel", variant.name)
                                .Set("p50_ms", p50)
                                .Set("p99_ms", p99)
                                .Set("p999_ms", p999)
                                .Set("slow_backend_share", share)
                                .Set("qps", qps)
                                .Set("failed_calls", double(failures))
                                .Set("calls", double(variant.all_ms.size())));
      if (is_warm) {
        per_variant.back()
            .Set("slow_member_in_flight", slow_in_flight)
            .Set("other_member_in_flight", other_in_flight)
            .Set("ratio_p99_round_robin", variant.p99_ratios)
            .Set("ratio_p99_summary", p99_ratio)
            .Set("ratio_p999_round_robin", variant.p999_ratios)
            .Set("ratio_p999_summary", p999_ratio);
      }
      table.AddRow({std::to_string(threads), variant.name, Range(p50, 2),
                    Range(p99, 2), Range(p999, 2), Fixed(qps.median, 0),
                    Fixed(share.median * 100, 3) + " %",
                    is_warm ? Fixed(slow_in_flight.median, 2) + " / " +
                                  Fixed(other_in_flight.median, 2)
                            : "",
                    is_warm ? "**" + Range(p99_ratio, 3) + "**" : "",
                    is_warm ? "**" + Range(p999_ratio, 3) + "**" : ""});
      std::sort(variant.all_ms.begin(), variant.all_ms.end());
      plot_columns.push_back(std::string(variant.name) + ", " +
                             std::to_string(threads) + " callers");
      std::vector<double> column;
      for (double p : kPlotPercentiles) {
        column.push_back(Percentile(variant.all_ms, p));
      }
      plot_values.push_back(std::move(column));
    }
    runs.push_back(JsonObject()
                       .Set("threads", double(threads))
                       .Set("variants", per_variant)
                       .Set("goal_met", met));
  }

  if (!config.slow_plot_data.empty()) {
    std::ofstream out(config.slow_plot_data);
    out << "percentile";
    for (const std::string& column : plot_columns)
      out << "\t\"" << column << "\"";
    out << "\n";
    for (size_t i = 0; i < std::size(kPlotPercentiles); ++i) {
      out << kPlotPercentiles[i];
      for (const auto& column : plot_values) out << "\t" << column[i];
      out << "\n";
    }
    if (!out) {
      return absl::UnavailableError("cannot write " + config.slow_plot_data);
    }
  }

  report.json.Set("backends", double(kBackends))
      .Set("slow_delay_ms", double(kDelay.count()))
      .Set("seconds", seconds)
      .Set("reps", double(reps))
      .Set("runs", runs)
      .Set("goal",
           "default warm p99 <= 0.2 x and p99.9 <= 0.5 x round_robin's")
      .Set("goal_met", all_met);
  std::string callers;
  for (int threads : thread_counts) {
    callers += (callers.empty() ? "" : ", ") + std::to_string(threads);
  }
  report.markdown =
      "### slow_backend\n\nUnary Echo calls, 5 in-process backends "
      "(127.0.0.1-5), the first answering 50 ms late; " +
      callers + " closed-loop callers; " + Fixed(seconds, 1) +
      " s per measurement, " + std::to_string(reps) +
      " repetitions, order rotated; percentiles of every call of a "
      "repetition, median (range) over repetitions. warm: pool 5 (a member "
      "per backend), default options (PickPolicy::kLatency: latency x "
      "(calls in flight + 1)); \"warm, in-flight\": PickPolicy::kInFlight "
      "(P2C on calls in flight); \"warm, peak-EWMA\": PickPolicy::kPeakEwma "
      "(peak-EWMA latency x (calls in flight + 1)). round_robin with client "
      "health checking.\n\n" +
      table.ToString() +
      "\nGoal default warm p99 <= 0.2 x and p99.9 <= 0.5 x round_robin's: **" +
      GoalWord(all_met) + "**" +
      (all_met ? "" : " (at least one caller count)") + ".\n";
  return report;
}

}  // namespace bench
}  // namespace warm
