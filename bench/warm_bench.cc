// warm_bench: warm channels against plain gRPC channels, in one run, on
// loopback backends. Every figure of README's Benchmarks section comes from
// here; see usage below (or run with --help).
//
// Scenarios (each bounded in time, selectable with --scenario):
//   overhead      unary QPS, warm / round_robin (and / pick_first)
//   slow_backend  latency percentiles with one of 5 backends 50 ms slow
//   failover      failed calls and time to recover after SIGKILL + SIGSTOP
//   dns_move      seconds until traffic follows replaced DNS records
//   warm_start    the first call on a new channel vs steady state
//   scale         1000 idle channels: memory and CPU per channel
//   netfault      failed calls and latency when one backend's network fails
//                 (partition, packet loss, TCP resets; needs root)
//   detect        seconds until a NOT_SERVING or hung backend stops getting
//                 calls, default options
//   wait_for_ready  wait_for_ready calls made before a DNS name resolves
//   load_step     callers 4 -> 64 -> 4 over 20 backend processes of finite
//                 capacity: a pool that follows load vs fixed pools
// The cost of one pick at 3/64/1024 members is pick_bench's (Google
// Benchmark).
//
// Results go to stdout as Markdown, and with --json to a file. The machine
// is shared and noisy: compare the ratios of one run, not absolute figures
// across runs.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bench/report.h"
#include "bench/scenarios.h"
#include "warm/channel.h"

namespace warm {
namespace bench {
namespace {

constexpr char kUsage[] =
    R"(usage: warm_bench [--scenario NAME[,NAME...]|all] [--smoke] [--verbose]
                  [--reps N]
                  [--seconds S] [--threads N[,N...]] [--failover-window S]
                  [--dns-bound S] [--channels N] [--cpu-window S]
                  [--scrape-ms N] [--json FILE] [--markdown FILE] [--slow-plot-data FILE]
                  [--load-step-plot-data FILE]

  --scenario         overhead, slow_backend, failover, dns_move, warm_start,
                     scale, netfault, detect, wait_for_ready, load_step, or all
                     (default: all; netfault needs root, ip and nft, and says
                     why it was skipped without)
  --smoke            short runs that only show the harness works (ctest)
  --verbose          let warm log its events (evictions...) to stderr
  --reps N           repetitions, 1..1000 (default per scenario: overhead 10,
                     slow_backend 5, failover 5, dns_move 3, warm_start 20,
                     scale 3, netfault 3, detect 5, wait_for_ready 3,
                     load_step 3; --smoke: 1)
  --seconds S        one measurement of overhead and slow_backend (2)
  --threads N,...    closed-loop callers: overhead (4), slow_backend
                     (4,8,16,32,64)
  --failover-window S  observed after the fault: failover (8), netfault (9),
                     detect (5)
  --dns-bound S      longest wait for traffic to move (30)
  --channels N       scale: idle channels in one process, 1..20000 (1000)
  --cpu-window S     scale: CPU measured over S seconds (5)
  --scrape-ms N      overhead: serve warm's diagnostics and fetch /metrics
                     and /channels.json every N ms while measuring, 1..60000
                     (default: no diagnostics server)
  --json FILE        write every figure as JSON
  --markdown FILE    also write the Markdown report (always on stdout)
  --slow-plot-data FILE  slow_backend latency percentiles (TSV) for
                     bench/plot_slow_backend.sh
  --load-step-plot-data FILE  load_step p99 per variant and the dynamic
                     pool's size, per second (TSV), for bench/plot_load_step.sh
  load_step has fixed phases (4, 64, 4 callers for 10, 30, 10 s, then idle
  up to 40 s; --smoke: 4 backends, 4, 16, 4 callers for 1, 2, 1 s, idle up
  to 8 s) and takes only --reps of the flags above.
Flags take "--flag value" or "--flag=value"; seconds are 0 < S <= 600.
)";

using Runner =
    std::function<absl::StatusOr<ScenarioReport>(const BenchConfig&)>;

const std::vector<std::pair<std::string, Runner>>& Scenarios() {
  static const auto* scenarios =
      new std::vector<std::pair<std::string, Runner>>{
          {"overhead", RunOverhead},    {"slow_backend", RunSlowBackend},
          {"failover", RunFailover},    {"dns_move", RunDnsMove},
          {"warm_start", RunWarmStart}, {"scale", RunScale},
          {"netfault", RunNetfault},    {"detect", RunDetect},
          {"wait_for_ready", RunWaitForReady}, {"load_step", RunLoadStep},
      };
  return *scenarios;
}

// Flags that take a value (--smoke, --verbose and --help take none).
constexpr absl::string_view kValueFlags[] = {"--scenario",
                                             "--reps",
                                             "--seconds",
                                             "--threads",
                                             "--failover-window",
                                             "--dns-bound",
                                             "--channels",
                                             "--cpu-window",
                                             "--scrape-ms",
                                             "--json",
                                             "--markdown",
                                             "--slow-plot-data",
                                             "--load-step-plot-data",
                                             "--scale-child",
                                             "--scale-target",
                                             "--netfault-backend",
                                             "--load-step-backend"};

bool TakesValue(absl::string_view flag) {
  return std::find(std::begin(kValueFlags), std::end(kValueFlags), flag) !=
         std::end(kValueFlags);
}

struct Flags {
  BenchConfig config;
  std::vector<std::string> scenarios;
  std::string json;
  std::string markdown;
  bool verbose = false;  // keep warm's own log lines
  // The scale scenario's per-variant process.
  std::string scale_child;
  std::string scale_target;
  // The netfault scenario's backend process: its listening address.
  std::string netfault_backend;
  // The load_step scenario's backend process: its listening host.
  std::string load_step_backend;
};

// A usage error: the message and the usage text on stderr, exit 2.
[[noreturn]] void UsageError(const std::string& message) {
  std::cerr << "warm_bench: " << message << "\n\n" << kUsage;
  std::exit(2);
}

int ParseInt(const std::string& flag, const std::string& value, int min,
             int max) {
  int number = 0;
  if (!absl::SimpleAtoi(value, &number) || number < min || number > max) {
    UsageError(flag + " takes a whole number from " + std::to_string(min) +
               " to " + std::to_string(max) + ", not \"" + value + "\"");
  }
  return number;
}

double ParseSeconds(const std::string& flag, const std::string& value) {
  double seconds = 0;
  if (!absl::SimpleAtod(value, &seconds) || !(seconds > 0) || seconds > 600) {
    UsageError(flag + " takes seconds, 0 < S <= 600, not \"" + value + "\"");
  }
  return seconds;
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  std::string scenario_list = "all";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg == "--smoke") {
      flags.config.smoke = true;
      continue;
    }
    if (arg == "--verbose") {
      flags.verbose = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      UsageError("unexpected argument \"" + arg + "\"");
    }
    std::string name = arg, value;
    const size_t equals = arg.find('=');
    if (equals != std::string::npos) name = arg.substr(0, equals);
    if (!TakesValue(name)) {
      UsageError("unknown flag \"" + name + "\"");
    }
    if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      UsageError("flag " + name + " needs a value");
    }
    BenchConfig& c = flags.config;
    if (name == "--scenario") {
      scenario_list = value;
    } else if (name == "--reps") {
      c.reps = ParseInt(name, value, 1, 1000);
    } else if (name == "--seconds") {
      c.seconds = ParseSeconds(name, value);
    } else if (name == "--threads") {
      c.threads.clear();
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        c.threads.push_back(ParseInt(name, std::string(part), 1, 256));
      }
    } else if (name == "--failover-window") {
      c.failover_window = ParseSeconds(name, value);
    } else if (name == "--dns-bound") {
      c.dns_bound = ParseSeconds(name, value);
    } else if (name == "--channels") {
      c.channels = ParseInt(name, value, 1, 20000);
    } else if (name == "--cpu-window") {
      c.cpu_window = ParseSeconds(name, value);
    } else if (name == "--scrape-ms") {
      c.scrape_ms = ParseInt(name, value, 1, 60000);
    } else if (name == "--json") {
      flags.json = value;
    } else if (name == "--markdown") {
      flags.markdown = value;
    } else if (name == "--slow-plot-data") {
      c.slow_plot_data = value;
    } else if (name == "--load-step-plot-data") {
      c.load_step_plot_data = value;
    } else if (name == "--scale-child") {
      flags.scale_child = value;
    } else if (name == "--scale-target") {
      flags.scale_target = value;
    } else if (name == "--netfault-backend") {
      flags.netfault_backend = value;
    } else if (name == "--load-step-backend") {
      flags.load_step_backend = value;
    }
  }
  for (absl::string_view part : absl::StrSplit(scenario_list, ',')) {
    if (part == "all") {
      for (const auto& [name, run] : Scenarios()) {
        flags.scenarios.push_back(name);
      }
      continue;
    }
    bool known = false;
    for (const auto& scenario : Scenarios()) {
      known = known || scenario.first == part;
    }
    if (!known) {
      std::vector<std::string> names;
      for (const auto& scenario : Scenarios()) names.push_back(scenario.first);
      UsageError("unknown scenario \"" + std::string(part) +
                 "\"; known: " + absl::StrJoin(names, ", ") + ", all");
    }
    flags.scenarios.push_back(std::string(part));
  }
  return flags;
}

std::string FirstLineWith(const std::string& path, const std::string& prefix) {
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind(prefix, 0) == 0) {
      const size_t colon = line.find_first_of(":=");
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t\""));
      while (!value.empty() && value.back() == '"') value.pop_back();
      return value;
    }
  }
  return "";
}

// What the figures were measured on.
struct Machine {
  std::string date;  // UTC, ISO 8601
  long cpus = 0;
  std::string cpu_model;
  std::string os;
  std::string kernel;
  std::string grpc;

  static Machine Now() {
    utsname name{};
    uname(&name);
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    return {date,
            sysconf(_SC_NPROCESSORS_ONLN),
            FirstLineWith("/proc/cpuinfo", "model name"),
            FirstLineWith("/etc/os-release", "PRETTY_NAME"),
            name.release,
            grpc::Version()};
  }
  JsonObject ToJson() const {
    return JsonObject()
        .Set("date", date)
        .Set("cpus", double(cpus))
        .Set("cpu_model", cpu_model)
        .Set("os", os)
        .Set("kernel", kernel)
        .Set("grpc", grpc);
  }
  std::string ToMarkdown() const {
    return cpu_model + ", " + std::to_string(cpus) + " CPUs, " + os +
           ", kernel " + kernel + ", gRPC " + grpc + ", " + date + ".\n";
  }
};

// Test helpers shared with the test suite (ChildBackend, Dnsmasq) report
// trouble as Google Test failures; outside a test they land here.
bool HelpersFailed() {
  return ::testing::UnitTest::GetInstance()->ad_hoc_test_result().Failed();
}

std::string SelfPath() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n > 0 ? std::string(path, n) : "";
}

}  // namespace
}  // namespace bench
}  // namespace warm

int main(int argc, char** argv) {
  using namespace warm::bench;
  Flags flags = ParseFlags(argc, argv);
  if (!flags.scale_child.empty()) {
    if (flags.scale_target.empty() || flags.config.channels == 0 ||
        flags.config.cpu_window == 0) {
      UsageError(
          "--scale-child needs --scale-target, --channels and --cpu-window");
    }
    return RunScaleChild(flags.scale_child, flags.scale_target,
                         flags.config.channels, flags.config.cpu_window);
  }
  if (!flags.netfault_backend.empty()) {
    return RunNetfaultBackend(flags.netfault_backend);
  }
  if (!flags.load_step_backend.empty()) {
    return RunLoadStepBackend(flags.load_step_backend);
  }
  flags.config.self_path = SelfPath();
  // warm logs evictions and ejections to stderr; the faults here are on
  // purpose, and the report says what they did.
  if (!flags.verbose) {
    warm::SetLogSink([](warm::LogSeverity, absl::string_view) {});
  }

  std::vector<std::string> args(argv, argv + argc);
  const Machine machine = Machine::Now();
  JsonObject json;
  json.Set("command", absl::StrJoin(args, " "))
      .Set("machine", machine.ToJson());
  JsonObject scenarios;
  std::string markdown = "## warm_bench\n\n" + machine.ToMarkdown();
  std::cout << markdown << std::flush;
  int exit_code = 0;
  for (const std::string& name : flags.scenarios) {
    std::cerr << "warm_bench: running " << name << "\n";
    Runner run;
    for (const auto& scenario : Scenarios()) {
      if (scenario.first == name) run = scenario.second;
    }
    absl::StatusOr<ScenarioReport> report = run(flags.config);
    if (report.ok() && HelpersFailed()) {
      report = absl::InternalError("a test helper failed (see above)");
    }
    if (!report.ok()) {
      std::cerr << "warm_bench: scenario " << name << ": " << report.status()
                << "\n";
      exit_code = 1;
      break;
    }
    scenarios.Set(name, report->json);
    std::cout << "\n" << report->markdown << std::flush;
    markdown += "\n" + report->markdown;
  }
  json.Set("scenarios", scenarios);
  if (!flags.json.empty()) {
    std::ofstream out(flags.json);
    out << ToJson(json);
    if (!out) {
      std::cerr << "warm_bench: cannot write " << flags.json << "\n";
      return 1;
    }
  }
  if (!flags.markdown.empty()) {
    std::ofstream out(flags.markdown);
    out << markdown;
    if (!out) {
      std::cerr << "warm_bench: cannot write " << flags.markdown << "\n";
      return 1;
    }
  }
  return exit_code;
}
