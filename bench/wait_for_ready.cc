// Scenario "wait_for_ready": calls made before a DNS name resolves.
//
// A real dnsmasq answers NXDOMAIN for the name at first. Each channel is
// created on it, and 8 callers at once start wait_for_ready calls (20 s
// deadlines), 5 in a row each; 1 s later the name gets three records
// (127.0.0.1-3, the backends). Measured per channel: calls failed (a
// caller-visible failure: the goal is none), and seconds from the record
// until the first call succeeded and until every caller's first call had.
// warm with default options against plain gRPC dns:/// channels (pick_first
// and round_robin), whose resolver tries again after a failed resolution
// with a backoff. Every loop is bounded by the calls' deadlines.

#include <map>
#include <thread>

#include "bench/bench_backend.h"
#include "bench/channels.h"
#include "bench/load.h"
#include "bench/scenarios.h"
#include "tests/testing/dnsmasq.h"
#include "warm/testing/echo.grpc.pb.h"

namespace warm {
namespace bench {
namespace {

using std::chrono::milliseconds;
using testing::Dnsmasq;

constexpr char kHost[] = "late.svc.test";
constexpr int kCallers = 8;
constexpr int kCallsPerCaller = 5;
constexpr milliseconds kDeadline{20000};
constexpr milliseconds kRecordAfter{1000};

struct Outcome {
  int calls = 0;
  int failed = 0;
  double first_ok_s = -1;  // after the record; -1: none succeeded
  double all_first_s = -1;  // every caller's first call done, after the record
};

// Runs the callers on `channel`, adds the record kRecordAfter after they
// started, and waits for them.
Outcome Run(const std::shared_ptr<grpc::ChannelInterface>& channel,
            Dnsmasq& dns) {
  auto stub = warm::testing::EchoTest::NewStub(channel);
  std::vector<std::vector<CallRecord>> records(kCallers);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      for (int n = 0; n < kCallsPerCaller; ++n) {
        records[i].push_back(CallOnce(*stub, kDeadline,
                                      /*record_backend=*/false,
                                      /*wait_for_ready=*/true));
      }
    });
  }
  std::this_thread::sleep_for(kRecordAfter);  // the calls wait meanwhile
  const Clock::time_point record_at = Clock::now();
  dns.SetRecords({{kHost, {"127.0.0.1", "127.0.0.2", "127.0.0.3"}}});
  for (std::thread& caller : callers) caller.join();

  Outcome outcome;
  Clock::time_point first_ok = Clock::time_point::max();
  Clock::time_point all_first = record_at;
  for (const std::vector<CallRecord>& mine : records) {
    for (const CallRecord& call : mine) {
      ++outcome.calls;
      if (!call.ok()) {
        ++outcome.failed;
      } else {
        first_ok = std::min(first_ok, call.end);
      }
    }
    all_first = std::max(all_first, mine.front().end);
  }
  const auto seconds = [&](Clock::time_point t) {
    return std::chrono::duration<double>(t - record_at).count();
  };
  if (first_ok != Clock::time_point::max()) {
    outcome.first_ok_s = seconds(first_ok);
  }
  outcome.all_first_s = seconds(all_first);
  return outcome;
}

}  // namespace

absl::StatusOr<ScenarioReport> RunWaitForReady(const BenchConfig& config) {
  const int reps = config.reps > 0 ? config.reps : config.smoke ? 1 : 3;
  Dnsmasq dns(/*local_ttl_seconds=*/1);
  std::vector<std::unique_ptr<BenchBackend>> backends;
  int port = 0;
  for (int i = 1; i <= 3; ++i) {
    auto backend = BenchBackend::Start("127.0.0." + std::to_string(i), port);
    if (!backend.ok()) return backend.status();
    port = (*backend)->port();
    backends.push_back(*std::move(backend));
  }
  const std::string target =
      "dns://" + dns.server() + "/" + kHost + ":" + std::to_string(port);
  const std::vector<std::string> names = {kWarm, kPickFirst, kRoundRobin};
  std::map<std::string, std::vector<Outcome>> outcomes;
  for (int rep = 0; rep < reps; ++rep) {
    for (const std::string& name : names) {
      dns.SetRecords({});  // NXDOMAIN again
      std::shared_ptr<grpc::ChannelInterface> channel;
      if (name == kWarm) {
        auto warm = CreateWarmChannel(target);
        if (!warm.ok()) return warm.status();
        channel = *std::move(warm);
      } else {
        channel = CreatePlainChannel(target, name == kPickFirst
                                                 ? PlainPolicy::kPickFirst
                                                 : PlainPolicy::kRoundRobin);
      }
      outcomes[name].push_back(Run(channel, dns));
    }
  }

  ScenarioReport report;
  report.name = "wait_for_ready";
  std::vector<JsonObject> per_channel;
  MarkdownTable table({"channel", "calls", "failed",
                       "first call ok after the record, s",
                       "every caller's first call ok after, s"});
  for (const std::string& name : names) {
    std::vector<double> first_ok, all_first;
    int calls = 0, failed = 0;
    for (const Outcome& outcome : outcomes[name]) {
      calls += outcome.calls;
      failed += outcome.failed;
      if (outcome.first_ok_s >= 0) first_ok.push_back(outcome.first_ok_s);
      all_first.push_back(outcome.all_first_s);
    }
    per_channel.push_back(JsonObject()
                              .Set("channel", name)
                              .Set("calls", double(calls))
                              .Set("failed", double(failed))
                              .Set("first_ok_s", first_ok)
                              .Set("all_first_s", all_first));
    table.AddRow({name, std::to_string(calls), std::to_string(failed),
                  first_ok.empty() ? "none" : Range(Summarize(first_ok), 2),
                  Range(Summarize(all_first), 2)});
  }
  report.json.Set("reps", double(reps))
      .Set("callers", double(kCallers))
      .Set("record_after_s", kRecordAfter.count() / 1000.0)
      .Set("channels", per_channel);
  report.markdown =
      "### wait_for_ready\n\n`" + std::string(kHost) +
      "` on a real dnsmasq answers NXDOMAIN; a channel is created on it and " +
      std::to_string(kCallers) + " callers start `wait_for_ready` calls (" +
      std::to_string(kCallsPerCaller) +
      " in a row each, 20 s deadlines); 1 s later the name gets 127.0.0.1-3. "
      "warm with default options; plain channels: `dns://` target, gRPC's "
      "c-ares resolver. Failed: calls that did not succeed (the goal is "
      "none). " +
      std::to_string(reps) + " repetitions, channels created anew.\n\n" +
      table.ToString();
  return report;
}

}  // namespace bench
}  // namespace warm
