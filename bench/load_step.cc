// Scenario "load_step": 20 backends of finite capacity, each in a process of
// its own; closed-loop callers step 4 -> 64 -> 4 -> 0 through a warm channel
// whose pool follows load (PoolSizingOptions: min 3, max 20) and through warm
// channels of fixed pool 3 and fixed pool 20. Per phase p50/p99/QPS, p99 and
// the dynamic pool's size per second (for the plot), and how long after load
// stopped the dynamic pool was back at its minimum. Goals: p99 in the 64-
// caller phase <= 0.5 x the fixed pool 3's; back at min_size within the
// window options.h documents.
//
// The backends model capacity, not CPU: each serves at most kSlots calls at
// once, each taking kServiceTime on a timer, and queues the rest
// (BenchBackend::Capacity). On a machine of 2 cores shared by 20 backends and
// the client, spreading over more backends helps only because of that.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_backend.h"
#include "bench/channels.h"
#include "bench/load.h"
#include "bench/scenarios.h"
#include "tests/testing/subprocess.h"

namespace warm {
namespace bench {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;

// Each backend: kSlots calls at once, kServiceTime each (a timer), the rest
// queued. 20 backends: 40 slots, 4000 calls/s at most; pool 3: 6 slots,
// 600 calls/s, so 64 callers queue ~10 deep per slot.
constexpr int kSlots = 2;
constexpr milliseconds kServiceTime{10};
constexpr milliseconds kDeadline{5000};
constexpr double kGoal = 0.5;  // 64-caller p99 / fixed pool 3's
constexpr milliseconds kSample{100};
// PoolSizingOptions::shrink_below, the default the dynamic pool runs with.
constexpr double kShrinkBelow = PoolSizingOptions().shrink_below;
// A backend process serves at most this long, should its parent fail to
// kill it (it also dies with its parent: PR_SET_PDEATHSIG).
constexpr std::chrono::minutes kBackendLifetime{30};

struct Phase {
  std::string name;
  int callers;
  double seconds;
};

// What one run measures: its phases, and for the dynamic pool the idle wait.
struct Setup {
  int backends;
  int min_size;
  std::vector<Phase> phases;  // the last one: idle (0 callers), a bound
  int step_phase;             // the phase of many callers
  milliseconds smoothing;
  milliseconds shrink_window;
};

Setup MakeSetup(const BenchConfig& config) {
  if (config.smoke) {
    return {4, 2,
            {{"4 callers", 4, 1},
             {"16 callers", 16, 2},
             {"4 callers again", 4, 1},
             {"idle", 0, 8}},
            1,
            milliseconds(200),
            milliseconds(1000)};
  }
  return {20, 3,
          {{"4 callers", 4, 10},
           {"64 callers", 64, 30},
           {"4 callers again", 4, 10},
           {"idle", 0, 40}},
          1,
          milliseconds(1000),
          milliseconds(15000)};
}

// A warm channel configuration: pool min..max (fixed when equal).
struct Variant {
  std::string name;
  int min_size;
  int max_size;
  bool dynamic() const { return min_size < max_size; }
};

// One backend process: warm_bench --load-step-backend HOST.
struct BackendProcess {
  std::unique_ptr<Subprocess> process;
  std::string address;
};

absl::StatusOr<BackendProcess> StartBackendProcess(const std::string& self,
                                                   const std::string& host) {
  auto process = Subprocess::Start({self, "--load-step-backend", host});
  if (!process.ok()) return process.status();
  // It prints "PORT <n>" once it serves.
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    const std::string output = (*process)->output();
    const size_t at = output.find("PORT ");
    const size_t end = output.find('\n', at);
    if (at != std::string::npos && end != std::string::npos) {
      int port = 0;
      if (!absl::SimpleAtoi(output.substr(at + 5, end - at - 5), &port)) {
        return absl::InternalError("backend on " + host + " printed " +
                                   output);
      }
      return BackendProcess{*std::move(process),
                            host + ":" + std::to_string(port)};
    }
    if ((*process)->Exited()) {
      return absl::UnavailableError("backend on " + host + " exited: " +
                                    (*process)->Describe() + ": " + output);
    }
    std::this_thread::sleep_for(milliseconds(20));  // polling its output
  }
  return absl::DeadlineExceededError("backend on " + host +
                                     " did not start within 30 s: " +
                                     (*process)->output());
}

// One sample of the pool.
struct PoolSample {
  double t;  // seconds since the run started
  int members;
  int pickable;
};

// Samples a warm channel's pool every kSample until stopped.
class PoolSampler {
 public:
  PoolSampler(std::shared_ptr<warm::Channel> channel, Clock::time_point start)
      : channel_(std::move(channel)), start_(start) {
    thread_ = std::thread([this] { Run(); });
  }
  ~PoolSampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<PoolSample> Samples() const {
    std::lock_guard<std::mutex> lock(mu_);
    return samples_;
  }
  PoolSample Last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return samples_.empty() ? PoolSample{0, 0, 0} : samples_.back();
  }

 private:
  void Run() {
    Clock::time_point next = Clock::now();
    // Bounded by the run: Stop() ends it.
    while (!stop_.load()) {
      PoolSample sample{
          std::chrono::duration<double>(Clock::now() - start_).count(),
          channel_->Health().members, 0};
      for (const MemberInfo& member : channel_->Members()) {
        sample.pickable += member.pickable;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        samples_.push_back(sample);
      }
      next += kSample;
      std::this_thread::sleep_until(next);  // a sampling period
    }
  }

  const std::shared_ptr<warm::Channel> channel_;
  const Clock::time_point start_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<PoolSample> samples_;  // guarded by mu_
};

// Figures of one phase of one run.
struct PhaseFigures {
  double p50 = 0, p99 = 0, qps = 0;
  int calls = 0, failures = 0;
  double mean_pool = 0;  // members, mean of the samples in the phase
  double mean_pickable = 0;  // pickable members, likewise
  int max_pool = 0;
};

// One run of one variant through every phase.
struct Run {
  std::vector<PhaseFigures> phases;
  std::vector<double> p99_per_second;   // by second since the start
  std::vector<double> pool_per_second;  // mean members in that second
  std::vector<PoolSample> samples;
  // Dynamic only (-1 otherwise or when not reached): seconds from the end
  // of the step phase, and from the start of idle, to min_size members;
  // from the start of the step phase to max_size.
  double to_min_after_step_s = -1;
  double to_min_after_idle_s = -1;
  double to_max_s = -1;
  int peak = 0;
  int grows = 0, shrinks = 0;  // size changes seen in the samples
  int reversals = 0;           // grow after shrink or shrink after grow
  double idle_start_s = 0;
  int members_at_idle = 0;
};

double Seconds(Clock::time_point t, Clock::time_point start) {
  return std::chrono::duration<double>(t - start).count();
}

PhaseFigures Figures(const std::vector<CallRecord>& calls) {
  PhaseFigures figures;
  std::vector<double> ms;
  for (const CallRecord& call : calls) {
    ++figures.calls;
    if (!call.ok()) {
      ++figures.failures;
      continue;
    }
    ms.push_back(call.latency_us() / 1000);
  }
  std::sort(ms.begin(), ms.end());
  figures.p50 = Percentile(ms, 50);
  figures.p99 = Percentile(ms, 99);
  figures.qps = QpsOf(calls);
  return figures;
}

absl::StatusOr<Run> RunVariant(const Setup& setup, const Variant& variant,
                               const std::string& target) {
  ChannelOptions options;
  options.pool_size = variant.min_size;
  options.pool_sizing.min_size = variant.min_size;
  options.pool_sizing.max_size = variant.max_size;
  options.pool_sizing.smoothing = setup.smoothing;
  options.pool_sizing.shrink_window = setup.shrink_window;
  auto channel = CreateWarmChannel(target, std::move(options));
  if (!channel.ok()) return channel.status();
  std::shared_ptr<warm::Channel> warm = *channel;
  if (absl::Status ready = WaitForReady(*warm, variant.name); !ready.ok()) {
    return ready;
  }
  // Every wanted member healthy before the clock starts.
  const Clock::time_point healthy_by = Clock::now() + std::chrono::seconds(20);
  while (warm->Health().healthy_members < variant.min_size) {
    if (Clock::now() > healthy_by) {
      return absl::DeadlineExceededError(
          variant.name + ": " + std::to_string(variant.min_size) +
          " members not healthy within 20 s");
    }
    std::this_thread::sleep_for(milliseconds(20));  // polling health
  }
  // Warm-up: method caches, connections' first calls.
  LoadOptions warmup;
  warmup.threads = 2;
  warmup.deadline = kDeadline;
  RunLoad(warm, warmup, milliseconds(300));

  Run run;
  std::vector<CallRecord> all;
  std::vector<std::pair<Clock::time_point, Clock::time_point>> spans;
  const Clock::time_point start = Clock::now();
  PoolSampler sampler(warm, start);
  Clock::time_point step_end = start;
  for (size_t p = 0; p < setup.phases.size(); ++p) {
    const Phase& phase = setup.phases[p];
    const auto duration = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(phase.seconds));
    const Clock::time_point phase_start = Clock::now();
    if (phase.callers == 0) {
      // Idle: fixed pools have nothing to show; a dynamic pool is watched
      // until it is back at its minimum, or the bound.
      run.idle_start_s = Seconds(phase_start, start);
      run.members_at_idle = sampler.Last().members;
      if (variant.dynamic()) {
        const Clock::time_point bound = phase_start + duration;
        while (Clock::now() < bound) {
          const PoolSample last = sampler.Last();
          if (last.t > run.idle_start_s && last.members <= variant.min_size) {
            break;
          }
          std::this_thread::sleep_for(kSample);  // polling the sampler
        }
        // A little more, to see that it stays there.
        std::this_thread::sleep_for(std::min<Clock::duration>(
            std::chrono::seconds(2), duration / 4));
      }
      spans.emplace_back(phase_start, Clock::now());
      run.phases.push_back(PhaseFigures{});
      continue;
    }
    LoadOptions load;
    load.threads = phase.callers;
    load.deadline = kDeadline;
    std::vector<CallRecord> calls = RunLoad(warm, load, duration);
    spans.emplace_back(phase_start, Clock::now());
    if (static_cast<int>(p) == setup.step_phase) step_end = Clock::now();
    run.phases.push_back(Figures(calls));
    all.insert(all.end(), std::make_move_iterator(calls.begin()),
               std::make_move_iterator(calls.end()));
  }
  sampler.Stop();
  run.samples = sampler.Samples();

  // Pool size per phase, and its changes.
  int last_direction = 0;
  for (size_t i = 0; i < run.samples.size(); ++i) {
    const PoolSample& sample = run.samples[i];
    run.peak = std::max(run.peak, sample.members);
    if (i > 0) {
      const int change = sample.members - run.samples[i - 1].members;
      if (change != 0) {
        const int direction = change > 0 ? 1 : -1;
        (direction > 0 ? run.grows : run.shrinks) += std::abs(change);
        if (last_direction != 0 && direction != last_direction) {
          ++run.reversals;
        }
        last_direction = direction;
      }
    }
  }
  for (size_t p = 0; p < spans.size(); ++p) {
    const double from = Seconds(spans[p].first, start);
    const double to = Seconds(spans[p].second, start);
    double sum = 0, pickable = 0;
    int n = 0;
    for (const PoolSample& sample : run.samples) {
      if (sample.t < from || sample.t >= to) continue;
      sum += sample.members;
      pickable += sample.pickable;
      ++n;
      run.phases[p].max_pool = std::max(run.phases[p].max_pool, sample.members);
    }
    run.phases[p].mean_pool = n ? sum / n : 0;
    run.phases[p].mean_pickable = n ? pickable / n : 0;
  }
  if (variant.dynamic()) {
    const double step_start_s = Seconds(spans[setup.step_phase].first, start);
    const double step_end_s = Seconds(step_end, start);
    for (const PoolSample& sample : run.samples) {
      if (sample.t >= step_start_s && sample.members >= variant.max_size) {
        run.to_max_s = sample.t - step_start_s;
        break;
      }
    }
    // The first sample at min_size after which the pool stays there.
    for (size_t i = run.samples.size(); i-- > 0;) {
      const PoolSample& sample = run.samples[i];
      if (sample.t < step_end_s || sample.members > variant.min_size) break;
      run.to_min_after_step_s = sample.t - step_end_s;
      run.to_min_after_idle_s = std::max(0.0, sample.t - run.idle_start_s);
    }
  }

  // Per second: p99 of the calls that ended in it, mean pool size.
  const double total_s = Seconds(spans.back().second, start);
  const size_t seconds = static_cast<size_t>(std::ceil(total_s));
  std::vector<std::vector<double>> ms(seconds);
  for (const CallRecord& call : all) {
    if (!call.ok()) continue;
    const double t = Seconds(call.end, start);
    if (t < 0 || t >= seconds) continue;
    ms[static_cast<size_t>(t)].push_back(call.latency_us() / 1000);
  }
  for (auto& second : ms) {
    std::sort(second.begin(), second.end());
    run.p99_per_second.push_back(second.empty() ? NAN
                                                : Percentile(second, 99));
  }
  run.pool_per_second.assign(seconds, 0);
  std::vector<int> counts(seconds, 0);
  for (const PoolSample& sample : run.samples) {
    const size_t s = static_cast<size_t>(sample.t);
    if (s >= seconds) continue;
    run.pool_per_second[s] += sample.members;
    ++counts[s];
  }
  for (size_t s = 0; s < seconds; ++s) {
    run.pool_per_second[s] =
        counts[s] ? run.pool_per_second[s] / counts[s] : NAN;
  }
  return run;
}

// The median per second over runs (ignoring seconds a run lacks or had no
// calls in).
std::vector<double> MedianSeries(const std::vector<Run>& runs,
                                 std::vector<double> Run::*series) {
  size_t length = 0;
  for (const Run& run : runs) length = std::max(length, (run.*series).size());
  std::vector<double> out;
  for (size_t s = 0; s < length; ++s) {
    std::vector<double> values;
    for (const Run& run : runs) {
      if (s < (run.*series).size() && std::isfinite((run.*series)[s])) {
        values.push_back((run.*series)[s]);
      }
    }
    out.push_back(values.empty() ? NAN : Median(values));
  }
  return out;
}

std::vector<double> PhaseField(const std::vector<Run>& runs, size_t phase,
                               double PhaseFigures::*field) {
  std::vector<double> values;
  for (const Run& run : runs) values.push_back(run.phases[phase].*field);
  return values;
}

std::vector<double> RunField(const std::vector<Run>& runs, double Run::*field) {
  std::vector<double> values;
  for (const Run& run : runs) values.push_back(run.*field);
  return values;
}

std::string SecondsText(double s) { return s < 0 ? "not reached" : Fixed(s, 1); }

}  // namespace

absl::StatusOr<ScenarioReport> RunLoadStep(const BenchConfig& config) {
  const Setup setup = MakeSetup(config);
  const int reps = config.reps > 0 ? config.reps : config.smoke ? 1 : 3;
  const int max_size = setup.backends;
  const std::vector<Variant> variants = {
      {"warm, dynamic " + std::to_string(setup.min_size) + "-" +
           std::to_string(max_size),
       setup.min_size, max_size},
      {"warm, fixed " + std::to_string(setup.min_size), setup.min_size,
       setup.min_size},
      {"warm, fixed " + std::to_string(max_size), max_size, max_size},
  };
  constexpr size_t kDynamic = 0, kFixedMin = 1;

  // The backends, each a process of its own; Subprocess kills them when
  // `backends` goes, on every path out of here.
  if (config.self_path.empty()) {
    return absl::FailedPreconditionError("load_step: no path to warm_bench");
  }
  std::vector<BackendProcess> backends;
  std::vector<std::string> addresses;
  for (int i = 0; i < setup.backends; ++i) {
    auto backend =
        StartBackendProcess(config.self_path, "127.0.0." + std::to_string(i + 1));
    if (!backend.ok()) return backend.status();
    addresses.push_back(backend->address);
    backends.push_back(*std::move(backend));
  }
  const std::string target = Ipv4Target(addresses);

  std::vector<std::vector<Run>> runs(variants.size());
  std::vector<double> ratios;  // per repetition: dynamic / fixed min p99
  for (int rep = 0; rep < reps; ++rep) {
    for (int v : RotatedOrder(rep, static_cast<int>(variants.size()))) {
      std::cerr << "load_step: repetition " << rep + 1 << "/" << reps << ", "
                << variants[v].name << "\n";
      absl::StatusOr<Run> run = RunVariant(setup, variants[v], target);
      if (!run.ok()) return run.status();
      runs[v].push_back(*std::move(run));
    }
    ratios.push_back(runs[kDynamic].back().phases[setup.step_phase].p99 /
                     runs[kFixedMin].back().phases[setup.step_phase].p99);
  }

  // Documented (include/warm/options.h, PoolSizingOptions): back at min_size
  // within shrink_window + smoothing x ln(peak smoothed load / (shrink_below
  // x min_size)) + (size - min_size) x 100 ms after load stops. The smoothed
  // load when it stops is at most the last phase's closed-loop callers.
  const int last_callers = setup.phases[setup.phases.size() - 2].callers;
  const double decay = std::log(std::max(
      1.0, static_cast<double>(last_callers) / (kShrinkBelow * setup.min_size)));
  std::vector<double> documented;
  for (const Run& run : runs[kDynamic]) {
    const int above = std::max(run.members_at_idle - setup.min_size, 0);
    documented.push_back(
        std::chrono::duration<double>(setup.shrink_window).count() +
        std::chrono::duration<double>(setup.smoothing).count() * decay +
        above * 0.1);
  }
  const Summary ratio = Summarize(ratios);
  const Summary to_min_idle =
      Summarize(RunField(runs[kDynamic], &Run::to_min_after_idle_s));
  const Summary to_min_step =
      Summarize(RunField(runs[kDynamic], &Run::to_min_after_step_s));
  const Summary to_max = Summarize(RunField(runs[kDynamic], &Run::to_max_s));
  const Summary bound = Summarize(documented);
  bool all_reached = true;
  bool within = true;
  for (size_t i = 0; i < runs[kDynamic].size(); ++i) {
    const Run& run = runs[kDynamic][i];
    all_reached = all_reached && run.to_min_after_idle_s >= 0;
    within = within && run.to_min_after_idle_s >= 0 &&
             run.to_min_after_idle_s <= documented[i];
  }
  const bool p99_met = ratio.median <= kGoal;

  // The table: a row per (phase, variant).
  MarkdownTable table({"phase", "channel", "p50 ms", "p99 ms", "QPS",
                       "failed", "pool size: mean (max)"});
  std::vector<JsonObject> json_variants;
  for (size_t v = 0; v < variants.size(); ++v) {
    std::vector<JsonObject> json_phases;
    for (size_t p = 0; p < setup.phases.size(); ++p) {
      const Phase& phase = setup.phases[p];
      const Summary p50 = Summarize(PhaseField(runs[v], p, &PhaseFigures::p50));
      const Summary p99 = Summarize(PhaseField(runs[v], p, &PhaseFigures::p99));
      const Summary qps = Summarize(PhaseField(runs[v], p, &PhaseFigures::qps));
      const std::vector<double> p99_reps =
          PhaseField(runs[v], p, &PhaseFigures::p99);
      const Summary pool =
          Summarize(PhaseField(runs[v], p, &PhaseFigures::mean_pool));
      const Summary pickable =
          Summarize(PhaseField(runs[v], p, &PhaseFigures::mean_pickable));
      int calls = 0, failures = 0, max_pool = 0;
      for (const Run& run : runs[v]) {
        calls += run.phases[p].calls;
        failures += run.phases[p].failures;
        max_pool = std::max(max_pool, run.phases[p].max_pool);
      }
      json_phases.push_back(JsonObject()
                                .Set("phase", phase.name)
                                .Set("callers", double(phase.callers))
                                .Set("p50_ms", p50)
                                .Set("p99_ms", p99)
                                .Set("p99_ms_reps", p99_reps)
                                .Set("qps", qps)
                                .Set("calls", double(calls))
                                .Set("failed_calls", double(failures))
                                .Set("mean_pool", pool)
                                .Set("mean_pickable", pickable)
                                .Set("max_pool", double(max_pool)));
      if (phase.callers == 0 && !variants[v].dynamic()) continue;
      table.AddRow({phase.name, variants[v].name,
                    phase.callers ? Range(p50, 2) : "",
                    phase.callers ? Range(p99, 2) : "",
                    phase.callers ? Fixed(qps.median, 0) : "",
                    phase.callers ? std::to_string(failures) : "",
                    Fixed(pool.median, 1) + " (" + std::to_string(max_pool) +
                        ")"});
    }
    JsonObject json_variant;
    json_variant.Set("channel", variants[v].name)
        .Set("min_size", double(variants[v].min_size))
        .Set("max_size", double(variants[v].max_size))
        .Set("phases", json_phases);
    if (variants[v].dynamic()) {
      std::vector<double> grows, shrinks, reversals, peaks;
      for (const Run& run : runs[v]) {
        grows.push_back(run.grows);
        shrinks.push_back(run.shrinks);
        reversals.push_back(run.reversals);
        peaks.push_back(run.peak);
      }
      json_variant.Set("to_max_s", RunField(runs[v], &Run::to_max_s))
          .Set("to_min_after_step_s",
               RunField(runs[v], &Run::to_min_after_step_s))
          .Set("to_min_after_idle_s",
               RunField(runs[v], &Run::to_min_after_idle_s))
          .Set("documented_to_min_s", documented)
          .Set("peak_members", peaks)
          .Set("grows", grows)
          .Set("shrinks", shrinks)
          .Set("direction_changes", reversals);
    }
    json_variants.push_back(json_variant);
  }

  if (!config.load_step_plot_data.empty()) {
    std::ofstream out(config.load_step_plot_data);
    out << "second";
    for (const Variant& variant : variants) {
      out << "\t\"p99 ms, " << variant.name << "\"";
    }
    out << "\t\"pool size, " << variants[kDynamic].name << "\"\n";
    std::vector<std::vector<double>> columns;
    for (size_t v = 0; v < variants.size(); ++v) {
      columns.push_back(MedianSeries(runs[v], &Run::p99_per_second));
    }
    columns.push_back(MedianSeries(runs[kDynamic], &Run::pool_per_second));
    size_t length = 0;
    for (const auto& column : columns) length = std::max(length, column.size());
    for (size_t s = 0; s < length; ++s) {
      out << s + 0.5;
      for (const auto& column : columns) {
        if (s < column.size() && std::isfinite(column[s])) {
          out << "\t" << column[s];
        } else {
          out << "\tNaN";
        }
      }
      out << "\n";
    }
    if (!out) {
      return absl::UnavailableError("cannot write " +
                                    config.load_step_plot_data);
    }
  }

  std::string phases_text;
  for (const Phase& phase : setup.phases) {
    phases_text += (phases_text.empty() ? "" : ", ") +
                   (phase.callers ? std::to_string(phase.callers) +
                                        " callers for " +
                                        Fixed(phase.seconds, 0) + " s"
                                  : "then idle until the dynamic pool is "
                                    "back at its minimum (at most " +
                                        Fixed(phase.seconds, 0) + " s)");
  }
  const double smoothing_s =
      std::chrono::duration<double>(setup.smoothing).count();
  const double window_s =
      std::chrono::duration<double>(setup.shrink_window).count();
  ScenarioReport report;
  report.name = "load_step";
  report.json.Set("backends", double(setup.backends))
      .Set("slots_per_backend", double(kSlots))
      .Set("service_time_ms", double(kServiceTime.count()))
      .Set("smoothing_s", smoothing_s)
      .Set("shrink_window_s", window_s)
      .Set("reps", double(reps))
      .Set("variants", json_variants)
      .Set("ratio_p99_step_fixed_min", ratios)
      .Set("ratio_p99_step_fixed_min_summary", ratio)
      .Set("to_min_after_idle_summary", to_min_idle)
      .Set("to_min_after_step_summary", to_min_step)
      .Set("documented_to_min_summary", bound)
      .Set("p99_goal", "dynamic p99 with many callers <= 0.5 x fixed pool " +
                           std::to_string(setup.min_size) + "'s")
      .Set("p99_goal_met", p99_met)
      .Set("to_min_goal",
           "at idle, back at min_size within shrink_window + smoothing x "
           "ln(callers / (shrink_below x min_size)) + (size - min_size) x "
           "100 ms")
      .Set("to_min_goal_met", within)
      .Set("goal_met", p99_met && within);
  report.markdown =
      "### load_step\n\nUnary Echo calls to " +
      std::to_string(setup.backends) +
      " backends, each a process of its own on 127.0.0.1-" +
      std::to_string(setup.backends) +
      " (BenchBackend with a capacity: " + std::to_string(kSlots) +
      " calls served at once, " + std::to_string(kServiceTime.count()) +
      " ms each on a timer, the rest queued; " +
      std::to_string(setup.backends * kSlots * 1000 / kServiceTime.count()) +
      " calls/s for all of them). Closed-loop callers: " + phases_text +
      ". Channels: warm with PoolSizingOptions min_size " +
      std::to_string(setup.min_size) + ", max_size " +
      std::to_string(max_size) + " (grow_above 2, shrink_below 1, smoothing " +
      Fixed(smoothing_s, 1) + " s, shrink_window " + Fixed(window_s, 0) +
      " s), warm with a fixed pool of " + std::to_string(setup.min_size) +
      " and of " + std::to_string(max_size) + "; new channel per run; " +
      std::to_string(reps) +
      " repetitions, order rotated; percentiles of every call of a phase, "
      "median (range) over repetitions; pool size: Health().members sampled "
      "every 100 ms.\n\n" +
      table.ToString() + "\nDynamic pool: at max_size " +
      SecondsText(to_max.median) + " s after the step up (median); back at " +
      std::to_string(setup.min_size) + " members " +
      SecondsText(to_min_step.median) + " s (" + Range(to_min_step, 1) +
      ") after the many-caller phase ended, " + SecondsText(to_min_idle.median) +
      " s (" + Range(to_min_idle, 1) +
      ") after load stopped; documented bound " + Fixed(bound.median, 1) +
      " s.\n\nGoals: " + variants[kDynamic].name + " p99 with " +
      std::to_string(setup.phases[setup.step_phase].callers) +
      " callers <= 0.5 x fixed pool " + std::to_string(setup.min_size) +
      "'s: " + Range(ratio, 3) + " **" + GoalWord(p99_met) +
      "**; back at min_size within the documented bound after load stopped: "
      "**" +
      GoalWord(within) + "**" +
      (all_reached ? "" : " (not reached within the idle bound)") + ".\n";
  return report;
}

int RunLoadStepBackend(const std::string& host) {
  absl::StatusOr<std::unique_ptr<BenchBackend>> backend =
      BenchBackend::StartWithCapacity(host, 0, {kSlots, kServiceTime});
  if (!backend.ok()) {
    std::cerr << "warm_bench --load-step-backend: " << backend.status()
              << "\n";
    return 1;
  }
  std::cout << "PORT " << (*backend)->port() << "\n" << std::flush;
  // Serves until killed: the parent kills it, and it dies with the parent
  // (Subprocess: PR_SET_PDEATHSIG); should both fail, it ends by itself
  // when orphaned or after kBackendLifetime.
  const pid_t parent = getppid();
  const Clock::time_point end = Clock::now() + kBackendLifetime;
  while (Clock::now() < end && getppid() == parent) {
    std::this_thread::sleep_for(milliseconds(500));  // polling the parent
  }
  return 0;
}

}  // namespace bench
}  // namespace warm
