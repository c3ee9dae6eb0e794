// Scenario "netfault": three backends, each on a host of its own (a network
// namespace behind a veth pair, tests/testing/net_host.h), under load; one
// backend's network fails: a partition, 10 % packet loss each way, or every
// TCP packet answered with a reset. The process and its sockets stay up, as
// when a link, a switch or a firewall fails rather than the server.
// Counted: the calls that fail after the fault, how long they go on failing,
// and the latency of the calls that end after it, through a warm channel with
// its default options (pool 3) vs plain gRPC round_robin with client health
// checking, with and without keepalive pings.
//
// Each backend is a BenchBackend in a child process of warm_bench (this
// program run with --netfault-backend) under `ip netns exec`: a server built
// in this process on a thread that joined the namespace would start gRPC
// threads in it that also run this process's client connections (see
// net_host.h). Needs root, ip and nft; without them the scenario reports
// why it was skipped.

#include <algorithm>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/bench_backend.h"
#include "bench/channels.h"
#include "bench/load.h"
#include "bench/scenarios.h"
#include "tests/testing/net_host.h"

namespace warm {
namespace bench {
namespace {

using std::chrono::milliseconds;
using testing::NetHost;

constexpr int kBackends = 3;
constexpr int kThreads = 8;
constexpr milliseconds kDeadline{1000};
constexpr milliseconds kBeforeFault{1000};
// A run still fails at the end of the window when a call started in this
// last part of it failed.
constexpr milliseconds kQuiet{2000};
// Goals: partition.
constexpr double kPartitionLastFailureS = 2;
constexpr int kPartitionSlack = 8;  // failed <= in flight at the fault + this
// Goals: loss10 (warm vs round_robin).
constexpr double kLossP99Ratio = 0.5;

struct Fault {
  std::string name;
  std::string description;
  std::function<absl::Status(NetHost&)> apply;
};

std::vector<Fault> Faults() {
  return {
      {"partition", "every packet in and out dropped",
       [](NetHost& host) { return host.Partition(); }},
      {"loss10", "10 % of packets dropped, each direction",
       [](NetHost& host) { return host.Loss(10); }},
      {"reset", "every TCP packet arriving answered with a RST",
       [](NetHost& host) { return host.Reset(); }},
  };
}

// A channel under test; `warm` is set for warm channels, for introspection.
struct Channels {
  std::shared_ptr<grpc::ChannelInterface> channel;
  std::shared_ptr<warm::Channel> warm;
};

struct Variant {
  std::string name;
  std::string setup;
  std::function<absl::StatusOr<Channels>(const std::string& target)> create;
};

absl::StatusOr<Channels> PlainRoundRobin(const std::string& target,
                                         grpc::ChannelArguments args) {
  return Channels{CreatePlainChannel(target, PlainPolicy::kRoundRobin, args),
                  nullptr};
}

std::vector<Variant> Variants() {
  grpc::ChannelArguments keepalive;
  keepalive.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 1000);
  keepalive.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 1000);
  keepalive.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return {
      {kWarm, "default options but pool_size 3",
       [](const std::string& target) -> absl::StatusOr<Channels> {
         ChannelOptions options;
         options.pool_size = kBackends;
         auto channel = CreateWarmChannel(target, std::move(options));
         if (!channel.ok()) return channel.status();
         return Channels{*channel, *channel};
       }},
      {kRoundRobin, "client health checking (healthCheckConfig)",
       [](const std::string& target) { return PlainRoundRobin(target, {}); }},
      {std::string(kRoundRobin) + "+keepalive",
       "client health checking, keepalive ping every 1 s, 1 s timeout",
       [keepalive](const std::string& target) {
         return PlainRoundRobin(target, keepalive);
       }},
  };
}

// What one run saw of the calls that ended after the fault.
struct Outcome {
  int calls = 0;
  int failed = 0;
  double last_failure_end_s = 0;  // after the fault; 0: none failed
  double last_failure_start_s = 0;
  bool still_failing = false;  // a call started in kQuiet failed
  double p50_ms = 0;
  double p99_ms = 0;
  int failed_before_fault = 0;
  // warm only: calls in flight on the faulted backend's members just before
  // the fault was applied; -1 for plain channels.
  int in_flight_at_fault = -1;
  double fault_apply_ms = 0;  // how long the nft command took
};

Outcome Analyze(const std::vector<CallRecord>& calls, Clock::time_point fault,
                Clock::time_point window_end) {
  auto seconds_after = [fault](Clock::time_point t) {
    return std::chrono::duration<double>(t - fault).count();
  };
  Outcome outcome;
  std::vector<double> latencies_ms;
  for (const CallRecord& call : calls) {
    if (call.end < fault) {
      outcome.failed_before_fault += !call.ok();
      continue;
    }
    ++outcome.calls;
    latencies_ms.push_back(call.latency_us() / 1000);
    if (call.ok()) continue;
    ++outcome.failed;
    outcome.last_failure_end_s =
        std::max(outcome.last_failure_end_s, seconds_after(call.end));
    outcome.last_failure_start_s =
        std::max(outcome.last_failure_start_s, seconds_after(call.start));
    outcome.still_failing |= call.start >= window_end - kQuiet;
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  outcome.p50_ms = Percentile(latencies_ms, 50);
  outcome.p99_ms = Percentile(latencies_ms, 99);
  return outcome;
}

// The scenario's three hosts, made once; each run starts fresh backends.
struct Hosts {
  std::vector<std::unique_ptr<NetHost>> hosts;

  absl::Status ClearAll() {
    for (auto& host : hosts) {
      if (absl::Status cleared = host->Clear(); !cleared.ok()) return cleared;
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<Outcome> RunOnce(const BenchConfig& config, Hosts& hosts,
                                const Fault& fault, const Variant& variant,
                                milliseconds window) {
  if (absl::Status cleared = hosts.ClearAll(); !cleared.ok()) return cleared;
  std::vector<std::unique_ptr<NetHost::Server>> servers;
  std::vector<std::string> addresses;
  for (auto& host : hosts.hosts) {
    auto server = host->StartServer(
        {config.self_path, "--netfault-backend", host->address()});
    if (!server.ok()) return server.status();
    addresses.push_back((*server)->address());
    servers.push_back(*std::move(server));
  }
  absl::StatusOr<Channels> channels = variant.create(Ipv4Target(addresses));
  if (!channels.ok()) return channels.status();
  if (absl::Status ready = WaitForReady(*channels->channel, variant.name);
      !ready.ok()) {
    return ready;
  }
  LoadOptions options;
  options.threads = kThreads;
  options.deadline = kDeadline;
  const Clock::time_point fault_at = Clock::now() + kBeforeFault;
  const Clock::time_point window_end = fault_at + window;
  Load load(channels->channel, options, window_end - Clock::now());
  std::this_thread::sleep_until(fault_at);  // the load runs meanwhile
  const int in_flight = channels->warm != nullptr
                            ? InFlightOn(*channels->warm, addresses[0])
                            : -1;
  const Clock::time_point faulted = Clock::now();
  absl::Status applied = fault.apply(*hosts.hosts[0]);
  const Clock::time_point fault_applied = Clock::now();
  if (!applied.ok()) return applied;
  load.Join();
  Outcome outcome = Analyze(load.Records(), faulted, window_end);
  outcome.in_flight_at_fault = in_flight;
  outcome.fault_apply_ms =
      std::chrono::duration<double, std::milli>(fault_applied - faulted)
          .count();
  // Faults off before the servers go, so that they shut down at once.
  if (absl::Status cleared = hosts.ClearAll(); !cleared.ok()) return cleared;
  return outcome;
}

// Figures of one (fault, variant) over the repetitions.
struct Cell {
  std::vector<Outcome> reps;

  std::vector<double> Field(double Outcome::*field) const {
    std::vector<double> values;
    for (const Outcome& outcome : reps) values.push_back(outcome.*field);
    return values;
  }
  std::vector<double> Field(int Outcome::*field) const {
    std::vector<double> values;
    for (const Outcome& outcome : reps) values.push_back(outcome.*field);
    return values;
  }
  int StillFailing() const {
    int n = 0;
    for (const Outcome& outcome : reps) n += outcome.still_failing;
    return n;
  }
};

JsonObject CellJson(const Variant& variant, const Cell& cell) {
  JsonObject json;
  json.Set("channel", variant.name)
      .Set("configuration", variant.setup)
      .Set("calls_after_fault", cell.Field(&Outcome::calls))
      .Set("failed_calls", cell.Field(&Outcome::failed))
      .Set("failed_calls_summary", Summarize(cell.Field(&Outcome::failed)))
      .Set("last_failure_end_s", cell.Field(&Outcome::last_failure_end_s))
      .Set("last_failure_start_s", cell.Field(&Outcome::last_failure_start_s))
      .Set("reps_still_failing_at_window_end", double(cell.StillFailing()))
      .Set("p50_ms", cell.Field(&Outcome::p50_ms))
      .Set("p99_ms", cell.Field(&Outcome::p99_ms))
      .Set("p99_ms_summary", Summarize(cell.Field(&Outcome::p99_ms)))
      .Set("failed_before_fault", cell.Field(&Outcome::failed_before_fault))
      .Set("fault_apply_ms", cell.Field(&Outcome::fault_apply_ms));
  if (variant.name == kWarm) {
    json.Set("in_flight_at_fault", cell.Field(&Outcome::in_flight_at_fault));
  }
  return json;
}

std::vector<std::string> CellRow(const Fault& fault, const Variant& variant,
                                 const Cell& cell, milliseconds window) {
  const int reps = static_cast<int>(cell.reps.size());
  const Summary failed = Summarize(cell.Field(&Outcome::failed));
  // A run with no failure has no last failure; "-" when none had one.
  auto last = [&](double Outcome::*field) {
    return failed.max == 0 ? std::string("-")
                           : Range(Summarize(cell.Field(field)), 2);
  };
  std::string end_cell = last(&Outcome::last_failure_end_s);
  if (cell.StillFailing() == reps) {
    end_cell =
        "> " + absl::StrCat(window.count() / 1000.0) + " (never stopped)";
  }
  const std::string in_flight =
      variant.name == kWarm
          ? Range(Summarize(cell.Field(&Outcome::in_flight_at_fault)), 0)
          : "";
  return {fault.name,
          variant.name,
          Range(failed, 0),
          end_cell,
          last(&Outcome::last_failure_start_s),
          std::to_string(cell.StillFailing()) + " of " + std::to_string(reps),
          Range(Summarize(cell.Field(&Outcome::p50_ms)), 2),
          Range(Summarize(cell.Field(&Outcome::p99_ms)), 1),
          in_flight};
}

ScenarioReport Skipped(const std::string& reason) {
  ScenarioReport report;
  report.name = "netfault";
  report.json.Set("skipped", reason);
  report.markdown = "### netfault\n\nnetfault skipped: " + reason + "\n";
  std::cerr << "warm_bench: netfault skipped: " << reason << "\n";
  return report;
}

}  // namespace

absl::StatusOr<ScenarioReport> RunNetfault(const BenchConfig& config) {
  if (const std::string reason = NetHost::SkipReason(); !reason.empty()) {
    return Skipped(reason);
  }
  const int reps = config.reps > 0 ? config.reps : config.smoke ? 1 : 3;
  const milliseconds window(static_cast<int64_t>(
      1000 * (config.failover_window > 0 ? config.failover_window
              : config.smoke             ? 2.5
                                         : 9)));
  Hosts hosts;
  for (int i = 0; i < kBackends; ++i) {
    absl::StatusOr<std::unique_ptr<NetHost>> host = NetHost::Create();
    if (!host.ok()) return host.status();
    hosts.hosts.push_back(*std::move(host));
  }
  const std::vector<Fault> faults = Faults();
  const std::vector<Variant> variants = Variants();
  // cells[fault][variant]
  std::vector<std::vector<Cell>> cells(faults.size(),
                                       std::vector<Cell>(variants.size()));
  for (int rep = 0; rep < reps; ++rep) {
    for (size_t f = 0; f < faults.size(); ++f) {
      for (int v : RotatedOrder(rep, static_cast<int>(variants.size()))) {
        absl::StatusOr<Outcome> outcome =
            RunOnce(config, hosts, faults[f], variants[v], window);
        if (!outcome.ok()) return outcome.status();
        cells[f][v].reps.push_back(*outcome);
      }
    }
  }

  MarkdownTable table(
      {"fault on backend 0", "channel",
       "failed calls after the fault, median (range)",
       "last failed call ended, s after the fault",
       "last failed call started, s after the fault",
       "reps still failing at the window's end", "p50 ms", "p99 ms",
       "warm: calls in flight on the faulted member(s) at the fault"});
  std::vector<JsonObject> fault_json;
  for (size_t f = 0; f < faults.size(); ++f) {
    std::vector<JsonObject> variant_json;
    for (size_t v = 0; v < variants.size(); ++v) {
      variant_json.push_back(CellJson(variants[v], cells[f][v]));
      table.AddRow(CellRow(faults[f], variants[v], cells[f][v], window));
    }
    fault_json.push_back(JsonObject()
                             .Set("fault", faults[f].name)
                             .Set("description", faults[f].description)
                             .Set("variants", variant_json));
  }

  // Goals, judged on medians over the repetitions. Variant 0 is warm,
  // variant 1 round_robin; fault 0 partition, fault 1 loss10.
  const Cell& warm_partition = cells[0][0];
  const double partition_last =
      Median(warm_partition.Field(&Outcome::last_failure_end_s));
  const double partition_failed =
      Median(warm_partition.Field(&Outcome::failed));
  const double partition_in_flight =
      Median(warm_partition.Field(&Outcome::in_flight_at_fault));
  const bool partition_in_time = partition_last <= kPartitionLastFailureS;
  const bool partition_few =
      partition_failed <= partition_in_flight + kPartitionSlack;
  const bool partition_met = partition_in_time && partition_few;
  const double warm_loss_p99 = Median(cells[1][0].Field(&Outcome::p99_ms));
  const double rr_loss_p99 = Median(cells[1][1].Field(&Outcome::p99_ms));
  const double warm_loss_failed = Median(cells[1][0].Field(&Outcome::failed));
  const double rr_loss_failed = Median(cells[1][1].Field(&Outcome::failed));
  const bool loss_fast = warm_loss_p99 <= kLossP99Ratio * rr_loss_p99;
  // "Fewer" cannot be met when round_robin failed none: then none is the
  // goal.
  const bool loss_fewer = warm_loss_failed < rr_loss_failed ||
                          (warm_loss_failed == 0 && rr_loss_failed == 0);
  const bool loss_met = loss_fast && loss_fewer;
  // Each part's verdict too: a goal can be missed by one part alone.
  const std::string goals =
      "- partition, warm: last failed call ended " + Fixed(partition_last, 2) +
      " s after the fault (goal <= " + Fixed(kPartitionLastFailureS, 0) +
      " s): " + GoalWord(partition_in_time) + "; " +
      Fixed(partition_failed, 0) + " failed calls vs " +
      Fixed(partition_in_flight, 0) +
      " in flight on the faulted member(s) at the fault + " +
      std::to_string(kPartitionSlack) +
      " (goal <=): " + GoalWord(partition_few) + " — **" +
      GoalWord(partition_met) + "**\n- loss10: warm p99 " +
      Fixed(warm_loss_p99, 1) + " ms vs " + Fixed(kLossP99Ratio, 1) +
      " x round_robin p99 " + Fixed(rr_loss_p99, 1) + " ms (ratio " +
      Fixed(rr_loss_p99 > 0 ? warm_loss_p99 / rr_loss_p99 : 0, 3) +
      ", goal <= " + Fixed(kLossP99Ratio, 1) + "): " + GoalWord(loss_fast) +
      "; warm " + Fixed(warm_loss_failed, 0) + " failed calls vs round_robin " +
      Fixed(rr_loss_failed, 0) + " (goal: fewer, or none when round_robin failed none): " + GoalWord(loss_fewer) +
      " — **" + GoalWord(loss_met) + "**\n";

  ScenarioReport report;
  report.name = "netfault";
  report.json.Set("backends", double(kBackends))
      .Set("threads", double(kThreads))
      .Set("call_deadline_ms", double(kDeadline.count()))
      .Set("window_s", window.count() / 1000.0)
      .Set("quiet_s", kQuiet.count() / 1000.0)
      .Set("reps", double(reps))
      .Set("faults", fault_json)
      .Set("goals",
           JsonObject()
               .Set("partition_met", partition_met)
               .Set("partition_last_failure_end_s", partition_last)
               .Set("partition_failed", partition_failed)
               .Set("partition_in_flight_at_fault", partition_in_flight)
               .Set("partition_last_failure_met", partition_in_time)
               .Set("partition_failed_met", partition_few)
               .Set("loss10_met", loss_met)
               .Set("loss10_p99_met", loss_fast)
               .Set("loss10_failed_met", loss_fewer)
               .Set("loss10_warm_p99_ms", warm_loss_p99)
               .Set("loss10_round_robin_p99_ms", rr_loss_p99)
               .Set("loss10_warm_failed", warm_loss_failed)
               .Set("loss10_round_robin_failed", rr_loss_failed));
  report.markdown =
      "### netfault\n\n3 backends, each on a host of its own (a network "
      "namespace behind a veth pair; BenchBackend in a child process under "
      "`ip netns exec`), " +
      std::to_string(kThreads) +
      " closed-loop callers, call deadline 1 s. After 1 s of load the "
      "network of backend 0 fails (nftables in its namespace): partition "
      "(every packet dropped), loss10 (10 % of packets dropped, each "
      "direction), reset (every TCP packet arriving answered with a RST); "
      "calls are watched for " +
      absl::StrCat(window.count() / 1000.0) +
      " s more. Latency: calls that ended after the fault, ok or not. "
      "\"Still failing\": a call started in the last 2 s of the window "
      "failed. warm: default options but pool_size 3. " +
      std::to_string(reps) +
      " repetitions, new backends and channels each time.\n\n" +
      table.ToString() + "\nGoals (medians over the repetitions):\n\n" + goals;
  return report;
}

int RunNetfaultBackend(const std::string& host) {
  absl::StatusOr<std::unique_ptr<BenchBackend>> backend =
      BenchBackend::Start(host);
  if (!backend.ok()) {
    std::cerr << "warm_bench --netfault-backend: " << backend.status() << "\n";
    return 1;
  }
  std::cout << "PORT " << (*backend)->port() << "\n" << std::flush;
  // Serves until the parent closes our stdin (or dies).
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}

}  // namespace bench
}  // namespace warm
