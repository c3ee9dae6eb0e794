// The demo client: a warm channel under load, printing how calls spread.
//
//   greeter_client [--target T] [--pool_size N] [--threads N] [--seconds N]
//
// Runs --threads closed-loop callers (each sends the next call when the last
// returns) through one warm channel for --seconds, and once a second prints
// the calls each backend answered and each member's state and calls in
// flight. Defaults: target
// ipv4:127.0.0.1:50051,127.0.0.2:50051,127.0.0.3:50051, pool_size 3, threads 8,
// seconds 10.

#include <warm/channel.h>

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
    } else {
      return false;
    }
  }
  return flags.threads > 0 && flags.seconds > 0 && flags.seconds <= 3600;
}

const char* StateName(grpc_connectivity_state state) {
  switch (state) {
    case GRPC_CHANNEL_IDLE:
      return "IDLE";
    case GRPC_CHANNEL_CONNECTING:
      return "CONNECTING";
    case GRPC_CHANNEL_READY:
      return "READY";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "TRANSIENT_FAILURE";
    case GRPC_CHANNEL_SHUTDOWN:
      return "SHUTDOWN";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    std::cerr << "usage: greeter_client [--target T] [--pool_size N] "
                 "[--threads N] [--seconds 1..3600]\n";
    return 2;
  }

  warm::ChannelOptions options;
  options.name = "greeter";
  options.pool_size = flags.pool_size;
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
    for (const warm::MemberInfo& m : (*channel)->Members()) {
      std::cout << "  member " << m.id << " " << std::setw(18) << std::left
                << m.address << std::right << " " << std::setw(17)
                << StateName(m.state) << "  in flight " << m.in_flight << "\n";
    }
  }
  stop = true;
  for (std::thread& t : callers) t.join();
  std::cout << "\ndone: " << ok.load() << " calls ok, " << failed.load()
            << " failed\n";
  return failed.load() == 0 ? 0 : 1;
}
