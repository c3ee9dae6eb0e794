// Scenario "overhead": unary QPS through a warm channel vs plain gRPC
// round_robin (and pick_first) over the same three fast backends, several
// closed-loop callers, repetitions interleaved; the figure is the median of
// the per-repetition ratios (goal: warm / round_robin >= 0.98).

#include <httplib.h>
#include <warm/diagnostics.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "bench/bench_backend.h"
#include "bench/channels.h"
#include "bench/load.h"
#include "bench/scenarios.h"

namespace warm {
namespace bench {
namespace {

// A Prometheus-like scraper of a warm::DiagnosticsServer in this process:
// /metrics and /channels.json every `interval`, until destroyed.
class Scraper {
 public:
  static absl::StatusOr<std::unique_ptr<Scraper>> Start(
      std::chrono::milliseconds interval) {
    auto server = DiagnosticsServer::Start("127.0.0.1:0");
    if (!server.ok()) return server.status();
    return std::unique_ptr<Scraper>(new Scraper(*std::move(server), interval));
  }
  ~Scraper() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  int scrapes() const { return scrapes_; }
  int failures() const { return failures_; }

 private:
  Scraper(std::unique_ptr<DiagnosticsServer> server,
          std::chrono::milliseconds interval)
      : server_(std::move(server)), thread_([this, interval] {
          httplib::Client client("127.0.0.1", server_->port());
          std::unique_lock<std::mutex> lock(mu_);
          while (!wake_.wait_for(lock, interval, [&] { return stop_; })) {
            lock.unlock();
            for (const char* path : {"/metrics", "/channels.json"}) {
              httplib::Result result = client.Get(path);
              (result && result->status == 200 ? scrapes_ : failures_)++;
            }
            lock.lock();
          }
        }) {}

  std::unique_ptr<DiagnosticsServer> server_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  std::atomic<int> scrapes_{0}, failures_{0};
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace

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

  std::unique_ptr<Scraper> scraper;
  if (config.scrape_ms > 0) {
    auto started =
        Scraper::Start(std::chrono::milliseconds(config.scrape_ms));
    if (!started.ok()) return started.status();
    scraper = *std::move(started);
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

  int scrapes = 0, scrape_failures = 0;
  if (scraper != nullptr) {
    scrapes = scraper->scrapes();
    scrape_failures = scraper->failures();
    scraper.reset();
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
      .Set("scrape_ms", double(config.scrape_ms))
      .Set("scrapes", double(scrapes))
      .Set("scrape_failures", double(scrape_failures))
      .Set("goal", "warm / round_robin >= 0.98")
      .Set("goal_met", met);
  report.markdown =
      "### overhead\n\nUnary Echo calls, 3 in-process backends "
      "(127.0.0.1-3), " +
      std::to_string(threads) + " closed-loop callers, " + Fixed(seconds, 1) +
      " s per measurement, " + std::to_string(reps) +
      " repetitions with the channel order rotated. warm: default options "
      "(pool 3, a Health/Watch stream per member). round_robin with client health "
      "checking; pick_first uses one backend." +
      (config.scrape_ms > 0
           ? " Meanwhile warm's diagnostics server was scraped (/metrics and "
             "/channels.json) every " +
                 std::to_string(config.scrape_ms) + " ms: " +
                 std::to_string(scrapes) + " fetches, " +
                 std::to_string(scrape_failures) + " failed."
           : std::string()) +
      "\n\n" +
      table.ToString() + "\nGoal warm / round_robin >= 0.98: **" +
      GoalWord(met) + "** (median " + Fixed(rr.median, 3) + ").\n";
  return report;
}

}  // namespace bench
}  // namespace warm
