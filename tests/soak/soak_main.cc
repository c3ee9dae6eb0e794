// warm_soak: a chaos soak of warm channels (issue 17).
//
// For --duration it runs many warm channels at once -- static address lists,
// DNS names served by a real dnsmasq, mutual TLS, and (as root with nft)
// backends in network namespaces -- under closed-loop load (threads making
// sync calls back to back, a few server streams) and open-loop load
// (callback calls started at a fixed rate whatever completes), every call
// with a deadline. Meanwhile faults drawn from a seeded schedule hit the
// backends (SIGKILL and restart, SIGSTOP and SIGCONT, NOT_SERVING and back),
// DNS (records changed, dnsmasq killed and restarted), TLS (client files
// rotated, sometimes left half-written for a while), the network (drop,
// loss, TCP reset in a namespace) and the channels themselves (destroyed and
// replaced mid-load); the diagnostics server is scraped all along.
//
// It checks invariants, never timings (scripts/soak.sh runs it):
// every call ends with a status, none far past its deadline; per channel the
// harness's own count of calls agrees with warm's snapshot and /metrics once
// the channel is quiet, and bounds them while it is not (warm's own
// started - finished - in_flight included); counters never go
// down; event logs stay within their cap; RSS after warm-up stays bounded;
// every channel serves again once the faults are healed; and teardown is
// clean (every call ended, every channel destroyed, every child reaped, so
// that LSan sees no leak). Exits 0 only without violations. A watchdog
// (--watchdog) ends a run that outlives its bound, a lost call included,
// with what it knows and exit 1.
//
// Threads: the main thread owns every child process (ChildBackend, Dnsmasq
// and NetHost servers die with the thread that started them), runs the
// fault schedule, churns channels and checks; load threads and one scraper
// thread only read the channel slots.

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <dirent.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
// gtest only for its ad hoc test result: the helpers (ChildBackend,
// Dnsmasq) report failures with ADD_FAILURE (CheckHelperFailures).
#include "gtest/gtest.h"
#include "tests/soak/soak_book.h"
#include "tests/soak/soak_flags.h"
#include "tests/soak/soak_scrape.h"
#include "tests/testing/certs.h"
#include "tests/testing/child_backend.h"
#include "tests/testing/dnsmasq.h"
#include "tests/testing/net_host.h"
#include "tests/testing/tls_backend.h"
#include "warm/channel.h"
#include "warm/diagnostics.h"
#include "warm/testing/echo.grpc.pb.h"

#ifndef WARM_TEST_BACKEND_PATH
#error "WARM_TEST_BACKEND_PATH must name the warm_test_backend binary"
#endif

namespace warm {
namespace soak {
namespace {

namespace pb = ::warm::diagnostics::v1;
using std::chrono::milliseconds;
using testing::ChildBackend;
using warm::testing::EchoRequest;
using warm::testing::EchoResponse;
using warm::testing::EchoTest;

constexpr char kDnsHost[] = "soak.svc.test";
constexpr int kEventLogSize = 24;
// Open-loop calls outstanding at most; beyond it a tick is skipped (and
// counted), so that a hung channel cannot grow memory without bound.
constexpr int kMaxOpenLoopOutstanding = 2000;

// SIGINT/SIGTERM: the first stops load early and the run ends as usual
// (checks, summary) but fails, "interrupted"; a second exits at once.
std::atomic<bool> g_interrupted{false};  // lock-free: async-signal-safe
void OnSignal(int sig) {
  if (g_interrupted.exchange(true)) {
    static const char kNow[] = "warm_soak: second signal: exiting now\n";
    if (write(STDERR_FILENO, kNow, sizeof kNow - 1) < 0) {
    }
    _exit(128 + sig);
  }
  static const char kStop[] =
      "warm_soak: interrupted: stopping (a second signal exits at once)\n";
  if (write(STDERR_FILENO, kStop, sizeof kStop - 1) < 0) {
  }
}

int64_t RssKb() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// Entries of /proc/self/<dir> ("fd", "task"): file descriptors, threads.
int ProcCount(const char* dir) {
  int count = 0;
  if (DIR* d = opendir((std::string("/proc/self/") + dir).c_str())) {
    while (const dirent* e = readdir(d)) count += e->d_name[0] != '.';
    closedir(d);
  }
  return count;
}

std::string CodeName(int code) {
  static const char* const kNames[kCodes] = {
      "OK",        "CANCELLED",         "UNKNOWN",
      "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
      "ALREADY_EXISTS",   "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED",     "OUT_OF_RANGE",
      "UNIMPLEMENTED",    "INTERNAL",          "UNAVAILABLE",
      "DATA_LOSS",        "UNAUTHENTICATED"};
  return code >= 0 && code < kCodes ? kNames[code] : "?";
}

// --- Channels ---------------------------------------------------------------

enum class ChannelKind { kStatic, kDns, kTls, kNetns };

const char* KindName(ChannelKind kind) {
  switch (kind) {
    case ChannelKind::kStatic:
      return "static";
    case ChannelKind::kDns:
      return "dns";
    case ChannelKind::kTls:
      return "tls";
    case ChannelKind::kNetns:
      return "netns";
  }
  return "?";
}

// One warm channel and the harness's count of its calls. Calls hold the
// entry (and so the channel) until they end; the entry going is the
// channel's destruction, counted in `live`.
struct ChannelEntry {
  ChannelEntry(std::string name_in, ChannelKind kind_in,
               std::shared_ptr<Channel> channel_in,
               std::shared_ptr<CallTally> tally_in, std::atomic<int>* live_in)
      : name(std::move(name_in)),
        kind(kind_in),
        channel(std::move(channel_in)),
        tally(std::move(tally_in)),
        live(live_in) {
    live->fetch_add(1);
  }
  ~ChannelEntry() {
    channel.reset();  // the last reference: the destructor runs here
    live->fetch_sub(1);
  }
  const std::string name;
  const ChannelKind kind;
  std::shared_ptr<Channel> channel;
  const std::shared_ptr<CallTally> tally;
  std::atomic<int>* const live;
};

// --- Scheduled actions ------------------------------------------------------

struct Scheduled {
  SteadyClock::time_point at;
  uint64_t order;  // ties: first scheduled first
  std::string what;
  std::function<void()> run;
  bool operator>(const Scheduled& other) const {
    return at != other.at ? at > other.at : order > other.order;
  }
};

// --- The soak ----------------------------------------------------------------

class Soak {
 public:
  explicit Soak(SoakFlags flags)
      : flags_(std::move(flags)),
        log_(SteadyClock::now()),
        violations_(&log_),
        history_(&violations_),
        rng_(flags_.seed) {}

  int Run();

 private:
  enum class BackendState { kUp, kStopped, kKilled, kNotServing };
  struct Backend {
    std::string host;
    std::unique_ptr<ChildBackend> child;
    BackendState state = BackendState::kUp;
  };
  struct NetBackend {
    std::unique_ptr<testing::NetHost> host;
    std::unique_ptr<testing::NetHost::Server> server;
    bool faulted = false;
  };
  struct Retiring {
    std::shared_ptr<ChannelEntry> entry;
    SteadyClock::time_point since;
    bool reported = false;  // as retiree_stuck
  };

  // Setup.
  bool StartBackends();
  bool StartDns();
  bool StartTls();
  void StartNetns();
  std::shared_ptr<ChannelEntry> NewChannel(ChannelKind kind);
  ChannelOptions BaseOptions(const std::string& name) const;

  // Load.
  std::shared_ptr<ChannelEntry> PickEntry(std::mt19937_64& rng);
  void ClosedLoop(int index);
  void OpenLoop();
  void UnaryCall(const std::shared_ptr<ChannelEntry>& entry,
                 milliseconds deadline, bool wait_for_ready = false,
                 grpc::Status* out = nullptr);
  void ServerStreamCall(const std::shared_ptr<ChannelEntry>& entry,
                        milliseconds deadline);

  // Faults.
  void Schedule(milliseconds after, std::string what, std::function<void()> run);
  void ScheduleNextFault();
  void InjectFault();
  void Fault(const std::string& kind, const std::string& detail);
  void RestartBackend(size_t index);
  void ChurnChannel();
  std::vector<std::string> RandomDnsAddresses(bool allow_empty);
  void HealEverything();
  void RefillSlots();

  // Checks.
  void Scraper();
  void ScrapeOnce(httplib::Client& client);
  void CheckLiveBounds(const pb::Snapshot& snapshot,
                       const std::vector<MetricSample>& metrics,
                       const std::map<std::string, uint64_t>& finished_before,
                       const std::string& source);
  void PeriodicChecks();
  void CheckRss(const char* when);
  void CheckQuiescent(const std::vector<std::shared_ptr<ChannelEntry>>& entries,
                      const std::string& when);
  void CheckRetiring(bool final_pass);
  void CheckHelperFailures();
  void CheckRecovery();
  void CheckTlsRotated(const std::shared_ptr<ChannelEntry>& entry,
                       SteadyClock::time_point deadline);
  bool Drain();
  void Watchdog(SteadyClock::time_point load_start);
  void CleanUpBeforeExit();
  void RemoveTempFilesNow();
  void PrintSummary(SteadyClock::duration wall);

  template <typename T>
  std::string Pick(const std::vector<T>& items);

  const SoakFlags flags_;
  SoakLog log_;
  Violations violations_;
  CallOutcomes outcomes_;
  CounterHistory history_;
  std::mt19937_64 rng_;  // the fault schedule's: main thread only

  // Child processes and servers (main thread).
  std::vector<Backend> backends_;
  int backend_port_ = 0;
  std::unique_ptr<testing::Dnsmasq> dns_;
  bool dns_up_ = false;
  std::vector<std::string> dns_records_;
  std::optional<testing::CertDir> cert_dir_;
  testing::Pem ca_;
  std::string ca_file_, cert_file_, key_file_;
  std::vector<std::unique_ptr<testing::TlsBackend>> tls_backends_;
  bool tls_busy_ = false;  // a half-written rotation not completed yet
  int tls_generation_ = 0;
  std::vector<NetBackend> net_backends_;
  std::string netns_skip_;
  std::unique_ptr<DiagnosticsServer> diagnostics_;

  // Channels.
  std::mutex slots_mu_;
  std::vector<std::shared_ptr<ChannelEntry>> slots_;  // guarded by slots_mu_
  std::vector<ChannelKind> kinds_;                    // per slot
  std::vector<Retiring> retiring_;                    // main thread
  std::atomic<int> live_entries_{0};
  int channel_serial_ = 0;
  int channels_created_ = 0;
  int channels_destroyed_checked_ = 0;
  int channels_destroyed_in_flight_ = 0;
  // Every tally of the run, by channel name (main thread writes, under
  // tallies_mu_ as the scraper reads).
  std::mutex tallies_mu_;
  std::map<std::string, std::shared_ptr<CallTally>> tallies_;

  // Schedule (main thread).
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>>
      schedule_;
  uint64_t schedule_order_ = 0;
  std::map<std::string, int> faults_;
  // The scheduled undoing of faults (restarts, SIGCONT, ...), by kind:
  // reported apart so that the fault counts are faults only.
  std::map<std::string, int> heals_;
  std::map<std::string, std::string> skipped_kinds_;
  // dnsmasq could not be restarted by the final heal: DNS channels cannot
  // recover, through no fault of warm's, and are not checked.
  bool dns_recovery_skipped_ = false;

  // Load.
  std::atomic<bool> stop_load_{false};
  std::atomic<bool> stop_scraper_{false};
  std::atomic<int> open_loop_outstanding_{0};
  std::atomic<uint64_t> open_loop_skipped_{0};
  std::mutex scraper_mu_;
  std::condition_variable scraper_cv_;

  // Scrapes.
  std::atomic<uint64_t> scrapes_{0};
  std::atomic<uint64_t> scrape_failures_{0};
  std::atomic<uint64_t> counters_compared_{0};

  // RSS (main thread).
  int64_t rss_start_kb_ = 0, rss_warm_kb_ = 0, rss_max_kb_ = 0,
          rss_end_kb_ = 0;
  bool rss_reported_ = false;
  int helper_failures_seen_ = 0;

  // The watchdog (Watchdog()): told to stand down at the end of Run().
  std::mutex watchdog_mu_;
  std::condition_variable watchdog_cv_;
  bool watchdog_done_ = false;  // guarded by watchdog_mu_
  // What an _exit() from another thread must still remove (set up before
  // load starts, read-only after): temporary directories, namespaces.
  std::vector<std::string> temp_dirs_;
  std::vector<std::string> netns_names_;
};

template <typename T>
std::string Soak::Pick(const std::vector<T>& items) {
  return items[std::uniform_int_distribution<size_t>(0, items.size() - 1)(
      rng_)];
}

// --- Setup --------------------------------------------------------------------

bool Soak::StartBackends() {
  for (int i = 0; i < flags_.backends; ++i) {
    Backend backend;
    backend.host = "127.0.0." + std::to_string(11 + i);
    // Every backend on one port, so that a DNS name (one port) can point at
    // any of them and a killed one comes back where its clients look.
    backend.child = std::make_unique<ChildBackend>(
        backend.host, ChildBackend::Health::kServing, backend_port_);
    if (backend_port_ == 0) backend_port_ = backend.child->port();
    backends_.push_back(std::move(backend));
  }
  log_.Line(absl::StrCat("setup: ", backends_.size(),
                         " child backends on 127.0.0.11.. port ",
                         backend_port_));
  return true;
}

bool Soak::StartDns() {
  if (!flags_.dns) {
    skipped_kinds_["dns"] = "--no-dns";
    return true;
  }
  dns_ = std::make_unique<testing::Dnsmasq>(1);
  dns_up_ = true;
  for (const Backend& backend : backends_) dns_records_.push_back(backend.host);
  dns_->SetRecords({{kDnsHost, dns_records_}});
  log_.Line("setup: dnsmasq on " + dns_->server() + " answering " + kDnsHost);
  return true;
}

bool Soak::StartTls() {
  if (!flags_.tls) {
    skipped_kinds_["tls"] = "--no-tls";
    return true;
  }
  auto dir = testing::CertDir::Create("soak-tls");
  auto ca = testing::MakeCa("soak-ca");
  if (!dir.ok() || !ca.ok()) {
    std::cerr << "warm_soak: cannot make TLS material: "
              << (dir.ok() ? ca.status() : dir.status()) << "\n";
    return false;
  }
  cert_dir_.emplace(*std::move(dir));
  ca_ = *ca;
  auto server = testing::MakeServerCert(ca_);
  auto client = testing::MakeClientCert(ca_, "soak-client-0");
  if (!server.ok() || !client.ok()) {
    std::cerr << "warm_soak: cannot make certificates\n";
    return false;
  }
  auto ca_path = cert_dir_->Write("ca.pem", ca_.cert);
  auto files = cert_dir_->WritePem("client", *client);
  if (!ca_path.ok() || !files.ok()) {
    std::cerr << "warm_soak: cannot write certificates\n";
    return false;
  }
  ca_file_ = *ca_path;
  cert_file_ = files->cert;
  key_file_ = files->key;
  for (const char* host : {"127.0.0.61", "127.0.0.62"}) {
    testing::TlsBackend::Options options;
    options.server = *server;
    options.client_ca = ca_.cert;
    auto backend = testing::TlsBackend::Start(host, 0, options);
    if (!backend.ok()) {
      std::cerr << "warm_soak: TLS backend: " << backend.status() << "\n";
      return false;
    }
    tls_backends_.push_back(*std::move(backend));
  }
  log_.Line("setup: 2 mutual-TLS backends, client files in " +
            cert_dir_->path());
  return true;
}

void Soak::StartNetns() {
  if (!flags_.netns) {
    netns_skip_ = "--no-netns";
  } else {
    netns_skip_ = testing::NetHost::SkipReason();
  }
  if (!netns_skip_.empty()) {
    skipped_kinds_["net_partition, net_loss, net_reset"] = netns_skip_;
    log_.Line("setup: network faults skipped: " + netns_skip_);
    return;
  }
  for (int i = 0; i < 2; ++i) {
    auto host = testing::NetHost::Create();
    if (!host.ok()) {
      netns_skip_ = host.status().ToString();
      break;
    }
    auto server = (*host)->StartServer(
        {WARM_TEST_BACKEND_PATH, "--host", (*host)->address()});
    if (!server.ok()) {
      netns_skip_ = server.status().ToString();
      break;
    }
    net_backends_.push_back({*std::move(host), *std::move(server), false});
  }
  if (!netns_skip_.empty()) {
    net_backends_.clear();
    skipped_kinds_["net_partition, net_loss, net_reset"] = netns_skip_;
    log_.Line("setup: network faults skipped: " + netns_skip_);
    return;
  }
  log_.Line("setup: 2 backends in network namespaces " +
            net_backends_[0].host->name() + ", " +
            net_backends_[1].host->name());
}

ChannelOptions Soak::BaseOptions(const std::string& name) const {
  ChannelOptions options;
  options.name = name;
  options.pool_size = 3;
  options.event_log_size = kEventLogSize;  // small: the cap is reached
  options.dns.min_refresh = milliseconds(1000);
  options.dns.max_refresh = milliseconds(3000);
  options.dns.query_timeout = milliseconds(500);
  // Ejections short enough to end within a run.
  options.outlier_ejection.base_ejection_time = milliseconds(2000);
  options.outlier_ejection.max_ejection_time = milliseconds(10000);
  return options;
}

std::shared_ptr<ChannelEntry> Soak::NewChannel(ChannelKind kind) {
  const std::string name =
      absl::StrCat("soak-", KindName(kind), "-", ++channel_serial_);
  ChannelOptions options = BaseOptions(name);
  std::string target;
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  switch (kind) {
    case ChannelKind::kStatic: {
      // Three of the backends, from the seed.
      std::vector<std::string> addresses;
      std::vector<size_t> order(backends_.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng_);
      for (size_t i = 0; i < std::min<size_t>(3, order.size()); ++i) {
        addresses.push_back(backends_[order[i]].host + ":" +
                            std::to_string(backend_port_));
      }
      target = "ipv4:" + absl::StrJoin(addresses, ",");
      break;
    }
    case ChannelKind::kDns:
      target = "dns://" + dns_->server() + "/" + kDnsHost + ":" +
               std::to_string(backend_port_);
      break;
    case ChannelKind::kTls: {
      target = "ipv4:" + tls_backends_[0]->address() + "," +
               tls_backends_[1]->address();
      TlsOptions tls;
      tls.ca_file = ca_file_;
      tls.cert_file = cert_file_;
      tls.key_file = key_file_;
      tls.server_name_override = "backend.test";
      tls.reload_interval = milliseconds(300);
      options.tls = tls;
      credentials = nullptr;
      break;
    }
    case ChannelKind::kNetns:
      target = "ipv4:" + net_backends_[0].server->address() + "," +
               net_backends_[1].server->address();
      break;
  }
  absl::StatusOr<std::shared_ptr<Channel>> channel =
      CreateChannel(target, credentials, std::move(options));
  if (!channel.ok()) {
    // A TLS channel created while the files are half-written is refused,
    // as documented: try again with the next churn.
    log_.Line("channel " + name + " (" + target +
              ") not created: " + channel.status().ToString());
    return nullptr;
  }
  auto tally = std::make_shared<CallTally>(
      name, CallTally::Shared{&violations_, &outcomes_, flags_.deadline_slack});
  {
    std::lock_guard<std::mutex> lock(tallies_mu_);
    tallies_[name] = tally;
  }
  ++channels_created_;
  if (flags_.verbose) log_.Line("channel " + name + " created: " + target);
  return std::make_shared<ChannelEntry>(name, kind, *std::move(channel),
                                        std::move(tally), &live_entries_);
}

// --- Load ---------------------------------------------------------------------

std::shared_ptr<ChannelEntry> Soak::PickEntry(std::mt19937_64& rng) {
  std::lock_guard<std::mutex> lock(slots_mu_);
  if (slots_.empty()) return nullptr;
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto& entry = slots_[std::uniform_int_distribution<size_t>(
        0, slots_.size() - 1)(rng)];
    if (entry != nullptr) return entry;
  }
  return nullptr;
}

void Soak::UnaryCall(const std::shared_ptr<ChannelEntry>& entry,
                     milliseconds deadline, bool wait_for_ready,
                     grpc::Status* out) {
  auto stub = EchoTest::NewStub(entry->channel);
  grpc::ClientContext context;
  const auto deadline_at = SteadyClock::now() + deadline;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  context.set_wait_for_ready(wait_for_ready);
  EchoRequest request;
  request.set_message("soak");
  EchoResponse response;
  const uint64_t id = entry->tally->Begin(
      deadline_at, wait_for_ready ? "unary wait_for_ready" : "unary");
  const grpc::Status status = stub->Echo(&context, request, &response);
  entry->tally->End(id, status);
  if (out != nullptr) *out = status;
}

void Soak::ServerStreamCall(const std::shared_ptr<ChannelEntry>& entry,
                            milliseconds deadline) {
  auto stub = EchoTest::NewStub(entry->channel);
  grpc::ClientContext context;
  const auto deadline_at = SteadyClock::now() + deadline;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  EchoRequest request;
  request.set_message("soak-stream");
  request.set_count(3);
  const uint64_t id = entry->tally->Begin(deadline_at, "server_stream");
  auto reader = stub->ServerStream(&context, request);
  EchoResponse response;
  // At most `count` messages come; the bound guards against a server that
  // sends more.
  for (int read = 0; read < 16 && reader->Read(&response); ++read) {
  }
  const grpc::Status status = reader->Finish();
  entry->tally->End(id, status);
}

void Soak::ClosedLoop(int index) {
  std::mt19937_64 rng(flags_.seed ^ (0x9e3779b97f4a7c15ULL * (index + 1)));
  std::uniform_int_distribution<int> deadline_ms(200, 1500);
  std::uniform_int_distribution<int> kind(0, 19);
  while (!stop_load_.load()) {
    std::shared_ptr<ChannelEntry> entry = PickEntry(rng);
    if (entry == nullptr) {
      std::this_thread::sleep_for(milliseconds(10));  // pacing, not waiting
      continue;
    }
    // One in 20 a server stream (TlsBackend serves Echo only), one in 10 a
    // wait_for_ready call (held by warm while nothing is pickable).
    const int draw = kind(rng);
    if (draw == 0 && entry->kind != ChannelKind::kTls) {
      ServerStreamCall(entry, milliseconds(deadline_ms(rng)));
    } else {
      UnaryCall(entry, milliseconds(deadline_ms(rng)),
                /*wait_for_ready=*/draw == 1 || draw == 2);
    }
  }
}

// A callback call: it owns what the call needs until its callback runs.
struct AsyncCall {
  std::shared_ptr<ChannelEntry> entry;
  std::unique_ptr<EchoTest::Stub> stub;
  EchoRequest request;
  EchoResponse response;
  uint64_t id = 0;
  grpc::ClientContext context;  // destroyed first
};

void Soak::OpenLoop() {
  if (flags_.open_loop_rate <= 0) return;
  std::mt19937_64 rng(flags_.seed ^ 0x5851f42d4c957f2dULL);
  std::uniform_int_distribution<int> deadline_ms(200, 1500);
  std::bernoulli_distribution wait_for_ready(0.1);
  const auto period = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double>(1.0 / flags_.open_loop_rate));
  auto next = SteadyClock::now();
  while (!stop_load_.load()) {
    next += period;
    std::this_thread::sleep_until(next);  // the fixed rate
    if (open_loop_outstanding_.load() >= kMaxOpenLoopOutstanding) {
      open_loop_skipped_.fetch_add(1);
      continue;
    }
    std::shared_ptr<ChannelEntry> entry = PickEntry(rng);
    if (entry == nullptr) continue;
    auto* call = new AsyncCall;
    call->entry = entry;
    call->stub = EchoTest::NewStub(entry->channel);
    call->request.set_message("soak-open");
    const milliseconds deadline(deadline_ms(rng));
    call->context.set_deadline(std::chrono::system_clock::now() + deadline);
    call->context.set_wait_for_ready(wait_for_ready(rng));
    call->id = entry->tally->Begin(SteadyClock::now() + deadline, "callback");
    open_loop_outstanding_.fetch_add(1);
    call->stub->async()->Echo(&call->context, &call->request, &call->response,
                              [this, call](grpc::Status status) {
                                call->entry->tally->End(call->id, status);
                                open_loop_outstanding_.fetch_sub(1);
                                // May destroy the channel, on gRPC's thread;
                                // the entry's count of live channels is the
                                // last thing of the soak it touches, so
                                // teardown waits for it.
                                delete call;
                              });
  }
}

// --- Faults -------------------------------------------------------------------

void Soak::Schedule(milliseconds after, std::string what,
                    std::function<void()> run) {
  schedule_.push(Scheduled{SteadyClock::now() + after, ++schedule_order_,
                           std::move(what), std::move(run)});
}

void Soak::ScheduleNextFault() {
  std::exponential_distribution<double> gap(
      1.0 / static_cast<double>(flags_.fault_interval.count()));
  const auto after = milliseconds(static_cast<int64_t>(gap(rng_)) + 1);
  Schedule(after, "fault", [this] {
    InjectFault();
    ScheduleNextFault();
  });
}

void Soak::Fault(const std::string& kind, const std::string& detail) {
  ++faults_[kind];
  log_.Line("fault " + kind + " " + detail);
}

void Soak::RestartBackend(size_t index) {
  Backend& backend = backends_[index];
  backend.child = std::make_unique<ChildBackend>(
      backend.host, ChildBackend::Health::kServing, backend_port_);
  backend.state = BackendState::kUp;
}

std::vector<std::string> Soak::RandomDnsAddresses(bool allow_empty) {
  std::vector<std::string> out;
  for (const Backend& backend : backends_) {
    if (std::bernoulli_distribution(0.6)(rng_)) out.push_back(backend.host);
  }
  if (out.empty() && !(allow_empty && std::bernoulli_distribution(0.5)(rng_))) {
    out.push_back(Pick(std::vector<std::string>{backends_[0].host,
                                                backends_.back().host}));
  }
  return out;
}

void Soak::InjectFault() {
  std::uniform_int_distribution<int> recover_ms(500, 4000);
  // The kinds possible now, each with a weight.
  std::vector<std::pair<std::string, int>> kinds;
  int faulted = 0;
  for (const Backend& backend : backends_) {
    faulted += backend.state != BackendState::kUp;
  }
  if (faulted < static_cast<int>(backends_.size()) - 1) {
    kinds.push_back({"backend_kill", 3});
    kinds.push_back({"backend_stop", 3});
    kinds.push_back({"backend_not_serving", 3});
  }
  if (dns_ != nullptr) {
    if (dns_up_) {
      kinds.push_back({"dns_records", 3});
      kinds.push_back({"dns_kill", 1});
    }
  }
  if (!tls_backends_.empty() && !tls_busy_) {
    kinds.push_back({"tls_rotate", 2});
    kinds.push_back({"tls_half_written", 2});
  }
  if (!net_backends_.empty()) {
    kinds.push_back({"net_partition", 1});
    kinds.push_back({"net_loss", 1});
    kinds.push_back({"net_reset", 1});
  }
  kinds.push_back({"channel_churn", 4});
  int total = 0;
  for (const auto& [kind, weight] : kinds) total += weight;
  int draw = std::uniform_int_distribution<int>(0, total - 1)(rng_);
  std::string kind;
  for (const auto& [name, weight] : kinds) {
    if (draw < weight) {
      kind = name;
      break;
    }
    draw -= weight;
  }
  const milliseconds recover(recover_ms(rng_));

  if (kind.rfind("backend_", 0) == 0) {
    std::vector<size_t> up;
    for (size_t i = 0; i < backends_.size(); ++i) {
      if (backends_[i].state == BackendState::kUp) up.push_back(i);
    }
    const size_t index =
        up[std::uniform_int_distribution<size_t>(0, up.size() - 1)(rng_)];
    Backend& backend = backends_[index];
    const std::string where = backend.child->address();
    const std::string back = absl::StrCat(" (back in ", recover.count(), " ms)");
    if (kind == "backend_kill") {
      Fault(kind, where + back);
      backend.child->Kill();
      backend.state = BackendState::kKilled;
      Schedule(recover, "backend_restart " + where, [this, index, where] {
        RestartBackend(index);
        ++heals_["backend_restart"];
        log_.Line("heal backend_restart " + where);
      });
    } else if (kind == "backend_stop") {
      Fault(kind, where + back);
      backend.child->Stop();
      backend.state = BackendState::kStopped;
      Schedule(recover, "backend_continue " + where, [this, index, where] {
        backends_[index].child->Continue();
        backends_[index].state = BackendState::kUp;
        ++heals_["backend_continue"];
        log_.Line("heal backend_continue " + where);
      });
    } else {
      Fault(kind, where + back);
      backend.child->SetServing(false);
      backend.state = BackendState::kNotServing;
      Schedule(recover, "backend_serving " + where, [this, index, where] {
        backends_[index].child->SetServing(true);
        backends_[index].state = BackendState::kUp;
        ++heals_["backend_serving"];
        log_.Line("heal backend_serving " + where);
      });
    }
  } else if (kind == "dns_records") {
    dns_records_ = RandomDnsAddresses(/*allow_empty=*/true);
    Fault(kind, std::string(kDnsHost) + " -> [" +
                    absl::StrJoin(dns_records_, ",") + "]");
    dns_->SetRecords({{kDnsHost, dns_records_}});
  } else if (kind == "dns_kill") {
    Fault(kind, dns_->server() + absl::StrCat(" (back in ", recover.count(),
                                              " ms)"));
    dns_->Kill();
    dns_up_ = false;
    Schedule(recover, "dns_restart", [this] {
      if (dns_->Restart()) {
        ++heals_["dns_restart"];
        dns_up_ = true;
        log_.Line("heal dns_restart " + dns_->server());
      } else {
        // The port was taken meanwhile: DNS channels keep their last
        // answer; nothing to check against, so say so.
        ++heals_["dns_restart_failed"];
        log_.Line("heal dns_restart failed: port taken; DNS stays down");
      }
    });
  } else if (kind == "tls_rotate" || kind == "tls_half_written") {
    const int generation = ++tls_generation_;
    auto client = testing::MakeClientCert(
        ca_, "soak-client-" + std::to_string(generation));
    if (!client.ok()) {
      violations_.Add("harness", "MakeClientCert: " + client.status().ToString());
      return;
    }
    if (kind == "tls_rotate") {
      Fault(kind, absl::StrCat("client certificate generation ", generation,
                               " (atomic renames)"));
      if (!cert_dir_->WritePem("client", *client).ok()) {
        violations_.Add("harness", "cannot write client certificate");
      }
    } else {
      const size_t bytes = std::uniform_int_distribution<size_t>(
          0, client->cert.size() - 1)(rng_);
      Fault(kind, absl::StrCat("client certificate generation ", generation,
                               ": ", bytes, " of ", client->cert.size(),
                               " bytes written in place (completed in ",
                               recover.count(), " ms)"));
      if (!cert_dir_->WritePartial("client.crt", client->cert, bytes).ok()) {
        violations_.Add("harness", "cannot write client certificate");
      }
      tls_busy_ = true;
      Schedule(recover, "tls_complete", [this, pem = *client, generation] {
        const bool ok = cert_dir_->WriteInPlace("client.crt", pem.cert).ok() &&
                        cert_dir_->Write("client.key", pem.key).ok();
        if (!ok) violations_.Add("harness", "cannot complete TLS files");
        tls_busy_ = false;
        ++heals_["tls_complete"];
        log_.Line(absl::StrCat("heal tls_complete generation ", generation));
      });
    }
  } else if (kind.rfind("net_", 0) == 0) {
    std::vector<size_t> clear;
    for (size_t i = 0; i < net_backends_.size(); ++i) {
      if (!net_backends_[i].faulted) clear.push_back(i);
    }
    if (clear.empty()) {
      log_.Line("skip " + kind + ": every namespace has a fault");
      return;
    }
    const size_t index =
        clear[std::uniform_int_distribution<size_t>(0, clear.size() - 1)(rng_)];
    NetBackend& net = net_backends_[index];
    absl::Status status;
    std::string detail = net.host->name() + " (" + net.server->address() + ")";
    if (kind == "net_partition") {
      status = net.host->Partition();
    } else if (kind == "net_loss") {
      const int percent = std::uniform_int_distribution<int>(10, 60)(rng_);
      detail += absl::StrCat(" ", percent, " %");
      status = net.host->Loss(percent);
    } else {
      status = net.host->Reset();
    }
    Fault(kind, detail + absl::StrCat(" (cleared in ", recover.count(), " ms)"));
    if (!status.ok()) {
      violations_.Add("harness", kind + ": " + status.ToString());
      return;
    }
    net.faulted = true;
    Schedule(recover, "net_clear", [this, index, detail] {
      const absl::Status cleared = net_backends_[index].host->Clear();
      if (!cleared.ok()) violations_.Add("harness", "Clear: " + cleared.ToString());
      net_backends_[index].faulted = false;
      ++heals_["net_clear"];
      log_.Line("heal net_clear " + detail);
    });
  } else if (kind == "channel_churn") {
    ChurnChannel();
  }
}

void Soak::ChurnChannel() {
  size_t index;
  std::shared_ptr<ChannelEntry> old;
  {
    std::lock_guard<std::mutex> lock(slots_mu_);
    index = std::uniform_int_distribution<size_t>(0, slots_.size() - 1)(rng_);
    old = slots_[index];
  }
  std::shared_ptr<ChannelEntry> fresh = NewChannel(kinds_[index]);
  // A third of the old channels are dropped at once, with their calls in
  // flight (the calls keep them alive); the others wait for their calls to
  // end so that their counts can be compared first.
  const bool drop_now = std::bernoulli_distribution(1.0 / 3)(rng_);
  Fault("channel_churn",
        absl::StrCat(old != nullptr ? old->name : "(none)", " -> ",
                     fresh != nullptr ? fresh->name : "(not created)",
                     drop_now ? " (old dropped with calls in flight)"
                              : " (old checked once quiet)"));
  {
    std::lock_guard<std::mutex> lock(slots_mu_);
    slots_[index] = fresh;
  }
  if (old == nullptr) return;
  if (drop_now) {
    ++channels_destroyed_in_flight_;
  } else {
    retiring_.push_back({std::move(old), SteadyClock::now()});
  }
}

void Soak::HealEverything() {
  // Runs the pending heals now, in order (faults are no longer drawn).
  while (!schedule_.empty()) {
    Scheduled next = schedule_.top();
    schedule_.pop();
    if (next.what == "fault") continue;
    next.run();
  }
  if (dns_ != nullptr) {
    if (!dns_up_ && dns_->Restart()) dns_up_ = true;
    if (!dns_up_) {
      // Its UDP port was taken during the outage (Restart() keeps the port
      // so that clients find it again).
      dns_recovery_skipped_ = true;
      skipped_kinds_["dns recovery"] =
          "dnsmasq could not restart on its port after the run (taken "
          "meanwhile); DNS channels not checked for recovery";
      log_.Line("heal: dnsmasq cannot restart (port taken); DNS channels "
                "will not be checked for recovery");
    } else {
      // Every backend again, whatever the last dns_records fault left (an
      // empty set would make DNS channels unrecoverable by design).
      dns_records_.clear();
      for (const Backend& backend : backends_) {
        dns_records_.push_back(backend.host);
      }
      dns_->SetRecords({{kDnsHost, dns_records_}});
    }
  }
  log_.Line("healed: every backend up and serving, DNS answering, TLS files "
            "whole, no network fault");
}

void Soak::RefillSlots() {
  // A slot churned while the TLS files were half-written (or whatever else
  // made CreateChannel refuse) stays empty, and CheckRecovery() walks only
  // channels that exist: with the files whole again, fill every slot, so
  // that recovery (and the TLS rotation) is checked for every kind present.
  // Load has stopped: only this thread touches the slots now.
  for (size_t i = 0; i < kinds_.size(); ++i) {
    {
      std::lock_guard<std::mutex> lock(slots_mu_);
      if (slots_[i] != nullptr) continue;
    }
    std::shared_ptr<ChannelEntry> fresh = NewChannel(kinds_[i]);
    if (fresh == nullptr) {
      violations_.Add("channel_not_created",
                      absl::StrCat("slot ", i, " (", KindName(kinds_[i]),
                                   "): no channel can be created after "
                                   "healing (the log says why)"));
      continue;
    }
    log_.Line(absl::StrCat("slot ", i, " was empty: ", fresh->name,
                           " created after healing"));
    std::lock_guard<std::mutex> lock(slots_mu_);
    slots_[i] = std::move(fresh);
  }
}

// --- Checks -------------------------------------------------------------------

void Soak::Scraper() {
  httplib::Client client("127.0.0.1", diagnostics_->port());
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  client.set_keep_alive(false);
  while (!stop_scraper_.load()) {
    ScrapeOnce(client);
    std::unique_lock<std::mutex> lock(scraper_mu_);
    scraper_cv_.wait_for(lock, flags_.scrape_interval,
                         [&] { return stop_scraper_.load(); });
  }
}

void Soak::ScrapeOnce(httplib::Client& client) {
  // The harness's finished counts before the scrape bound warm's from below
  // (warm counts a call out before the harness sees its status); its started
  // counts after the scrape bound warm's from above.
  std::map<std::string, std::shared_ptr<CallTally>> tallies;
  {
    std::lock_guard<std::mutex> lock(tallies_mu_);
    tallies = tallies_;
  }
  std::map<std::string, uint64_t> finished_before;
  for (const auto& [name, tally] : tallies) {
    finished_before[name] = tally->finished();
  }
  auto get = [&](const std::string& path,
                 bool may_be_gone = false) -> std::optional<std::string> {
    auto result = client.Get(path);
    // A channel page may name a channel destroyed since the snapshot.
    if (result && may_be_gone && result->status == 404) return std::nullopt;
    if (!result) {
      scrape_failures_.fetch_add(1);
      violations_.Add("scrape_failed",
                      "GET " + path + ": " + httplib::to_string(result.error()));
      return std::nullopt;
    }
    if (result->status != 200) {
      scrape_failures_.fetch_add(1);
      violations_.Add("scrape_failed", absl::StrCat("GET ", path, ": HTTP ",
                                                    result->status));
      return std::nullopt;
    }
    return result->body;
  };
  std::optional<std::string> metrics_text = get("/metrics");
  std::optional<std::string> json = get("/channels.json");
  std::optional<std::string> page = get("/");
  scrapes_.fetch_add(1);
  if (!metrics_text || !json || !page) return;
  auto metrics = ParseMetricsText(*metrics_text);
  if (!metrics.ok()) {
    violations_.Add("scrape_bad", metrics.status().ToString());
    return;
  }
  auto snapshot = ParseSnapshotJson(*json);
  if (!snapshot.ok()) {
    violations_.Add("scrape_bad", snapshot.status().ToString());
    return;
  }
  if (snapshot->channels_size() > 0) {
    const pb::Channel& one = snapshot->channels(
        static_cast<int>(scrapes_.load() % snapshot->channels_size()));
    get("/channel/" + std::to_string(one.id()), /*may_be_gone=*/true);
  }
  const std::string source = absl::StrCat("scrape ", scrapes_.load());
  counters_compared_ += history_.CheckMetrics(*metrics, source);
  counters_compared_ += history_.CheckSnapshot(*snapshot, source);
  CheckLiveBounds(*snapshot, *metrics, finished_before, source);
}

void Soak::CheckLiveBounds(
    const pb::Snapshot& snapshot, const std::vector<MetricSample>& metrics,
    const std::map<std::string, uint64_t>& finished_before,
    const std::string& source) {
  std::map<std::string, std::shared_ptr<CallTally>> tallies;
  {
    std::lock_guard<std::mutex> lock(tallies_mu_);
    tallies = tallies_;
  }
  // /metrics per channel label: calls finished (all codes) and started.
  std::map<std::string, double> metric_finished, metric_started;
  for (const MetricSample& sample : metrics) {
    auto label = sample.labels.find("channel");
    if (label == sample.labels.end()) continue;
    if (sample.name == "warm_channel_calls_total") {
      metric_finished[label->second] += sample.value;
    } else if (sample.name == "grpc_client_started_total") {
      metric_started[label->second] += sample.value;
    }
  }
  for (const pb::Channel& channel : snapshot.channels()) {
    if (channel.events_size() > kEventLogSize) {
      violations_.Add("event_log_unbounded",
                      absl::StrCat(source, ": ", channel.name(), " shows ",
                                   channel.events_size(),
                                   " events, cap ", kEventLogSize));
    }
    auto tally = tallies.find(channel.name());
    auto before = finished_before.find(channel.name());
    if (tally == tallies.end() || before == finished_before.end()) continue;
    const uint64_t started_after = tally->second->started();
    uint64_t warm_finished = 0;
    for (const pb::CodeCount& count : channel.counters().calls_finished()) {
      warm_finished += count.count();
    }
    const pb::Counters& counters = channel.counters();
    auto bound = [&](const std::string& what, double warm_value, double low,
                     double high) {
      if (warm_value < low || warm_value > high) {
        std::ostringstream detail;
        detail << source << ": " << channel.name() << " " << what << " = "
               << warm_value << ", harness allows [" << low << ", " << high
               << "]";
        violations_.Add("count_disagrees", detail.str());
      }
    };
    const double started = static_cast<double>(started_after);
    const double fin = static_cast<double>(before->second);
    bound("snapshot calls_started", static_cast<double>(counters.calls_started()),
          fin, started);
    bound("snapshot calls finished", static_cast<double>(warm_finished), fin,
          started);
    bound("snapshot in_flight", static_cast<double>(counters.in_flight()), 0,
          started - fin);
    auto label = channel.metrics_label();
    // Warm's own books while calls run: calls_started - finished -
    // in_flight is 0 for a consistent read, but warm reads the three
    // (relaxed atomics, member by member) at different moments. Only calls
    // that run at some moment of the scrape can be caught half-way, and
    // those are among the harness's `started - fin` (warm counts a call
    // after Begin() and before End()). One such call adds +1 (counted
    // started, not yet in flight, or waiting), or down to -2 (started read
    // before it began, in_flight while it ran, finished after it ended).
    const double running = started - fin;
    const double gap = static_cast<double>(counters.calls_started()) -
                       static_cast<double>(warm_finished) -
                       static_cast<double>(counters.in_flight());
    if (gap < -2 * running || gap > running) {
      std::ostringstream detail;
      detail << source << ": " << channel.name() << " snapshot calls_started "
             << counters.calls_started() << " - finished " << warm_finished
             << " - in_flight " << counters.in_flight() << " = " << gap
             << ", beyond the " << running
             << " harness calls running during the scrape (allowed ["
             << -2 * running << ", " << running << "])";
      violations_.Add("count_inconsistent", detail.str());
    }
    if (metric_finished.count(label)) {
      bound("metrics warm_channel_calls_total", metric_finished[label], fin,
            started);
    }
    if (metric_started.count(label)) {
      bound("metrics grpc_client_started_total", metric_started[label], fin,
            started);
    }
  }
}

void Soak::CheckRss(const char* when) {
  const int64_t rss = RssKb();
  rss_end_kb_ = rss;
  if (rss_warm_kb_ == 0) return;
  rss_max_kb_ = std::max(rss_max_kb_, rss);
  const double bound = static_cast<double>(rss_warm_kb_) * flags_.rss_factor +
                       flags_.rss_slack_mb * 1024.0;
  if (!rss_reported_ && static_cast<double>(rss) > bound) {
    rss_reported_ = true;
    violations_.Add(
        "rss_unbounded",
        absl::StrCat(when, ": RSS ", rss / 1024, " MB > warm-up RSS ",
                     rss_warm_kb_ / 1024, " MB x ", flags_.rss_factor, " + ",
                     flags_.rss_slack_mb, " MB"));
  }
}

void Soak::CheckHelperFailures() {
  // The test helpers (ChildBackend, Dnsmasq) report with gtest's
  // ADD_FAILURE; outside a test those land in the ad hoc result.
  const ::testing::TestResult& result =
      ::testing::UnitTest::GetInstance()->ad_hoc_test_result();
  for (; helper_failures_seen_ < result.total_part_count();
       ++helper_failures_seen_) {
    const ::testing::TestPartResult& part =
        result.GetTestPartResult(helper_failures_seen_);
    if (part.failed()) violations_.Add("helper_failed", part.message());
  }
}

void Soak::PeriodicChecks() {
  const auto now = SteadyClock::now();
  std::map<std::string, std::shared_ptr<CallTally>> tallies;
  {
    std::lock_guard<std::mutex> lock(tallies_mu_);
    tallies = tallies_;
  }
  for (auto& [name, tally] : tallies) {
    tally->CheckOverdue(now);
    // (Warm's started = finished + in flight, while calls run, is checked on
    // every scrape: CheckLiveBounds.)
  }
  std::vector<std::shared_ptr<ChannelEntry>> live;
  {
    std::lock_guard<std::mutex> lock(slots_mu_);
    for (const auto& entry : slots_) {
      if (entry != nullptr) live.push_back(entry);
    }
  }
  for (const auto& entry : live) {
    const size_t events = entry->channel->Events().size();
    if (events > static_cast<size_t>(kEventLogSize)) {
      violations_.Add("event_log_unbounded",
                      absl::StrCat(entry->name, ": Events() holds ", events,
                                   ", cap ", kEventLogSize));
    }
  }
  // TlsBackend keeps a record (with the client's PEM) of every call until
  // reset: unreset, it alone grew RSS by ~500 bytes a TLS call.
  for (const auto& backend : tls_backends_) backend->ResetCounts();
  CheckRss("periodic");
  CheckHelperFailures();
}

void Soak::CheckQuiescent(
    const std::vector<std::shared_ptr<ChannelEntry>>& entries,
    const std::string& when) {
  if (entries.empty()) return;
  // In-process: the same handlers the HTTP server answers with.
  auto snapshot =
      ParseSnapshotJson(HandleDiagnosticsRequest("/channels.json").body);
  auto metrics = ParseMetricsText(HandleDiagnosticsRequest("/metrics").body);
  if (!snapshot.ok() || !metrics.ok()) {
    violations_.Add("scrape_bad", when + ": " +
                                      (snapshot.ok() ? metrics.status()
                                                     : snapshot.status())
                                          .ToString());
    return;
  }
  for (const auto& entry : entries) {
    const CallTally& tally = *entry->tally;
    std::vector<std::string> problems;
    const uint64_t started = tally.started();
    const uint64_t finished = tally.finished();
    const std::array<uint64_t, kCodes> by_code = tally.finished_by_code();
    if (started != finished || tally.outstanding() != 0) {
      problems.push_back(absl::StrCat("harness started ", started,
                                      " != finished ", finished,
                                      " (outstanding ", tally.outstanding(),
                                      ")"));
    }
    const pb::Channel* found = nullptr;
    for (const pb::Channel& channel : snapshot->channels()) {
      if (channel.name() == entry->name) found = &channel;
    }
    if (found == nullptr) {
      problems.push_back("not in /channels.json");
    } else {
      const pb::Counters& counters = found->counters();
      if (counters.calls_started() != started) {
        problems.push_back(absl::StrCat("snapshot calls_started ",
                                        counters.calls_started(),
                                        " != harness ", started));
      }
      if (counters.in_flight() != 0) {
        problems.push_back(
            absl::StrCat("snapshot in_flight ", counters.in_flight(), " != 0"));
      }
      std::array<uint64_t, kCodes> warm_codes{};
      for (const pb::CodeCount& count : counters.calls_finished()) {
        for (int code = 0; code < kCodes; ++code) {
          if (count.code() == CodeName(code)) warm_codes[code] = count.count();
        }
      }
      uint64_t method_started = 0;
      std::array<uint64_t, kCodes> method_codes{};
      for (const pb::MethodCalls& method : found->methods()) {
        method_started += method.started();
        for (const pb::CodeCount& count : method.handled()) {
          for (int code = 0; code < kCodes; ++code) {
            if (count.code() == CodeName(code)) {
              method_codes[code] += count.count();
            }
          }
        }
      }
      if (method_started != started) {
        problems.push_back(absl::StrCat("snapshot methods started ",
                                        method_started, " != harness ",
                                        started));
      }
      // /metrics, by the channel's label.
      std::array<double, kCodes> metric_codes{};
      double metric_started = 0, metric_in_flight = -1;
      for (const MetricSample& sample : *metrics) {
        auto label = sample.labels.find("channel");
        if (label == sample.labels.end() ||
            label->second != found->metrics_label()) {
          continue;
        }
        if (sample.name == "warm_channel_calls_total") {
          for (int code = 0; code < kCodes; ++code) {
            if (sample.labels.at("code") == CodeName(code)) {
              metric_codes[code] += sample.value;
            }
          }
        } else if (sample.name == "grpc_client_started_total") {
          metric_started += sample.value;
        } else if (sample.name == "warm_channel_in_flight_calls") {
          metric_in_flight = sample.value;
        }
      }
      if (metric_started != static_cast<double>(started)) {
        problems.push_back(absl::StrCat("metrics grpc_client_started_total ",
                                        metric_started, " != harness ",
                                        started));
      }
      if (metric_in_flight != 0) {
        problems.push_back(absl::StrCat("metrics warm_channel_in_flight_calls ",
                                        metric_in_flight, " != 0"));
      }
      for (int code = 0; code < kCodes; ++code) {
        if (warm_codes[code] != by_code[code] ||
            method_codes[code] != by_code[code] ||
            metric_codes[code] != static_cast<double>(by_code[code])) {
          problems.push_back(absl::StrCat(
              CodeName(code), ": harness ", by_code[code], ", snapshot ",
              warm_codes[code], ", snapshot methods ", method_codes[code],
              ", metrics ", metric_codes[code]));
        }
      }
      if (found->events_size() > kEventLogSize) {
        problems.push_back(absl::StrCat(found->events_size(),
                                        " events > cap ", kEventLogSize));
      }
    }
    if (!problems.empty()) {
      violations_.Add("count_disagrees", when + ": " + entry->name + ": " +
                                             absl::StrJoin(problems, "; "));
    }
  }
}

void Soak::CheckRetiring(bool final_pass) {
  std::vector<std::shared_ptr<ChannelEntry>> quiet;
  std::vector<Retiring> still;
  auto is_quiet = [](const Retiring& retiring) {
    return retiring.entry.use_count() == 1 &&
           retiring.entry->tally->outstanding() == 0;
  };
  if (final_pass) {
    // Every call has ended, but a callback may still be between End() and
    // dropping its AsyncCall: give them the drain timeout.
    const auto until = SteadyClock::now() + flags_.drain_timeout;
    while (SteadyClock::now() < until &&
           !std::all_of(retiring_.begin(), retiring_.end(), is_quiet)) {
      std::this_thread::sleep_for(milliseconds(10));  // polling, bounded
    }
  }
  const auto now = SteadyClock::now();
  for (Retiring& retiring : retiring_) {
    // Quiet means no call running and none about to start. outstanding() ==
    // 0 is not enough: a load thread may hold the entry from PickEntry()
    // taken just before ChurnChannel() swapped the slot, and not have called
    // Begin() yet. Out of slots_, the entry is referenced only by retiring_
    // and by callers that took it before: a load thread's local copy (held
    // until its call has ended) or an AsyncCall (dropped after End()). So
    // use_count() == 1 means nobody else holds it, and nobody can take it
    // again: no call can start on it.
    if (is_quiet(retiring)) {
      quiet.push_back(std::move(retiring.entry));
      continue;
    }
    // Its calls have deadlines of at most 1.5 s: held for longer than the
    // drain timeout (or still held at the end, once every call ended), the
    // channel is stuck. Report it once and keep the entry, so that nothing
    // is torn down under a call still running.
    if (!retiring.reported &&
        (final_pass || now - retiring.since > flags_.drain_timeout)) {
      retiring.reported = true;
      const auto calls = retiring.entry->tally->DescribeOutstanding(now);
      violations_.Add(
          "retiree_stuck",
          absl::StrCat(
              retiring.entry->name, ": retired ",
              std::chrono::duration_cast<milliseconds>(now - retiring.since)
                  .count(),
              " ms ago", final_pass ? " (end of run)" : "",
              ", still held by ", retiring.entry.use_count() - 1,
              " other references, ", calls.size(), " calls outstanding",
              calls.empty() ? "" : ": ", absl::StrJoin(calls, "; ")));
    }
    still.push_back(std::move(retiring));
  }
  retiring_ = std::move(still);
  CheckQuiescent(quiet, "retired");
  channels_destroyed_checked_ += static_cast<int>(quiet.size());
  quiet.clear();  // destroys them (unless a callback still holds one)
}

bool Soak::Drain() {
  const auto deadline = SteadyClock::now() + flags_.drain_timeout;
  std::map<std::string, std::shared_ptr<CallTally>> tallies;
  {
    std::lock_guard<std::mutex> lock(tallies_mu_);
    tallies = tallies_;
  }
  auto outstanding = [&] {
    size_t total = 0;
    for (const auto& [name, tally] : tallies) total += tally->outstanding();
    return total;
  };
  while (outstanding() != 0 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));  // polling a condition
    PeriodicChecks();                               // with a deadline
  }
  if (outstanding() == 0) return true;
  const auto now = SteadyClock::now();
  for (const auto& [name, tally] : tallies) {
    for (const std::string& call : tally->DescribeOutstanding(now)) {
      violations_.Add("call_lost",
                      call + absl::StrCat(" (not ended ",
                                          flags_.drain_timeout.count(),
                                          " ms after load stopped)"));
    }
  }
  return false;
}

void Soak::Watchdog(SteadyClock::time_point load_start) {
  // Every step after load has its own bound, but a call warm never ends
  // (sync calls on the load threads, or the main thread's in CheckRecovery
  // and CheckTlsRotated) would still hang the run with no summary. Past the
  // bound, say what is known and leave: the main thread's state is not ours
  // to read or tear down, so only thread-safe records are printed.
  const milliseconds bound = flags_.WatchdogBound();
  {
    std::unique_lock<std::mutex> lock(watchdog_mu_);
    if (watchdog_cv_.wait_until(lock, load_start + bound,
                                [&] { return watchdog_done_; })) {
      return;
    }
  }
  const auto now = SteadyClock::now();
  std::map<std::string, std::shared_ptr<CallTally>> tallies;
  {
    std::lock_guard<std::mutex> lock(tallies_mu_);
    tallies = tallies_;
  }
  uint64_t started = 0;
  std::vector<std::string> outstanding;
  for (const auto& [name, tally] : tallies) {
    started += tally->started();
    for (const std::string& call : tally->DescribeOutstanding(now)) {
      outstanding.push_back(call);
    }
  }
  std::ostringstream out;
  out << "=== warm_soak summary (watchdog) ===\n";
  out << "build: " << (SanitizerName()[0] ? SanitizerName() : "normal")
      << ", seed " << flags_.seed << ", duration " << flags_.duration.count()
      << " ms\n";
  out << "calls: " << started << " started, " << outstanding.size()
      << " outstanding\n";
  for (const std::string& call : outstanding) out << "  - " << call << "\n";
  out << "violations: " << violations_.count() << "\n";
  for (const std::string& detail : violations_.details()) {
    out << "  - " << detail << "\n";
  }
  RemoveTempFilesNow();
  out << "soak: FAILED: watchdog: the run has not ended " << bound.count()
      << " ms after load started (--watchdog; last steps in the log above); "
      << "replay: warm_soak " << flags_.ReplayArgs() << "\n";
  std::cout << out.str() << std::flush;
  if (!flags_.report.empty()) std::ofstream(flags_.report) << out.str();
  _exit(1);
}

void Soak::RemoveTempFilesNow() {
  // From the watchdog, with the main thread's objects still in use: only
  // what outlives the process. Child processes die with it (SIGKILL when
  // the thread that started them goes).
  for (const std::string& dir : temp_dirs_) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  for (const std::string& name : netns_names_) {
    const std::string command = "ip netns delete " + name + " 2>/dev/null";
    if (std::system(command.c_str()) != 0) {
    }
  }
}

void Soak::CleanUpBeforeExit() {
  // On the main thread, before an _exit() that skips the destructors:
  // children, namespaces and temporary directories go; in-process servers
  // and channels, which running calls may still use, stay.
  net_backends_.clear();  // servers before their namespaces
  backends_.clear();
  dns_.reset();
  cert_dir_.reset();
}

void Soak::CheckRecovery() {
  // With every fault healed, every channel must serve again: an OK call
  // within a generous bound (members reconnect with gRPC's backoff, up to
  // ~2 min in theory; warm replaces failed members faster). The bound is one
  // deadline for the whole phase, not one per channel: the channels recover
  // side by side from the same heal, and a broken recovery must still end
  // well inside the smoke test's ctest TIMEOUT. Past it each channel left
  // gets one try, so that it is named.
  std::vector<std::shared_ptr<ChannelEntry>> live;
  {
    std::lock_guard<std::mutex> lock(slots_mu_);
    for (const auto& entry : slots_) {
      if (entry != nullptr) live.push_back(entry);
    }
  }
  const milliseconds bound = flags_.RecoveryBound();
  const auto deadline = SteadyClock::now() + bound;
  for (const auto& entry : live) {
    if (entry->kind == ChannelKind::kDns && dns_recovery_skipped_) continue;
    grpc::Status status(grpc::StatusCode::UNKNOWN, "no call made");
    int attempts = 0;
    while (attempts == 0 ||
           (SteadyClock::now() < deadline && attempts < 2000)) {
      ++attempts;
      UnaryCall(entry, milliseconds(1000), false, &status);
      if (status.ok()) break;
      std::this_thread::sleep_for(milliseconds(50));  // pacing retries
    }
    if (!status.ok()) {
      violations_.Add("no_recovery",
                      absl::StrCat(entry->name, ": no OK call within ",
                                   bound.count(), " ms of healing (--recovery-timeout; ", attempts,
                                   " tries), last: ", status.error_code(), " ",
                                   status.error_message()));
      continue;
    }
    if (flags_.verbose) {
      log_.Line(absl::StrCat("recovered ", entry->name, " after ", attempts,
                             " tries"));
    }
    if (entry->kind == ChannelKind::kTls) CheckTlsRotated(entry, deadline);
  }
}

void Soak::CheckTlsRotated(const std::shared_ptr<ChannelEntry>& entry,
                           SteadyClock::time_point deadline) {
  // The client files are whole now, holding generation tls_generation_: the
  // backends must soon see calls with that certificate (warm reloads every
  // 300 ms and recycles its members onto the new material).
  const std::string cn = "soak-client-" + std::to_string(tls_generation_);
  for (const auto& backend : tls_backends_) backend->ResetCounts();
  int attempts = 0;
  std::map<std::string, int> seen;
  while (attempts == 0 ||
         (SteadyClock::now() < deadline && attempts < 2000)) {
    ++attempts;
    UnaryCall(entry, milliseconds(1000));
    seen.clear();
    for (const auto& backend : tls_backends_) {
      for (const auto& [name, count] : backend->calls_by_client_cn()) {
        seen[name] += count;
      }
    }
    if (seen.count(cn)) return;
    std::this_thread::sleep_for(milliseconds(50));  // pacing retries
  }
  std::vector<std::string> names;
  for (const auto& [name, count] : seen) {
    names.push_back(absl::StrCat(name.empty() ? "(none)" : name, " x", count));
  }
  violations_.Add("tls_not_rotated",
                  absl::StrCat(entry->name, ": no call with client "
                               "certificate ", cn, " by the recovery deadline "
                               "(--recovery-timeout=",
                               flags_.RecoveryBound().count(), " ms; ", attempts,
                               " calls; the backends saw ",
                               absl::StrJoin(names, ", "), ")"));
}

void Soak::PrintSummary(SteadyClock::duration wall) {
  std::ostringstream out;
  uint64_t started = 0;
  {
    std::lock_guard<std::mutex> lock(tallies_mu_);
    for (const auto& [name, tally] : tallies_) started += tally->started();
  }
  out << "=== warm_soak summary ===\n";
  out << "build: " << (SanitizerName()[0] ? SanitizerName() : "normal")
      << ", seed " << flags_.seed << ", duration " << flags_.duration.count()
      << " ms, wall " << std::chrono::duration_cast<milliseconds>(wall).count()
      << " ms\n";
  out << "channels: " << channels_created_ << " created; "
      << channels_destroyed_checked_ << " destroyed after their counts were "
      << "checked, " << channels_destroyed_in_flight_
      << " dropped with calls in flight, the rest at the end\n";
  out << "calls: " << started << " started";
  if (open_loop_skipped_.load() > 0) {
    out << " (" << open_loop_skipped_.load()
        << " open-loop ticks skipped at the outstanding cap)";
  }
  out << "\ncalls by status:\n";
  const auto by_code = outcomes_.by_code();
  const auto causes = outcomes_.causes(4);
  for (int code = 0; code < kCodes; ++code) {
    if (by_code[code] == 0) continue;
    out << "  " << CodeName(code) << ": " << by_code[code] << "\n";
    auto it = causes.find(code);
    if (it == causes.end()) continue;
    for (const auto& [cause, count] : it->second) {
      out << "      " << count << "  " << cause << "\n";
    }
  }
  out << "faults:";
  for (const auto& [kind, count] : faults_) out << " " << kind << "=" << count;
  out << "\nheals:";
  for (const auto& [kind, count] : heals_) out << " " << kind << "=" << count;
  out << "\n";
  for (const auto& [kind, reason] : skipped_kinds_) {
    out << "skipped: " << kind << ": " << reason << "\n";
  }
  out << "RSS: start " << rss_start_kb_ / 1024 << " MB, after warm-up "
      << rss_warm_kb_ / 1024 << " MB, max after warm-up " << rss_max_kb_ / 1024
      << " MB, end " << rss_end_kb_ / 1024 << " MB (bound: x"
      << flags_.rss_factor << " + " << flags_.rss_slack_mb << " MB)\n";
  out << "scrapes: " << scrapes_.load() << " (" << scrape_failures_.load()
      << " failed), counters compared " << counters_compared_.load() << "\n";
  out << "violations: " << violations_.count() << "\n";
  for (const auto& [kind, count] : violations_.by_kind()) {
    out << "  " << kind << ": " << count << "\n";
  }
  for (const std::string& detail : violations_.details()) {
    out << "  - " << detail << "\n";
  }
  if (g_interrupted.load()) {
    out << "soak: FAILED: interrupted after "
        << std::chrono::duration_cast<milliseconds>(wall).count()
        << " ms (a run cut short proves nothing), " << violations_.count()
        << " violations; replay: warm_soak " << flags_.ReplayArgs() << "\n";
  } else if (violations_.count() == 0) {
    out << "soak: PASSED\n";
  } else {
    out << "soak: FAILED with " << violations_.count()
        << " violations; replay: warm_soak " << flags_.ReplayArgs() << "\n";
  }
  std::cout << out.str() << std::flush;
  if (!flags_.report.empty()) {
    std::ofstream report(flags_.report);
    report << out.str();
    if (!report) {
      std::cerr << "warm_soak: cannot write --report=" << flags_.report << "\n";
    }
  }
}

// --- Run ------------------------------------------------------------------------

int Soak::Run() {
  const auto wall_start = SteadyClock::now();
  rss_start_kb_ = RssKb();
  log_.Line(absl::StrCat("warm_soak ", flags_.ReplayArgs(), " (build: ",
                         SanitizerName()[0] ? SanitizerName() : "normal",
                         ", deadline slack ", flags_.deadline_slack.count(),
                         " ms)"));
  if (!StartBackends() || !StartDns() || !StartTls()) return 2;
  StartNetns();
  auto server = DiagnosticsServer::Start("127.0.0.1:0");
  if (!server.ok()) {
    std::cerr << "warm_soak: diagnostics server: " << server.status() << "\n";
    return 2;
  }
  diagnostics_ = *std::move(server);
  log_.Line("setup: diagnostics at " + diagnostics_->url());

  // Channel slots: kinds in turn, as many as --channels.
  std::vector<ChannelKind> available = {ChannelKind::kStatic};
  if (dns_ != nullptr) available.push_back(ChannelKind::kDns);
  if (!tls_backends_.empty()) available.push_back(ChannelKind::kTls);
  if (!net_backends_.empty()) available.push_back(ChannelKind::kNetns);
  for (int i = 0; i < flags_.channels; ++i) {
    kinds_.push_back(available[i % available.size()]);
  }
  {
    std::vector<std::shared_ptr<ChannelEntry>> fresh;
    for (ChannelKind kind : kinds_) fresh.push_back(NewChannel(kind));
    std::lock_guard<std::mutex> lock(slots_mu_);
    slots_ = std::move(fresh);
  }

  std::vector<std::thread> threads;
  for (int i = 0; i < flags_.closed_loop_threads; ++i) {
    threads.emplace_back([this, i] { ClosedLoop(i); });
  }
  threads.emplace_back([this] { OpenLoop(); });
  std::thread scraper([this] { Scraper(); });

  if (cert_dir_) temp_dirs_.push_back(cert_dir_->path());
  if (dns_ != nullptr) temp_dirs_.push_back(dns_->dir());
  for (NetBackend& net : net_backends_) {
    netns_names_.push_back(net.host->name());
    temp_dirs_.push_back(net.server->process().dir());
  }
  const auto start = SteadyClock::now();
  std::thread watchdog([this, start] { Watchdog(start); });
  const auto warm_at = start + flags_.warmup;
  const auto end = start + flags_.duration;
  ScheduleNextFault();
  auto next_check = start;
  auto next_status = start + flags_.status_interval;
  while (SteadyClock::now() < end && !g_interrupted.load()) {
    const auto now = SteadyClock::now();
    if (rss_warm_kb_ == 0 && now >= warm_at) {
      rss_warm_kb_ = RssKb();
      rss_max_kb_ = rss_warm_kb_;
      log_.Line(absl::StrCat("warm-up over: RSS ", rss_warm_kb_ / 1024, " MB"));
    }
    if (now >= next_status) {
      // Progress, for long runs: the RSS trend and calls so far.
      uint64_t started = 0;
      size_t outstanding = 0;
      {
        std::lock_guard<std::mutex> lock(tallies_mu_);
        for (const auto& [name, tally] : tallies_) {
          started += tally->started();
          outstanding += tally->outstanding();
        }
      }
      const struct mallinfo2 heap = mallinfo2();
      log_.Line(absl::StrCat(
          "status: ", started, " calls, ", outstanding, " outstanding, RSS ",
          RssKb() / 1024, " MB (malloc in use ", heap.uordblks >> 20,
          " MB, arenas ", heap.arena >> 20, " MB), ", ProcCount("task"),
          " threads, ", ProcCount("fd"), " fds, ", violations_.count(),
          " violations"));
      next_status = now + flags_.status_interval;
    }
    if (now >= next_check) {
      PeriodicChecks();
      CheckRetiring(false);
      next_check = now + milliseconds(500);
    }
    if (!schedule_.empty() && schedule_.top().at <= now) {
      Scheduled next = schedule_.top();
      schedule_.pop();
      next.run();
      continue;
    }
    auto wake = std::min(end, next_check);
    if (!schedule_.empty()) wake = std::min(wake, schedule_.top().at);
    std::this_thread::sleep_until(std::min(wake, now + milliseconds(100)));
  }
  if (g_interrupted.load()) log_.Line("interrupted: stopping early");
  if (rss_warm_kb_ == 0) rss_warm_kb_ = rss_max_kb_ = RssKb();

  log_.Line("load stops; healing every fault");
  HealEverything();
  stop_load_.store(true);
  // Drain before joining: Begin/End count the closed-loop threads' sync
  // calls too, so a call warm lost is reported here, where joining its
  // thread would hang for ever. Joined, a thread may still have started one
  // last call between its look at stop_load_ and the drain: drain again.
  bool drained = Drain();
  if (drained) {
    for (std::thread& thread : threads) thread.join();
    drained = Drain();
  }
  log_.Line(drained ? "drained: every call ended" : "drain FAILED");
  if (drained) {
    RefillSlots();
    CheckRecovery();
  }
  {
    std::lock_guard<std::mutex> lock(scraper_mu_);
    stop_scraper_.store(true);
  }
  scraper_cv_.notify_all();
  scraper.join();
  CheckRss("end");
  CheckHelperFailures();

  if (!drained) {
    // Calls still running hold channels and callbacks into this object
    // (and the load threads making them are not joined): nothing can be
    // torn down safely. Report and leave.
    CleanUpBeforeExit();
    PrintSummary(SteadyClock::now() - wall_start);
    std::cout.flush();
    _exit(1);
  }

  // Quiet now: every channel's counts must agree exactly.
  CheckRetiring(true);
  {
    std::vector<std::shared_ptr<ChannelEntry>> live;
    {
      std::lock_guard<std::mutex> lock(slots_mu_);
      for (const auto& entry : slots_) {
        if (entry != nullptr) live.push_back(entry);
      }
    }
    CheckQuiescent(live, "end");
  }
  {
    std::lock_guard<std::mutex> lock(slots_mu_);
    slots_.clear();
  }
  retiring_.clear();
  // Every channel destroyed (a callback may still be dropping the last one).
  const auto gone_by = SteadyClock::now() + flags_.drain_timeout;
  while (live_entries_.load() != 0 && SteadyClock::now() < gone_by) {
    std::this_thread::sleep_for(milliseconds(10));  // polling with a deadline
  }
  if (live_entries_.load() != 0) {
    violations_.Add("channel_not_destroyed",
                    absl::StrCat(live_entries_.load(),
                                 " channels still alive after every call "
                                 "ended and every reference was dropped"));
    CleanUpBeforeExit();
    PrintSummary(SteadyClock::now() - wall_start);
    std::cout.flush();
    _exit(1);
  }
  const std::string remaining = HandleDiagnosticsRequest("/channels.json").body;
  auto after = ParseSnapshotJson(remaining);
  if (after.ok() && after->channels_size() != 0) {
    violations_.Add("channel_not_destroyed",
                    absl::StrCat(after->channels_size(),
                                 " channels still registered after all were "
                                 "destroyed"));
  }

  diagnostics_.reset();
  net_backends_.clear();  // servers before their namespaces (NetBackend order)
  tls_backends_.clear();
  backends_.clear();
  dns_.reset();
  cert_dir_.reset();
  CheckHelperFailures();
  {
    std::lock_guard<std::mutex> lock(watchdog_mu_);
    watchdog_done_ = true;
  }
  watchdog_cv_.notify_all();
  watchdog.join();
  PrintSummary(SteadyClock::now() - wall_start);
  return violations_.count() == 0 && !g_interrupted.load() ? 0 : 1;
}

}  // namespace
}  // namespace soak
}  // namespace warm

int main(int argc, char** argv) {
  warm::soak::SoakFlags flags = warm::soak::ParseSoakFlags(argc, argv);
  signal(SIGINT, warm::soak::OnSignal);
  signal(SIGTERM, warm::soak::OnSignal);
  int rc;
  {
    warm::soak::Soak soak(std::move(flags));
    rc = soak.Run();
  }
  return rc;
}
