// Scenario "dns_move": a name served by a real dnsmasq (record TTL 1 s)
// points at two backends; its records are replaced by two other backends
// (the old ones stay up, as in a blue/green move). Measured: seconds from the
// change until all traffic reaches the new backends, through a warm channel
// (dns.min_refresh lowered to 1 s) and plain gRPC dns:/// channels
// (pick_first, the default, and round_robin), which resolve again only after
// a connection fails. The wait is bounded.

#include <map>
#include <set>
#include <thread>

#include "bench/bench_backend.h"
#include "bench/channels.h"
#include "bench/load.h"
#include "bench/scenarios.h"
#include "tests/testing/dnsmasq.h"

namespace warm {
namespace bench {
namespace {

using std::chrono::milliseconds;
using testing::Dnsmasq;

constexpr char kHost[] = "api.svc.test";
constexpr int kTtlSeconds = 1;
// Calls every 10 ms per channel.
constexpr auto kPace = std::chrono::microseconds(10000);
// Traffic has moved once calls have reached only new backends for this long.
constexpr milliseconds kConfirm{1000};
constexpr milliseconds kPoll{100};

// When the last call that did not reach a new backend ended, and whether
// calls have reached only new backends for kConfirm since.
struct Move {
  bool moved = false;
  Clock::time_point last_old;
  double new_share_last_second = 0;
};

Move MoveOf(const std::vector<CallRecord>& calls,
            const std::set<std::string>& new_backends, Clock::time_point change,
            Clock::time_point now) {
  Move move;
  move.last_old = change;
  int recent = 0, recent_new = 0;
  for (const CallRecord& call : calls) {
    const bool on_new = call.ok() && new_backends.count(call.backend) > 0;
    if (call.end >= change && !on_new) {
      move.last_old = std::max(move.last_old, call.end);
    }
    if (call.end >= now - kConfirm) {
      ++recent;
      recent_new += on_new;
    }
  }
  move.moved = now - move.last_old >= kConfirm && recent > 0;
  move.new_share_last_second = recent ? double(recent_new) / recent : 0;
  return move;
}

struct Watched {
  std::string name;
  std::shared_ptr<grpc::ChannelInterface> channel;
  std::unique_ptr<Load> load;
};

}  // namespace

absl::StatusOr<ScenarioReport> RunDnsMove(const BenchConfig& config) {
  const int reps = config.reps > 0 ? config.reps : config.smoke ? 1 : 3;
  const milliseconds bound(
      static_cast<int64_t>(1000 * (config.dns_bound > 0 ? config.dns_bound
                                   : config.smoke       ? 3
                                                        : 30)));

  Dnsmasq dns(kTtlSeconds);
  std::vector<std::unique_ptr<BenchBackend>> backends;
  int port = 0;
  for (int i = 1; i <= 4; ++i) {
    auto backend = BenchBackend::Start("127.0.0." + std::to_string(i), port);
    if (!backend.ok()) return backend.status();
    port = (*backend)->port();
    backends.push_back(*std::move(backend));
  }
  const std::set<std::string> new_backends = {backends[2]->address(),
                                              backends[3]->address()};
  const std::string target =
      "dns://" + dns.server() + "/" + kHost + ":" + std::to_string(port);
  const std::vector<std::string> names = {kWarm, kPickFirst, kRoundRobin};
  std::map<std::string, std::vector<double>> seconds_to_move;
  std::map<std::string, std::vector<double>> new_share;
  std::map<std::string, int> never;

  for (int rep = 0; rep < reps; ++rep) {
    dns.SetRecords({{kHost, {"127.0.0.1", "127.0.0.2"}}});
    ChannelOptions options;
    options.pool_size = 2;
    options.dns.min_refresh = milliseconds(1000);  // follow the 1 s TTL
    auto warm = CreateWarmChannel(target, std::move(options));
    if (!warm.ok()) return warm.status();
    std::vector<Watched> watched;
    watched.push_back({kWarm, *warm, nullptr});
    for (PlainPolicy policy :
         {PlainPolicy::kPickFirst, PlainPolicy::kRoundRobin}) {
      watched.push_back({PlainPolicyName(policy),
                         CreatePlainChannel(target, policy), nullptr});
    }
    LoadOptions load;
    load.threads = 1;
    load.pace = kPace;
    load.deadline = milliseconds(2000);
    load.record_backend = true;
    for (Watched& w : watched) {
      if (absl::Status ready = WaitForReady(*w.channel, w.name); !ready.ok()) {
        return ready;
      }
      w.load = std::make_unique<Load>(
          w.channel, load, bound + 2 * kConfirm + milliseconds(2000));
    }
    const Clock::time_point change = Clock::now();
    dns.SetRecords({{kHost, {"127.0.0.3", "127.0.0.4"}}});
    // Wait until every channel has moved, at most `bound`.
    std::map<std::string, Move> moves;
    while (true) {
      const Clock::time_point now = Clock::now();
      bool all = true;
      for (Watched& w : watched) {
        moves[w.name] = MoveOf(w.load->Records(), new_backends, change, now);
        all = all && moves[w.name].moved;
      }
      if (all || now - change >= bound) break;
      std::this_thread::sleep_for(kPoll);
    }
    for (Watched& w : watched) {
      w.load->Stop();
      const Move& move = moves[w.name];
      if (move.moved) {
        seconds_to_move[w.name].push_back(
            std::chrono::duration<double>(move.last_old - change).count());
      } else {
        ++never[w.name];
      }
      new_share[w.name].push_back(move.new_share_last_second);
    }
  }

  ScenarioReport report;
  report.name = "dns_move";
  std::vector<JsonObject> per_channel;
  MarkdownTable table({"channel", "all traffic on the new backends after, s",
                       "calls on the new backends at the end"});
  for (const std::string& name : names) {
    const std::vector<double>& moved = seconds_to_move[name];
    per_channel.push_back(JsonObject()
                              .Set("channel", name)
                              .Set("seconds_to_move", moved)
                              .Set("reps_never_moved", double(never[name]))
                              .Set("new_share_at_end", new_share[name]));
    std::string cell = moved.empty() ? "> " + Fixed(bound.count() / 1000.0, 0) +
                                           " (never moved)"
                                     : Range(Summarize(moved), 2);
    if (!moved.empty() && never[name] > 0) {
      cell += "; never in " + std::to_string(never[name]) + " reps";
    }
    table.AddRow(
        {name, cell, Fixed(Summarize(new_share[name]).median * 100, 0) + " %"});
  }
  report.json.Set("record_ttl_s", double(kTtlSeconds))
      .Set("warm_dns_min_refresh_s", 1.0)
      .Set("bound_s", bound.count() / 1000.0)
      .Set("reps", double(reps))
      .Set("channels", per_channel);
  report.markdown =
      "### dns_move\n\n`" + std::string(kHost) +
      "` on a real dnsmasq (127.0.0.1, record TTL 1 s) points at backends "
      "127.0.0.1-2; the records are replaced by 127.0.0.3-4 (same port; the "
      "old backends stay up). Each channel sends a call every 10 ms. Moved: "
      "the end of the last call answered by an old backend, once 1 s of "
      "calls reached only new ones; waited for at most " +
      Fixed(bound.count() / 1000.0, 0) +
      " s. warm: pool 2, `dns.min_refresh` 1 s (default 5 s). Plain "
      "channels: `dns://` target, gRPC's c-ares resolver. " +
      std::to_string(reps) + " repetitions, channels created anew.\n\n" +
      table.ToString();
  return report;
}

}  // namespace bench
}  // namespace warm
