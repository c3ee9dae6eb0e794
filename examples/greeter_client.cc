// The demo client: a warm channel under load, printing how calls spread.
//
//   greeter_client [--target T] [--pool_size N] [--threads N] [--seconds N]
//                  [--check_interval_ms N] [--diagnostics HOST:PORT]
//
// Runs --threads closed-loop callers (each sends the next call when the last
// returns) through one warm channel for --seconds, and once a second prints
// the channel's health, the calls each backend answered, and each member's
// state, health and calls in flight; warm's events (member unhealthy,
// evicted, ...) are printed as they happen. Defaults: target
// ipv4:127.0.0.1:50051,127.0.0.2:50051,127.0.0.3:50051, pool_size 3, threads 8,
// seconds 10, check_interval_ms 1000 (the library's default is 5000; the demo
// checks more often so that changes show within its run).
//
// With --diagnostics it serves warm's diagnostics page, JSON and Prometheus
// metrics on that address (e.g. 127.0.0.1:8080) and prints the URL; when run
// from a terminal it keeps serving them after the load ends until Enter.

#include <unistd.h>
#include <warm/channel.h>
#include <warm/diagnostics.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "warm/example/greeter.grpc.pb.h"

namespace {

struct Flags {
  std::string target = "ipv4:127.0.0.1:50051,127.0.0.2:50051,127.0.0.3:50051";
  int pool_size = 3;
  int threads = 8;
  int seconds = 10;
  int check_interval_ms = 1000;
  std::string diagnostics;  // "" = no diagnostics server
};

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return false;
    const char* value = argv[++i];
    if (flag == "--target") {
      flags.target = value;
    } else if (flag == "--pool_size") {
      flags.pool_size = std::atoi(value);
    } else if (flag == "--threads") {
      flags.threads = std::atoi(value);
    } else if (flag == "--seconds") {
      flags.seconds = std::atoi(value);
    } else if (flag == "--check_interval_ms") {
      flags.check_interval_ms = std::atoi(value);
    } else if (flag == "--diagnostics") {
      flags.diagnostics = value;
    } else {
      return false;
    }
  }
  return flags.threads > 0 && flags.seconds > 0 && flags.seconds <= 3600;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    std::cerr << "usage: greeter_client [--target T] [--pool_size N] "
                 "[--threads N] [--seconds 1..3600] "
                 "[--check_interval_ms N] [--diagnostics HOST:PORT]\n";
    return 2;
  }

  std::unique_ptr<warm::DiagnosticsServer> diagnostics;
  if (!flags.diagnostics.empty()) {
    auto server = warm::DiagnosticsServer::Start(flags.diagnostics);
    if (server.status().code() == absl::StatusCode::kUnavailable) {
      // The port is taken (another demo?): any free one will do.
      std::cerr << "greeter_client: " << server.status()
                << "; using a free port instead\n";
      server = warm::DiagnosticsServer::Start("127.0.0.1:0");
    }
    if (!server.ok()) {
      std::cerr << "greeter_client: " << server.status() << "\n";
      return 1;
    }
    diagnostics = *std::move(server);
    std::cout << "diagnostics page: " << diagnostics->url()
              << "  (metrics: " << diagnostics->url() << "metrics)"
              << std::endl;
  }

  warm::ChannelOptions options;
  options.name = "greeter";
  options.pool_size = flags.pool_size;
  options.health_check.interval =
      std::chrono::milliseconds(flags.check_interval_ms);
  // Print every pool event, not only warnings.
  warm::SetLogSink([](warm::LogSeverity, absl::string_view line) {
    std::cout << "  ! " << line << "\n";
  });
  auto channel = warm::CreateChannel(
      flags.target, grpc::InsecureChannelCredentials(), std::move(options));
  if (!channel.ok()) {
    std::cerr << "greeter_client: " << channel.status() << "\n";
    return 1;
  }
  std::cout << "warm channel \"" << (*channel)->name() << "\" to "
            << flags.target << ", " << flags.pool_size << " members\n";
  if (!(*channel)->WaitForConnected(std::chrono::system_clock::now() +
                                    std::chrono::seconds(10))) {
    std::cerr << "greeter_client: no backend became READY within 10 s\n";
    return 1;
  }
  auto stub = warm::example::Greeter::NewStub(*channel);

  std::mutex mu;
  std::map<std::string, uint64_t> by_backend;  // guarded by mu
  std::atomic<uint64_t> ok{0}, failed{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> callers;
  for (int t = 0; t < flags.threads; ++t) {
    callers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(5));
        warm::example::HelloRequest request;
        request.set_name("demo");
        warm::example::HelloReply reply;
        grpc::Status status = stub->SayHello(&context, request, &reply);
        if (status.ok()) {
          ok++;
          std::lock_guard<std::mutex> lock(mu);
          by_backend[reply.backend()]++;
        } else {
          failed++;
        }
      }
    });
  }

  for (int second = 1; second <= flags.seconds; ++second) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::map<std::string, uint64_t> snapshot;
    {
      std::lock_guard<std::mutex> lock(mu);
      snapshot.swap(by_backend);
    }
    uint64_t total = 0;
    for (const auto& [backend, n] : snapshot) total += n;
    std::cout << "\n[" << second << "s] " << total << " calls/s ("
              << failed.load() << " failed so far)\n";
    for (const auto& [backend, n] : snapshot) {
      std::cout << "  backend " << std::setw(18) << std::left << backend
                << std::right << std::setw(7) << n << " calls  " << std::fixed
                << std::setprecision(1) << (total ? 100.0 * n / total : 0.0)
                << "%\n";
    }
    const warm::ChannelHealth health = (*channel)->Health();
    std::cout << "  channel " << warm::ChannelStatusName(health.status) << ": "
              << health.healthy_members << " of " << health.members
              << " members healthy\n";
    for (const warm::MemberInfo& m : (*channel)->Members()) {
      std::cout << "  member " << std::setw(2) << m.id << " " << std::setw(18)
                << std::left << m.address << std::right << " " << std::setw(17)
                << warm::ConnectivityStateName(m.state) << "  " << std::setw(9)
                << std::left << warm::MemberHealthName(m.health) << std::right
                << (m.pickable ? "  pickable" : "          ") << "  in flight "
                << m.in_flight << "\n";
    }
  }
  stop = true;
  for (std::thread& t : callers) t.join();
  std::cout << "\ndone: " << ok.load() << " calls ok, " << failed.load()
            << " failed\n";
  if (diagnostics != nullptr && isatty(STDIN_FILENO)) {
    std::cout << "diagnostics page still at " << diagnostics->url()
              << "; press Enter to stop\n";
    std::string line;
    std::getline(std::cin, line);
  }
  return failed.load() == 0 ? 0 : 1;
}
