// Scenario "scale": many idle channels in one process. Each variant runs in
// a process of its own (this program again, RunScaleChild) so that memory
// freed by one variant does not make the next look smaller: it opens the
// channels to three backends in child processes, waits until all are READY,
// lets them idle, and reports the growth of its resident memory per channel
// and its CPU time per second over a window. The backends' own CPU is not
// counted.

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "bench/channels.h"
#include "bench/load.h"
#include "bench/scenarios.h"
#include "tests/testing/child_backend.h"

namespace warm {
namespace bench {
namespace {

using std::chrono::milliseconds;

constexpr char kWarmNoChecks[] = "warm (no health checks)";
constexpr milliseconds kSettle{1000};
constexpr std::chrono::seconds kReadyTimeout{120};

struct Variant {
  const char* name;  // also the child's --scale-child argument
  const char* description;
};
const Variant kVariants[] = {
    {kWarm, "defaults: pool 3, a Health/Watch stream per member"},
    {kWarmNoChecks, "pool 3, `health_check.enabled = false`"},
    {kRoundRobin,
     "3 connections each (own subchannel pool), client health checking"},
};

// A field of /proc/self/status ("VmRSS", "Threads"), as a number.
long ProcStatus(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::atol(line.c_str() + field.size() + 1);
    }
  }
  return -1;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelInterface>> CreateVariant(
    const std::string& variant, const std::string& target) {
  if (variant == kRoundRobin) {
    return CreatePlainChannel(target, PlainPolicy::kRoundRobin);
  }
  ChannelOptions options;
  if (variant == kWarmNoChecks) {
    options.health_check.enabled = false;
  } else if (variant != kWarm) {
    return absl::InvalidArgumentError("unknown scale variant \"" + variant +
                                      "\"");
  }
  auto channel = CreateWarmChannel(target, std::move(options));
  if (!channel.ok()) return channel.status();
  return std::shared_ptr<grpc::ChannelInterface>(*channel);
}

// Runs `command` and returns the last line it printed; an error when it
// fails.
absl::StatusOr<std::string> LastLineOf(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("cannot run " + command);
  std::string last, line;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) {
    line += buffer;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      if (!line.empty()) last = line;
      line.clear();
    }
  }
  if (!line.empty()) last = line;
  const int status = pclose(pipe);
  if (status != 0) {
    return absl::InternalError(command + " failed (status " +
                               std::to_string(status) + "): " + last);
  }
  return last;
}

// The child's result line: "key=number key=number ...".
using Figures = std::map<std::string, double>;

absl::StatusOr<Figures> ParseFigures(const std::string& line) {
  Figures figures;
  for (absl::string_view pair : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    const std::vector<absl::string_view> parts = absl::StrSplit(pair, '=');
    double value = 0;
    if (parts.size() != 2 || !absl::SimpleAtod(parts[1], &value)) {
      return absl::InternalError("scale child printed \"" + line + "\"");
    }
    figures[std::string(parts[0])] = value;
  }
  return figures;
}

JsonObject ToJsonObject(const Figures& figures) {
  JsonObject object;
  for (const auto& [key, value] : figures) object.Set(key, value);
  return object;
}

}  // namespace

int RunScaleChild(const std::string& variant, const std::string& target,
                  int channels, double cpu_window) {
  grpc_init();
  const long rss_before = ProcStatus("VmRSS");
  const long threads_before = ProcStatus("Threads");
  const Clock::time_point start = Clock::now();
  std::vector<std::shared_ptr<grpc::ChannelInterface>> all;
  for (int i = 0; i < channels; ++i) {
    auto channel = CreateVariant(variant, target);
    if (!channel.ok()) {
      std::cerr << "warm_bench: " << channel.status() << "\n";
      return 1;
    }
    all.push_back(*std::move(channel));
  }
  // WaitForConnected, not polling GetState(true): polled every 2 ms, plain
  // round_robin channels took seconds to connect and did not become READY.
  const auto deadline = std::chrono::system_clock::now() + kReadyTimeout;
  for (int i = 0; i < channels; ++i) {
    if (!all[i]->WaitForConnected(deadline)) {
      std::cerr << "warm_bench: only " << i << " of " << channels
                << " channels READY after " << kReadyTimeout.count() << " s\n";
      return 1;
    }
  }
  const double ready_s =
      std::chrono::duration<double>(Clock::now() - start).count();
  // Measurements, not waits for a state: idle for a moment, then a window.
  std::this_thread::sleep_for(kSettle);
  const double cpu_before = CpuSeconds();
  const Clock::time_point window_start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(cpu_window));
  const double cpu_percent =
      (CpuSeconds() - cpu_before) /
      std::chrono::duration<double>(Clock::now() - window_start).count() * 100;
  const long rss_after = ProcStatus("VmRSS");
  std::cout << "channels=" << channels << " ready_s=" << ready_s
            << " rss_before_kib=" << rss_before
            << " rss_after_kib=" << rss_after << " rss_per_channel_kib="
            << double(rss_after - rss_before) / channels
            << " threads_before=" << threads_before
            << " threads_after=" << ProcStatus("Threads")
            << " cpu_percent_of_one_core=" << cpu_percent << std::endl;
  return 0;
}

absl::StatusOr<ScenarioReport> RunScale(const BenchConfig& config) {
  const int reps = config.reps > 0 ? config.reps : config.smoke ? 1 : 3;
  const int channels = config.channels > 0 ? config.channels
                       : config.smoke      ? 10
                                           : 1000;
  const double cpu_window = config.cpu_window > 0 ? config.cpu_window
                            : config.smoke        ? 0.5
                                                  : 5;

  std::vector<std::unique_ptr<testing::ChildBackend>> backends;
  std::string target = "ipv4:";
  for (int i = 1; i <= 3; ++i) {
    backends.push_back(std::make_unique<testing::ChildBackend>(
        "127.0.0." + std::to_string(i)));
    target += (i > 1 ? "," : "") + backends.back()->address();
  }
  std::map<std::string, std::vector<Figures>> results;
  const int count = static_cast<int>(std::size(kVariants));
  for (int rep = 0; rep < reps; ++rep) {
    for (int v : RotatedOrder(rep, count)) {
      const std::string command = "'" + config.self_path + "' --scale-child '" +
                                  kVariants[v].name + "' --scale-target '" +
                                  target + "' --channels " +
                                  std::to_string(channels) + " --cpu-window " +
                                  std::to_string(cpu_window);
      absl::StatusOr<std::string> line = LastLineOf(command);
      if (!line.ok()) return line.status();
      absl::StatusOr<Figures> result = ParseFigures(*line);
      if (!result.ok()) return result.status();
      results[kVariants[v].name].push_back(*result);
    }
  }

  ScenarioReport report;
  report.name = "scale";
  std::vector<JsonObject> per_variant;
  MarkdownTable table({"channels", "configuration", "RSS per channel KiB",
                       "process CPU, % of one core", "all READY after s",
                       "threads"});
  for (const Variant& variant : kVariants) {
    std::vector<double> rss, cpu, ready, threads;
    std::vector<JsonObject> runs;
    for (Figures& result : results[variant.name]) {
      rss.push_back(result["rss_per_channel_kib"]);
      cpu.push_back(result["cpu_percent_of_one_core"]);
      ready.push_back(result["ready_s"]);
      threads.push_back(result["threads_after"]);
      runs.push_back(ToJsonObject(result));
    }
    per_variant.push_back(JsonObject()
                              .Set("channel", variant.name)
                              .Set("configuration", variant.description)
                              .Set("runs", runs)
                              .Set("rss_per_channel_kib", Summarize(rss))
                              .Set("cpu_percent", Summarize(cpu))
                              .Set("ready_s", Summarize(ready)));
    table.AddRow({std::to_string(channels) + " × " + variant.name,
                  variant.description, Range(Summarize(rss), 1),
                  Range(Summarize(cpu), 2), Range(Summarize(ready), 2),
                  Fixed(Median(threads), 0)});
  }
  report.json.Set("channels", double(channels))
      .Set("cpu_window_s", cpu_window)
      .Set("reps", double(reps))
      .Set("variants", per_variant);
  report.markdown =
      "### scale\n\n" + std::to_string(channels) +
      " idle channels in one process to 3 backends in child processes "
      "(127.0.0.1-3); each variant in a fresh process. RSS: growth of VmRSS "
      "from before the first channel to the end of the window, per channel. "
      "CPU: the process's user+system time over a " +
      Fixed(cpu_window, 1) + " s window, 1 s after all were READY. " +
      std::to_string(reps) + " repetitions, order rotated.\n\n" +
      table.ToString();
  return report;
}

}  // namespace bench
}  // namespace warm
